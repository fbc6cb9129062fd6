"""In-process presign throughput of the Azure signer, against a private Azurite.

Run from the project root after ``npm install --no-audit --no-fund``:
``.venv/bin/python bench/presign_azure.py [--requests N] [--json FILE]``.

It starts Azurite on a free loopback port, configures the project exactly as ``make run``
does with ``UPLOADS_STORAGE=azure`` and ``AZURE_CONNECTION_STRING`` (through
config/storage_env/azure.py, on bench.settings), checks that one signed upload really goes
through (PUT to Azurite, then complete), and then times, in one process and thread:

- ``signer``: N calls of ``AzureSigner.presign_upload`` (the SAS alone: no I/O);
- ``bare``: N POSTs to bench/bare through Django's test client (the framework's floor:
  JWT auth, parser, renderer);
- ``api``: N POSTs to /api/v1/uploads/presign through Django's test client (auth, rate
  limit, policy, signing and the Upload insert, on SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.backends.azure import (
    AZURITE,
    CONTAINER,
    AzureBackend,
    _wait_until_listening,
    connection_string,
)
from tests.live import free_port


@contextmanager
def azurite() -> Iterator[AzureBackend]:
    if not AZURITE.exists():
        raise SystemExit(f"{AZURITE} is missing: run npm install --no-audit --no-fund in {ROOT}")
    workdir = Path(tempfile.mkdtemp(prefix="azurite-bench-"))
    port = free_port()
    log = workdir / "azurite.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(AZURITE),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--inMemoryPersistence",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(port, process, log)
        backend = AzureBackend(port)
        backend.service.create_container(CONTAINER)
        yield backend
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def timed(n: int, call: Callable[[int], object]) -> dict[str, float]:
    samples = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    samples.sort()
    return {
        "n": n,
        "per_second": round(n / total, 1),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3),
        "p50_ms": round(samples[len(samples) // 2] * 1000, 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="bench-azure-"))
    with azurite() as backend:
        os.environ |= {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",  # the SDK logs every request at INFO
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "UPLOADS_STORAGE": "azure",
            "AZURE_CONNECTION_STRING": connection_string(backend.port),
            "AZURE_CONTAINER": CONTAINER,
        }
        import django
        import requests

        django.setup()
        from django.core.management import call_command
        from django.utils import timezone
        from rest_framework.test import APIClient
        from rest_framework_simplejwt.tokens import RefreshToken

        from accounts.demo import png_bytes
        from uploads.signers import UploadSpec, get_signer
        from uploads.signers.azure import AzureSigner

        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model

        user = get_user_model()(username="bench")  # a JWT is all it needs
        user.save()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        png = png_bytes(8, 8)
        body = {"type": "avatar", "contentType": "image/png", "size": len(png), "fileName": "b.png"}

        signer = get_signer("default")
        assert isinstance(signer, AzureSigner), type(signer)

        # One real round trip first: a figure for a URL that does not work is worthless.
        answer = client.post("/api/v1/uploads/presign", body, format="json").json()["data"]
        put = requests.put(answer["uploadUrl"], data=png, headers=answer["headers"], timeout=10)
        assert put.status_code == 201, put.text
        done = client.post(f"/api/v1/uploads/{answer['id']}/complete")
        assert done.status_code == 200, done.content

        spec = UploadSpec(
            key="avatars/1/bench.png",
            content_type="image/png",
            expires_at=timezone.now() + timedelta(minutes=5),
            max_size=len(png),
            size=len(png),
        )
        n = args.requests

        def api_presign(_: int) -> None:
            response = client.post("/api/v1/uploads/presign", body, format="json")
            assert response.status_code == 201, response.content

        def bare(_: int) -> None:
            response = client.post("/bench/bare", body, format="json")
            assert response.status_code == 200, response.content

        results: dict[str, Any] = {
            "signer": timed(n, lambda i: signer.presign_upload(spec)),
            "bare": timed(n, bare),
            "api": timed(n, api_presign),
        }
        results["api_over_bare"] = round(
            results["api"]["per_second"] / results["bare"]["per_second"], 3
        )
        results["python"] = sys.version.split()[0]

    shutil.rmtree(var_dir, ignore_errors=True)
    for name in ("signer", "bare", "api"):
        r = results[name]
        print(
            f"{name:>6}: {r['per_second']:>9.1f}/s  mean {r['mean_ms']:.3f} ms  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  (n={r['n']})"
        )
    print(f"api/bare throughput ratio: {results['api_over_bare']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
