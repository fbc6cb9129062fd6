"""JSON answers, rendered as DRF renders them."""

from __future__ import annotations

from collections.abc import Mapping
from json import JSONEncoder
from typing import Any

from rest_framework import renderers

JSON = "application/json"
# rest_framework.compat's, as DRF's renderer picks them.
SHORT_SEPARATORS = (",", ":")
LONG_SEPARATORS = (", ", ": ")


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSONRenderer, whose json.dumps builds an encoder for every answer: the encoder
    of its usual answer (no indent asked for, in the Accept header or the context) is made
    once. Any other answer is DRF's own."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if (
            data is None
            or accepted_media_type != JSON
            or (renderer_context or {}).get("indent") is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)  # type: ignore[no-any-return]
        text = self._encoder().encode(data)
        # As DRF does: JSON that is also a strict subset of JavaScript.
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()

    def _encoder(self) -> JSONEncoder:
        # What json.dumps(cls=self.encoder_class, ...) builds in DRF's render, once per
        # class (an encoder keeps no state between encode() calls).
        encoder = _encoders.get(type(self))
        if encoder is None:
            encoder = _encoders[type(self)] = self.encoder_class(
                ensure_ascii=self.ensure_ascii,
                allow_nan=not self.strict,
                separators=SHORT_SEPARATORS if self.compact else LONG_SEPARATORS,
            )
        return encoder


_encoders: dict[type[JSONRenderer], JSONEncoder] = {}
