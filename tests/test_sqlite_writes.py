"""Presign's write transaction on SQLite (uploads.sqlite_writes), on a SQLite file of its own
whatever the test database: BEGIN IMMEDIATE and COMMIT sent as they are, nothing left open
when the block fails, a savepoint inside an outer transaction, and writers queued on a lock
file beside the database; a statement on its own with neither BEGIN nor COMMIT."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.db.backends.sqlite3.base import DatabaseWrapper

from uploads.sqlite_writes import write_statement, write_transaction


@pytest.fixture
def unblocked(django_db_blocker: Any) -> Iterator[None]:
    """Connections of the test's own, not the test database's."""
    with django_db_blocker.unblock():
        yield


SETTINGS: dict[str, Any] = {
    "ENGINE": "django.db.backends.sqlite3",
    "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    "ATOMIC_REQUESTS": False,
    "AUTOCOMMIT": True,
    "CONN_MAX_AGE": 0,
    "CONN_HEALTH_CHECKS": False,
    "TIME_ZONE": None,
    "TEST": {},
}


@pytest.fixture
def sqlite_file(tmp_path: Path, unblocked: None) -> Iterator[DatabaseWrapper]:
    """A connection, as the project's settings make it, to a SQLite file with one table."""
    connection = DatabaseWrapper(
        {**SETTINGS, "NAME": str(tmp_path / "db.sqlite3")}, alias="sqlite_writes"
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE item (name TEXT UNIQUE)")
    yield connection
    connection.close()


def names(connection: DatabaseWrapper) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM item ORDER BY name")
        return [name for (name,) in cursor.fetchall()]


def test_the_block_commits_and_leaves_no_transaction_open(sqlite_file: DatabaseWrapper) -> None:
    with write_transaction(sqlite_file) as cursor:
        assert sqlite_file.connection.in_transaction  # from BEGIN IMMEDIATE on
        cursor.execute("INSERT INTO item VALUES ('a')")

    assert not sqlite_file.connection.in_transaction
    assert sqlite_file.get_autocommit()
    assert names(sqlite_file) == ["a"]


def test_a_failing_statement_rolls_the_block_back(sqlite_file: DatabaseWrapper) -> None:
    with write_transaction(sqlite_file) as cursor:
        cursor.execute("INSERT INTO item VALUES ('a')")

    with pytest.raises(Exception, match="UNIQUE"), write_transaction(sqlite_file) as cursor:
        cursor.execute("INSERT INTO item VALUES ('b')")
        cursor.execute("INSERT INTO item VALUES ('a')")

    assert not sqlite_file.connection.in_transaction
    assert names(sqlite_file) == ["a"]  # not 'b'


def test_an_exception_of_the_caller_rolls_the_block_back(sqlite_file: DatabaseWrapper) -> None:
    with pytest.raises(LookupError), write_transaction(sqlite_file) as cursor:
        cursor.execute("INSERT INTO item VALUES ('a')")
        raise LookupError

    assert not sqlite_file.connection.in_transaction
    assert names(sqlite_file) == []


def test_inside_an_outer_transaction_it_is_a_savepoint_the_outer_one_undoes(
    sqlite_file: DatabaseWrapper,
) -> None:
    from django.db import connections

    connections["sqlite_writes"] = sqlite_file
    try:
        with pytest.raises(LookupError), transaction.atomic(using="sqlite_writes"):
            with write_transaction(sqlite_file) as cursor:
                cursor.execute("INSERT INTO item VALUES ('a')")
            assert sqlite_file.in_atomic_block  # the outer transaction is still open
            raise LookupError
    finally:
        del connections["sqlite_writes"]

    assert names(sqlite_file) == []


def test_the_block_holds_the_writers_lock_file_beside_the_database(
    sqlite_file: DatabaseWrapper,
) -> None:
    """Another writer (another process: its own descriptor) waits for the block's end."""
    lock_file = f"{sqlite_file.settings_dict['NAME']}-writers"
    with write_transaction(sqlite_file) as cursor:
        cursor.execute("INSERT INTO item VALUES ('a')")
        other = os.open(lock_file, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)

    other = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the block
    finally:
        os.close(other)
    assert names(sqlite_file) == ["a"]


def test_a_database_in_memory_takes_no_lock_file(unblocked: None) -> None:
    connection = DatabaseWrapper({**SETTINGS, "NAME": ":memory:"}, alias="sqlite_writes_memory")
    try:
        with write_transaction(connection) as cursor:
            cursor.execute("CREATE TABLE item (name TEXT)")
            cursor.execute("INSERT INTO item VALUES ('a')")
        assert names(connection) == ["a"]
    finally:
        connection.close()


def test_a_statement_on_its_own_commits_holding_the_writers_lock_file(
    sqlite_file: DatabaseWrapper,
) -> None:
    """Outside a transaction, one statement is its own transaction (no BEGIN IMMEDIATE,
    no COMMIT), run while the writers' lock file is held."""
    lock_file = f"{sqlite_file.settings_dict['NAME']}-writers"
    sqlite_file.ensure_connection()
    held = []

    def observe(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        other = os.open(lock_file, os.O_RDWR)
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(sql)
        finally:
            os.close(other)
        return execute(sql, params, many, context)

    with sqlite_file.execute_wrapper(observe):
        assert write_statement(sqlite_file, "INSERT INTO item VALUES (%s)", ["a"]) == 1

    assert held == ["INSERT INTO item VALUES (%s)"]  # the statement alone, under the lock
    assert not sqlite_file.connection.in_transaction
    assert names(sqlite_file) == ["a"]


def test_a_statement_inside_a_transaction_is_left_to_write_transaction(
    sqlite_file: DatabaseWrapper,
) -> None:
    from django.db import connections

    connections["sqlite_writes"] = sqlite_file
    try:
        with transaction.atomic(using="sqlite_writes"):
            assert write_statement(sqlite_file, "INSERT INTO item VALUES (%s)", ["a"]) is None
    finally:
        del connections["sqlite_writes"]

    assert names(sqlite_file) == []
