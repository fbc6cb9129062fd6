"""Writes that, on SQLite, hold the database's write lock from their start: for presign's
count and insert (uploads.services.presign), one statement on its own or a transaction.

SQLite lets one writer in at a time. A writer that finds the lock taken sleeps in SQLite's
busy handler: a millisecond, then two, five, ten..., however soon the lock is released, while
presign holds it for a fraction of a millisecond. So presign's writers queue first on a file
lock beside the database, which wakes the next one as soon as the lock is released; SQLite's
own lock (BEGIN IMMEDIATE) still decides, the file lock only orders those who wait for it.
The transaction is BEGIN IMMEDIATE and COMMIT sent as they are, without ``atomic``'s
bookkeeping; inside an outer transaction it is ``atomic``'s savepoint, as before. A statement
on its own needs neither: outside a transaction SQLite runs a writing statement as its own
transaction, which takes the write lock before the statement reads anything.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

_locks: dict[tuple[int, str], tuple[threading.Lock, int]] = {}
_opening = threading.Lock()


@contextmanager
def write_transaction(connection: BaseDatabaseWrapper) -> Iterator[CursorWrapper]:
    """A cursor in a transaction, committed when the block ends and rolled back when it
    raises; on SQLite, one that holds the write lock from its start. Inside an outer
    transaction, or on another database, ``atomic``'s."""
    sqlite = connection.vendor == "sqlite"
    if not sqlite or connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            yield cursor
        return
    with _queued(connection), connection.cursor() as cursor:
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
            cursor.execute("COMMIT")
        finally:
            if connection.connection is not None and connection.connection.in_transaction:
                connection.connection.rollback()


def write_statement(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> int | None:
    """Run one writing statement as its own transaction on SQLite, queued with the other
    writers; its row count. None, having run nothing, on another database or inside a
    transaction: use write_transaction."""
    if (
        connection.vendor != "sqlite"
        or connection.in_atomic_block
        or not connection.get_autocommit()
    ):
        return None
    with _queued(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _queued(connection: BaseDatabaseWrapper) -> Any:
    """Hold the file lock of the database's writers (none for a database in memory, or one
    whose directory takes no lock file: SQLite's busy handler alone then)."""
    if connection.is_in_memory_db():  # type: ignore[attr-defined]
        return nullcontext()
    held = _lock_of(str(connection.settings_dict["NAME"]))
    return nullcontext() if held is None else _holding(*held)


def _lock_of(database: str) -> tuple[threading.Lock, int] | None:
    # A process's own descriptor: one inherited across a fork would share its lock.
    key = (os.getpid(), database)
    held = _locks.get(key)
    if held is None:
        with _opening:
            held = _locks.get(key)
            if held is None:
                try:
                    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
                    fd = os.open(f"{database}-writers", flags, 0o600)
                except OSError:
                    return None
                held = _locks[key] = (threading.Lock(), fd)
    return held


@contextmanager
def _holding(lock: threading.Lock, fd: int) -> Iterator[None]:
    # The thread lock first: a file lock is the process's, whichever thread took it.
    with lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
