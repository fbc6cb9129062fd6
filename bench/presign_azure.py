"""In-process presign throughput of the Azure signer, against a private Azurite.

Run from the project root after ``npm install --no-audit --no-fund``:
``.venv/bin/python bench/presign_azure.py [--requests N] [--json FILE]``.

It starts Azurite on a free loopback port, configures the project exactly as ``make run``
does with ``UPLOADS_STORAGE=azure`` and ``AZURE_CONNECTION_STRING`` (through
config/storage_env/azure.py, on bench.settings), checks that one signed upload really goes
through (PUT to Azurite, then complete), and then times N calls of
``AzureSigner.presign_upload`` (the SAS alone: no I/O), then ``bare`` and ``api``
(bench/presign_harness.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import presign_harness as harness  # noqa: E402
from tests.backends.azure import AZURITE, CONTAINER, azurite, connection_string  # noqa: E402


def main() -> None:
    args = harness.arguments(__doc__, default_requests=2000)
    if not AZURITE.exists():
        sys.exit(f"{AZURITE} is missing: run npm install --no-audit --no-fund")
    with (
        azurite("--silent") as backend,
        harness.project(
            UPLOADS_STORAGE="azure",
            AZURE_CONNECTION_STRING=connection_string(backend.port),
            AZURE_CONTAINER=CONTAINER,
        ),
    ):
        results = harness.measure(args.requests)
    assert results["signer_class"] == "AzureSigner", results["signer_class"]
    harness.report(results, args.json)


if __name__ == "__main__":
    main()
