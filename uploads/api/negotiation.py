"""DRF's content negotiation, answered without parsing media types in the common case."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

JSON = "application/json"


class JSONFirstNegotiation(DefaultContentNegotiation):
    """DRF's DefaultContentNegotiation, which parses the Accept and Content-Type headers and
    each parser's and renderer's media type into objects on every request. Where the answer
    is plain it is given at once: a JSON body goes to a first parser for JSON; no Accept
    header (or ``*/*`` or ``application/json``), with no ``?format=`` nor format suffix, gets
    a first renderer for JSON. Everything else is DRF's (tests/test_api.py compares them)."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> Any:
        first = next(iter(parsers), None)
        if first is not None and first.media_type == JSON and request.content_type == JSON:
            return first
        return super().select_parser(request, parsers)

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        first, meta = next(iter(renderers), None), request._request.META
        if (
            first is not None
            and first.media_type == JSON
            and meta.get("HTTP_ACCEPT", "*/*") in ("*/*", JSON)
            and not meta.get("QUERY_STRING")
            and not format_suffix
        ):
            return first, JSON
        return super().select_renderer(request, renderers, format_suffix)  # type: ignore[no-any-return]
