"""A strict front for the S3 emulator: it forwards every request to SeaweedFS, except a POST
form with a field that its signed policy does not name, which it refuses as AWS S3 does
(403 AccessDenied, "Extra input fields"). SeaweedFS takes such fields; AWS is not here."""

from __future__ import annotations

import base64
import email
import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

# Fields AWS takes without the policy naming them.
UNSIGNED_OK = {"policy", "x-amz-signature", "file"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def extra_fields(content_type: str, body: bytes) -> list[str]:
    """The form's fields that its policy does not name, lower-cased."""
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body,
    )
    fields: dict[str, str] = {}
    for part in message.get_payload() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name.lower()] = payload.decode() if isinstance(payload, bytes) else ""
    policy = json.loads(base64.b64decode(fields.get("policy", "") or "e30="))
    named: set[str] = set()
    for condition in policy.get("conditions", []):
        if isinstance(condition, dict):
            named |= {key.lower() for key in condition}
        elif isinstance(condition, list) and str(condition[1]).startswith("$"):
            named.add(str(condition[1])[1:].lower())
    return sorted(
        name
        for name in fields
        if name not in UNSIGNED_OK | named and not name.startswith("x-ignore-")
    )


class StrictPostProxy:
    """``with StrictPostProxy(upstream) as endpoint:`` an S3 endpoint URL on a free port."""

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self.upstream

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                length = dict((k.lower(), v) for k, v in headers).get("content-length")
                # A HEAD's length is the object's, though no body follows.
                self.send_header(
                    "Content-Length",
                    length if self.command == "HEAD" and length else str(len(body)),
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self) -> None:
                body = self._body()
                content_type = self.headers.get("Content-Type", "")
                if self.command == "POST" and content_type.startswith("multipart/form-data"):
                    extra = extra_fields(content_type, body)
                    if extra:
                        error = (
                            "<Error><Code>AccessDenied</Code><Message>Invalid according to "
                            f"Policy: Extra input fields: {', '.join(extra)}</Message></Error>"
                        ).encode()
                        self._answer(403, [("Content-Type", "application/xml")], error)
                        return
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in HOP_BY_HOP
                }
                # The Host header is kept as sent: it is part of what the client signed.
                connection = http.client.HTTPConnection(*upstream, timeout=10)
                try:
                    connection.request(self.command, self.path, body or None, headers)
                    response = connection.getresponse()
                    self._answer(response.status, response.getheaders(), response.read())
                finally:
                    connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _forward

        return Handler
