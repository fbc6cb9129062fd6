"""A TCP proxy in front of a storage emulator that passes everything through, except that
while ``stalling`` it holds the connection of a request whose head contains ``marker`` (a
header or path naming one call, such as a copy): that request is never forwarded nor
answered, as a storage that froze in the middle of the call; or, when ``meanwhile`` is set,
it holds that request only while ``meanwhile`` runs (once), then forwards it: what another
client does to the storage while that call is on its way. While ``damage`` is set to a pair
of byte strings of one length, it puts the second in place of the first in requests: a body
damaged on its way to the storage. ``rewrite_host`` puts the
upstream's address in place of the proxy's in requests, for a server that goes by its Host
header (fake-gcs-server)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StallProxy:
    def __init__(self, upstream_port: int, marker: bytes, rewrite_host: bool = False) -> None:
        self.upstream_port = upstream_port
        self.rewrite_host = rewrite_host
        self.marker = marker.lower()
        self.stalling = threading.Event()
        self.held = 0  # requests held so far
        self.meanwhile: Callable[[], None] | None = None
        self.failure: BaseException | None = None  # what ``meanwhile`` raised
        self.damage: tuple[bytes, bytes] | None = None
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._keep(client)
            self._keep(upstream)
            threading.Thread(
                target=self._forward, args=(client, upstream, True), daemon=True
            ).start()
            threading.Thread(
                target=self._forward, args=(upstream, client, False), daemon=True
            ).start()

    def _forward(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if requests and self.stalling.is_set() and self.marker in data.lower():
                    with self._lock:
                        self.held += 1
                    if self.meanwhile is None:
                        self._closed.wait()  # frozen: neither forwarded nor answered
                        return
                    self.stalling.clear()
                    self._run_meanwhile()
                if requests and self.damage is not None:
                    data = data.replace(*self.damage)
                if requests and self.rewrite_host:
                    ours, theirs = f":{self.port}".encode(), f":{self.upstream_port}".encode()
                    data = data.replace(b"127.0.0.1" + ours, b"127.0.0.1" + theirs)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _run_meanwhile(self) -> None:
        assert self.meanwhile is not None
        try:
            self.meanwhile()
        except BaseException as err:  # noqa: BLE001  the test reads it from the main thread
            self.failure = err

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@contextmanager
def stall_proxy(
    upstream_port: int, marker: bytes, rewrite_host: bool = False
) -> Iterator[StallProxy]:
    proxy = StallProxy(upstream_port, marker, rewrite_host)
    try:
        yield proxy
    finally:
        proxy.close()
