"""Every response carries X-Request-ID: the client's when it is sane, a new one otherwise."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
current_request_id: ContextVar[str] = ContextVar("uploads_request_id", default="-")


def request_id_of(request: HttpRequest) -> str:
    """The request's id, made on first use when the middleware is not installed."""
    rid = getattr(request, "request_id", None)
    if rid is None:
        sent = request.headers.get("X-Request-ID", "")
        rid = sent if SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
    return rid


class RequestIDMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_of(request)
        token = current_request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = rid
        return response


class RequestIDLogFilter(logging.Filter):
    """Adds ``request_id`` to log records, for a format such as ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True
