"""What the presign benchmarks of the storage signers share (bench/presign_s3.py,
presign_azure.py, presign_gcs.py): the command line, a fresh project on bench.settings, a
signed-in test client, one real upload proving that the URLs work, the timing loop and the
report. Each provider's file starts its emulator, names its environment and times its signer.

Everything runs in one process and thread, through Django's test client (no HTTP to the
project): ``bare`` is N POSTs to bench/bare (the framework's floor: JWT auth, parser,
renderer), ``api`` N POSTs to /api/v1/uploads/presign (auth, rate limit, policy, signing
and the Upload insert, on a private SQLite file with the in-process cache).
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import BARE_PATH, PNG, PRESIGN_BODY, PRESIGN_PATH  # noqa: E402

__all__ = ["BARE_PATH", "PNG", "PRESIGN_BODY", "PRESIGN_PATH"]


def arguments(doc: str, default_requests: int) -> argparse.Namespace:
    """The command line every presign benchmark takes: ``-n/--requests`` and ``--json``."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-n", "--requests", type=int, default=default_requests, help="calls per timing"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args()


@contextmanager
def project(**env: str) -> Iterator[Path]:
    """bench.settings on a private VAR_DIR (SQLite database, in-process cache), with ``env``
    added to the environment, Django set up and migrated; the directory goes afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-presign-") as var_dir:
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "VAR_DIR": var_dir,
                "DJANGO_ALLOWED_HOSTS": "testserver",
                "LOG_LEVEL": "WARNING",  # the storage SDKs log every request at INFO
                **env,
            }
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield Path(var_dir)


def signed_in_client(username: str = "bench") -> Any:
    """A test client with a JWT for a new user (a token is all the API needs)."""
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    user = get_user_model().objects.create(username=username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def upload_spec(i: int, **extra: Any) -> Any:
    """The UploadSpec of the i-th signing: an avatar PNG, expiring in five minutes."""
    from django.utils import timezone

    from uploads.signers import UploadSpec

    return UploadSpec(
        key=f"avatars/1/{i}.png",
        content_type="image/png",
        expires_at=timezone.now() + timedelta(minutes=5),
        max_size=5 * 1024 * 1024,
        size=len(PNG),
        metadata={"upload-id": f"{i:032x}", "owner": "1"},
        **extra,
    )


def prove_one_upload(client: Any) -> None:
    """Presign, PUT the bytes to the storage as a client would, then complete: a figure for
    a URL that does not work is worthless."""
    response = client.post(PRESIGN_PATH, PRESIGN_BODY, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()["data"]
    sent = requests.request(
        answer["method"], answer["uploadUrl"], data=PNG, headers=answer["headers"], timeout=10
    )
    assert sent.status_code in (200, 201), sent.text
    done = client.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert done.status_code == 200, done.content


def timed(n: int, call: Callable[[int], object]) -> dict[str, float]:
    """Call ``call(i)`` for i in range(n), after one untimed warm-up call: throughput and
    per-call latencies."""
    call(n)
    samples = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - t0) * 1000)
    total = time.perf_counter() - started
    samples.sort()
    return {
        "n": n,
        "per_second": round(n / total, 1),
        "mean_ms": round(statistics.fmean(samples), 3),
        "p50_ms": round(samples[len(samples) // 2], 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
    }


def poster(client: Any, path: str, status: int) -> Callable[[int], None]:
    """A call for ``timed``: POST the presign body to ``path``, expecting ``status``."""

    def call(_: int) -> None:
        response = client.post(path, PRESIGN_BODY, format="json")
        assert response.status_code == status, response.content

    return call


def time_api(client: Any, n: int) -> dict[str, Any]:
    """``bare`` and ``api`` (see above), and api's share of bare's throughput."""
    bare = timed(n, poster(client, BARE_PATH, 200))
    api = timed(n, poster(client, PRESIGN_PATH, 201))
    return {
        "bare": bare,
        "api": api,
        "api_over_bare": round(api["per_second"] / bare["per_second"], 3),
    }


def measure(n: int, **signings: dict[str, Any]) -> dict[str, Any]:
    """Prove one upload through the default storage, then time its signer (N calls of
    ``presign_upload`` per entry of ``signings``, a name and its UploadSpec options; by
    default one, ``signer``), then ``bare`` and ``api``."""
    from uploads.signers import get_signer

    signer = get_signer("default")
    client = signed_in_client()
    prove_one_upload(client)
    results: dict[str, Any] = {"signer_class": type(signer).__name__}
    for name, options in (signings or {"signer": {}}).items():

        def sign(i: int, options: dict[str, Any] = options) -> object:
            return signer.presign_upload(upload_spec(i, **options))

        results[name] = timed(n, sign)
    return results | time_api(client, n)


def report(results: dict[str, Any], json_path: Path | None) -> None:
    """Print one line per timing, then the other figures; write them all to ``json_path``."""
    results["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    for name, value in results.items():
        if isinstance(value, dict) and "per_second" in value:
            print(
                f"{name:>20}: {value['per_second']:>9.1f}/s  mean {value['mean_ms']:.3f} ms"
                f"  p50 {value['p50_ms']:.3f} ms  p99 {value['p99_ms']:.3f} ms  (n={value['n']})"
            )
        else:
            print(f"{name:>20}: {value}")
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
