"""JSON bodies, refused in the envelope when they cannot be read."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding  # type: ignore[attr-defined]
from rest_framework.utils.json import strict_constant


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested deeper than Python can decode is a 400 like any
    malformed one, not a 500. A body that decodes and parses at once is parsed directly,
    without DRF's stream reader; any other is left to DRF, for its exact error."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = stream.read()
        try:
            text = raw.decode(get_encoding(parser_context or {}))
            return json.loads(text, parse_constant=strict_constant if self.strict else None)
        except (ValueError, RecursionError):
            pass
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as err:
            raise ParseError("JSON parse error - the body is nested too deeply.") from err
