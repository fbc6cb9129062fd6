"""Schemathesis against the project served for real, as the demo user: generated requests
for every operation of /api/v1/schema, bounded in examples and time, find no 5xx, no
undocumented status and no answer off its documented schema or content type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.live import demo_site

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


def test_generated_requests_find_no_server_error_and_no_schema_violation(
    tmp_path: Path,
) -> None:
    # A presign limit the run cannot reach, so that presign's own logic is what gets fuzzed.
    with demo_site(tmp_path, UPLOADS_RATE_LIMIT="10000/m") as site:
        token = site.shown("Access token")
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{site.base}/api/v1/schema?format=json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--mode",
                "positive",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "10",
                "--max-time",
                "25",
                "--seed",
                "1",
                "--no-shrink",
                "--workers",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=50,
            cwd=tmp_path,  # its own state directory (.schemathesis) stays out of the repo
        )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "20 selected / 20 total" in result.stdout
