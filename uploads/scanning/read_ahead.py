"""Reading the next pieces of a file while the last one is used: the storage's ranged GETs
and clamd's scan then overlap instead of taking turns."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Generator, Iterator

#: How long the reader waits to hand over a piece before it looks whether to stop.
_POLL = 0.2
_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(pieces: Iterator[bytes], ahead: int = 2) -> Generator[bytes, None, None]:
    """``pieces`` in order, read by a thread of its own up to ``ahead`` pieces before they
    are asked for (so at most ``ahead + 1`` are held). The thread runs in this thread's
    context (a request's storage deadline holds there too); its errors are raised here. A
    consumer that stops early stops the thread."""
    handed: queue.Queue[object] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def hand(item: object) -> bool:
        while not stop.is_set():
            try:
                handed.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for piece in pieces:
                if not hand(piece):
                    return
        except BaseException as err:  # noqa: BLE001  raised again in the consumer
            hand(_Failed(err))
            return
        hand(_DONE)

    context = contextvars.copy_context()
    reader = threading.Thread(target=context.run, args=(read,), daemon=True, name="read-ahead")
    reader.start()
    try:
        while True:
            item = handed.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
        reader.join()
