"""A check for schemathesis (SCHEMATHESIS_HOOKS=tests.schemathesis_hooks): where
tests/schemathesis.toml lets a schema-valid request be refused with 400, the refusal must be
one the schema cannot express, never the body's own validation."""

from __future__ import annotations

import json
from typing import Any

import schemathesis

#: The codes of presign's policy rules (uploads.exceptions), by the type it names.
POLICY_CODES = {
    "upload.invalid_type",
    "upload.invalid_content_type",
    "upload.invalid_size",
    "upload.too_large",
    "upload.invalid_checksum",
    "upload.multipart_unsupported",
}


@schemathesis.check
def refusals_the_schema_cannot_express(ctx: Any, response: Any, case: Any) -> None:
    meta = case.meta
    if response.status_code != 400 or meta is None or not meta.generation.mode.is_positive:
        return
    error = json.loads(response.content)["error"]
    path = case.operation.path
    if path.endswith("/presign"):
        assert error["code"] in POLICY_CODES, f"presign refused a schema-valid body: {error}"
    elif path.endswith("/parts"):
        codes = {detail["code"] for detail in error["details"]}
        assert codes == {"out_of_range"}, f"parts refused a schema-valid body: {error}"
