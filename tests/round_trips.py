"""A TCP proxy that counts round trips between its clients and one server (PostgreSQL,
Redis): each time the client sends and the server then answers is one round trip, however
many bytes or pipelined commands each side's turn holds. For the tests and the bench that
hold presign to its budget of round trips."""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

#: The port a URL of each scheme means when it names none.
DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "http": 80}


class RoundTripProxy:
    """``with RoundTripProxy(port) as proxy:`` listens on ``proxy.port`` (loopback) and
    forwards every connection to ``127.0.0.1:upstream_port``; ``proxy.trips`` counts the
    round trips of all its connections since the last ``reset()``; ``proxy.connections``
    how many connections were opened; ``wait_until_open(n)`` waits until only ``n`` are
    still open (each closed on both sides, after all the server sent was passed on)."""

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.trips = 0
        self.connections = 0
        self._open = 0
        self._lock = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def in_front_of(cls, url: str) -> RoundTripProxy:
        """A proxy to the server ``url`` names (on the loopback); ``through(url)`` then
        reaches it by way of the proxy."""
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        if port is None:
            raise ValueError(f"{url} names no port")
        return cls(port, parts.hostname or "127.0.0.1")

    def through(self, url: str) -> str:
        """``url`` by way of this proxy: its host and port replaced, the rest kept."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"127.0.0.1:{self.port}"
        return urlunsplit(
            parts._replace(netloc=f"{credentials}@{netloc}" if credentials else netloc)
        )

    def reset(self) -> None:
        with self._lock:
            self.trips = 0
            self.connections = 0

    def wait_until_open(self, count: int, timeout: float = 10) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self._open <= count, timeout):
                raise TimeoutError(f"{self._open} connections still open, not {count}")

    def __enter__(self) -> RoundTripProxy:
        self._start(self._accept)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            self._start(self._pipe, client)

    def _pipe(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        with self._lock:
            self._open += 1
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, server)
        selector.register(server, selectors.EVENT_READ, client)
        client_turn = False  # the client has sent since the server last answered
        try:
            while not self._closing.is_set():
                for key, _ in selector.select(timeout=0.2):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client:
                        client_turn = True
                    elif client_turn:
                        client_turn = False
                        with self._lock:
                            self.trips += 1
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            client.close()
            server.close()
            with self._lock:
                self._open -= 1
                self._lock.notify_all()
