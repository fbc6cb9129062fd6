"""A real ClamAV daemon for the tests and the bench: Debian's clamd in the foreground, with
a config of its own (its socket and database in a fresh directory) and a signature database
written here, so nothing is downloaded. It finds ``MARKER`` anywhere in a file."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.live import start_process, stop_process
from tests.requirements import missing

#: Bytes no real file carries; a body signature (.ndb) makes clamd report them anywhere.
MARKER = b"UPLOADS-TEST-MALWARE-MARKER-7c1e39"
#: The signature's name, as clamd reports it (a database it did not sign is UNOFFICIAL).
FOUND = "Uploads.Test.Marker.UNOFFICIAL"
CLAMD = "/usr/sbin/clamd"


def clamd_binary() -> str:
    """Debian's clamd, or a skip naming the package."""
    found = shutil.which("clamd") or (CLAMD if Path(CLAMD).exists() else None)
    if found is None:
        missing("clamd is missing (apt-get install clamav-daemon)")
    return found


class Clamd:
    """clamd on a unix socket in a directory of its own; ``stop()`` and ``start()`` as
    often as a test needs (each start waits until it answers PING)."""

    def __init__(self, binary: str, stream_max: str = "1M") -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="clamd-"))  # short: a socket path's limit
        self.socket = self.dir / "clamd.sock"
        self.log = self.dir / "clamd.log"
        database = self.dir / "db"
        database.mkdir()
        (database / "uploads-test.ndb").write_text(
            f"{FOUND.removesuffix('.UNOFFICIAL')}:0:*:{MARKER.hex()}\n"
        )
        self.config = self.dir / "clamd.conf"
        self.config.write_text(
            "\n".join(
                [
                    f"DatabaseDirectory {database}",
                    f"LocalSocket {self.socket}",
                    f"TemporaryDirectory {self.dir}",
                    f"StreamMaxLength {stream_max}",
                    "Foreground yes",
                    "LogTime no",
                    "",
                ]
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"unix://{self.socket}"

    def answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(2)
                conn.connect(str(self.socket))
                conn.sendall(b"zPING\0")
                return conn.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.process = start_process(
            [self.binary, "-c", str(self.config)],
            ready=self.answers,
            timeout=60,
            name="clamd",
            log=self.log,
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
