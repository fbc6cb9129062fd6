"""Schemathesis against the project served for real, as the demo user, with every check it
has: generated requests for every operation of /api/v1/schema, valid and invalid, bounded in
examples and time, and sequences of calls it links by the ids answers carry (the stateful
phase), find no 5xx, no undocumented status, no answer off its documented schema
or content type, no schema-valid body refused and no invalid one accepted. What a schema
cannot say (presign's live policy rules, parts past an upload's part count) is in
tests/schemathesis.toml, and tests/schemathesis_hooks.py checks those refusals are only that."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.live import demo_site

TESTS = Path(__file__).resolve().parent
#: Examples per operation and the time bound; a deeper run than CI's:
#: UPLOADS_FUZZ_EXAMPLES=300 UPLOADS_FUZZ_SECONDS=600 pytest tests/test_schemathesis.py
EXAMPLES = int(os.environ.get("UPLOADS_FUZZ_EXAMPLES", "10"))
SECONDS = int(os.environ.get("UPLOADS_FUZZ_SECONDS", "25"))


def test_generated_requests_find_no_server_error_and_no_schema_violation(
    tmp_path: Path,
) -> None:
    # A presign limit the run cannot reach, so that presign's own logic is what gets fuzzed.
    with demo_site(tmp_path, UPLOADS_RATE_LIMIT="10000/m") as site:
        token = site.shown("Access token")
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(TESTS / "schemathesis.toml"),
                "run",
                f"{site.base}/api/v1/schema?format=json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--mode",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(EXAMPLES),
                "--max-time",
                str(SECONDS),
                "--seed",
                "1",
                "--no-shrink",
                # One worker: with two threads, hypothesis's ast.parse of its filters races on
                # Python 3.11 ("SystemError: AST constructor recursion depth mismatch").
                "--workers",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=SECONDS + 60,  # past --max-time: the run finishes its last cases
            cwd=tmp_path,  # its own state directory (.schemathesis) stays out of the repo
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
                "PYTHONPATH": str(TESTS.parent),
            },
        )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "20 selected / 20 total" in result.stdout
