"""A webhook receiver, run as its own process by the tests: it verifies each POST to /hook
with ``standardwebhooks.Webhook(secret).verify`` (as the docs tell a receiver to) and records
it. Told what to do over HTTP: POST /_control {"status": 500} makes it answer 500,
{"secret": "whsec_..."} verifies with another secret, {"reset": true} forgets what it
received; GET /_received lists what it received.

    python tests/webhook_receiver.py PORT SECRET
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

state: dict[str, Any] = {"secret": "", "status": 200, "received": []}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
    # until the client's delayed ACK (40 ms) of the headers.
    disable_nagle_algorithm = True

    def _answer(self, status: int, data: Any) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with lock:
            self._answer(200, state["received"])

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/_control":
            with lock:
                command = json.loads(body)
                if command.get("reset"):
                    state["received"] = []
                state.update({k: v for k, v in command.items() if k in ("status", "secret")})
            self._answer(200, {"ok": True})
            return
        headers = dict(self.headers.items())
        entry: dict[str, Any] = {
            "id": self.headers.get("webhook-id"),
            "timestamp": self.headers.get("webhook-timestamp"),
            "signatures": (self.headers.get("webhook-signature") or "").split(" "),
            "at": time.time(),
        }
        with lock:
            try:
                entry["payload"] = Webhook(state["secret"]).verify(body, headers)
                entry["verified"] = True
            except Exception as err:  # noqa: BLE001  recorded: the test asserts on it
                entry["verified"] = False
                entry["error"] = f"{type(err).__name__}: {err}"
            status = state["status"] if entry["verified"] else 400
            entry["answered"] = status
            state["received"].append(entry)
        self._answer(status, {"received": entry["id"], "verified": entry["verified"]})

    def log_message(self, format: str, *args: Any) -> None:
        pass


if __name__ == "__main__":
    state["secret"] = sys.argv[2]
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
