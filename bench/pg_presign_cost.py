"""What a presign costs PostgreSQL: the backend's CPU (from /proc/<pid>/schedstat, which the
machine's other load does not move much), the WAL it writes (pg_walinspect, only the records of
the scratch database and their commits) and the statements it sends, through Django's test
client, with a fresh scratch database beside DATABASE_URL, users taken in turn; beside it, the
CPU of the process driving the test client (Django, DRF, the drivers and their system calls).

Run from the project root, with DATABASE_URL (PostgreSQL, on this machine: schedstat is read
from /proc) and REDIS_URL: ``.venv/bin/python bench/pg_presign_cost.py [--requests 2000]``.
Needs pg_walinspect (contrib, PostgreSQL 15+) and a superuser for its WAL figures; without
them it prints the CPU alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (  # noqa: E402
    PRESIGN_BODY,
    PRESIGN_PATH,
    isolated_environment,
    prepare_database,
    setup_django,
)

WARM = 200


def backend_cpu_ns(pid: int) -> int:
    """CPU time the process has run, in ns (the first field of schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def presign_loop(clients: Sequence[Any], count: int) -> None:
    for i in range(count):
        answer = clients[i % len(clients)].post(PRESIGN_PATH, PRESIGN_BODY, format="json")
        if answer.status_code != 201:
            raise SystemExit(f"presign -> {answer.status_code}: {answer.content[:300]!r}")


def wal_reader(cursor: Any) -> Any:
    """A function of two LSNs: (bytes, records) of the WAL between them that this database
    wrote (its blocks, and the commits of those transactions); None without pg_walinspect."""
    try:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
    except Exception as err:  # not installed, or not a superuser
        print(f"no WAL figures: {err}")
        return None
    cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
    (oid,) = cursor.fetchone()

    def read(start: str, end: str) -> tuple[int, int, dict[str, int]]:
        cursor.execute(
            "WITH r AS (SELECT * FROM pg_get_wal_records_info(%s, %s)), "
            "mine AS (SELECT DISTINCT xid FROM r WHERE block_ref LIKE %s AND xid <> 0) "
            "SELECT resource_manager || ':' || split_part(record_type, ' ', 1), "
            "SUM(record_length + fpi_length), COUNT(*) FROM r "
            "WHERE block_ref LIKE %s OR (xid IN (SELECT xid FROM mine)) GROUP BY 1",
            [start, end, f"%/{oid}/%", f"%/{oid}/%"],
        )
        kinds = {kind: (int(size), int(n)) for kind, size, n in cursor.fetchall()}
        return (
            sum(size for size, _ in kinds.values()),
            sum(n for _, n in kinds.values()),
            {k: n for k, (_, n) in kinds.items()},
        )

    return read


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    with isolated_environment() as (env, _):
        setup_django(env)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from bench.profile_presign import client_for
        from bench.wrk_bench import bench_users

        if connection.vendor != "postgresql":
            raise SystemExit("Set DATABASE_URL to a PostgreSQL database on this machine.")
        prepare_database()
        clients = [client_for(token) for token in bench_users(args.users)]
        presign_loop(clients, WARM)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        with CaptureQueriesContext(connection) as queries:
            presign_loop(clients, 1)
        print(f"statements per presign: {len(queries)}")
        for query in queries:
            print("  ", query["sql"][:4000])
        admin = connection.connection.cursor()  # the same backend: its figures are included
        read_wal = wal_reader(admin)
        for _ in range(args.rounds):
            admin.execute("SELECT pg_current_wal_lsn()")
            (start,) = admin.fetchone()
            before, python_before = backend_cpu_ns(pid), time.process_time()
            presign_loop(clients, args.requests)
            cpu = backend_cpu_ns(pid) - before
            python = (time.process_time() - python_before) / args.requests * 1e6
            line = f"per presign: Python {python:.0f} us, backend {cpu / args.requests / 1000:.0f} us"
            if read_wal is not None:
                admin.execute("SELECT pg_current_wal_lsn()")
                (end,) = admin.fetchone()
                size, records, kinds = read_wal(start, end)
                per = {k: round(n / args.requests, 2) for k, n in sorted(kinds.items())}
                line += (
                    f"; WAL {size / args.requests:.0f} bytes in "
                    f"{records / args.requests:.1f} records: {per}"
                )
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
