"""The uploads table's indexes (migration 0017): every query that used an index dropped
there (the owner's own, the key's second one on PostgreSQL) still finds its rows through an
index, on the test database (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.models import Q, QuerySet

from uploads.models import Upload
from uploads.services.presign import _pending_totals_sql

pytestmark = pytest.mark.django_db


def plan(sql: str, params: list[Any]) -> str:
    """The database's plan for ``sql``, with a sequential scan the last resort (the test's
    tables are too small for PostgreSQL to prefer an index otherwise)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row) for row in cursor.fetchall())


def queryset_plan(queryset: QuerySet[Upload]) -> str:
    sql, params = queryset.query.sql_with_params()
    return plan(sql, list(params))


OWNER_QUERIES = {
    "the owner's uploads, newest first (GET /uploads)": lambda: Upload.objects.filter(
        owner_id=1
    ).order_by("-created_at", "-id"),
    "a deleted user's uploads (uploads.handlers)": lambda: Upload.objects.filter(
        owner_id=1
    ).exclude(status=Upload.Status.DELETED),
    "presign's deduplication": lambda: Upload.objects.filter(
        Q(verified_sha256="x") | Q(sha256="x"),
        owner_id=1,
        policy_id=1,
        status=Upload.Status.COMPLETED,
        content_type="image/png",
    ).order_by("-completed_at"),
}


@pytest.mark.parametrize("name", OWNER_QUERIES)
def test_a_query_by_owner_uses_an_index(name: str) -> None:
    found = queryset_plan(OWNER_QUERIES[name]())
    assert "upload_owner_recent" in found or "upload_sweep" in found, found
    assert "SCAN uploads_upload" not in found and "Seq Scan" not in found, found


def test_the_quota_count_reads_only_the_pending_index() -> None:
    """Presign counts the owner's pending uploads and their bytes from the index alone: no
    row of the table read per pending upload."""
    found = plan(_pending_totals_sql("default"), [1, "2026-01-01"])
    if connection.vendor == "postgresql":
        assert "Index Only Scan using upload_owner_pending" in found, found
    else:
        assert "USING COVERING INDEX upload_owner_pending" in found, found


def test_a_lookup_by_key_uses_the_unique_constraints_index() -> None:
    # By the key alone: with the status too (as uploads.views asks), PostgreSQL may pick
    # the sweep's index on (status, ...) when its statistics say the table is near empty.
    found = queryset_plan(Upload.objects.filter(key="avatars/1/a.png"))
    index = "upload_unique_key" if connection.vendor == "postgresql" else "sqlite_autoindex"
    assert index in found, found


def test_only_the_expected_indexes_remain() -> None:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, Upload._meta.db_table)
    indexes = {name for name, c in found.items() if c["index"] and not c["unique"]}
    on_key = [c for c in found.values() if c["columns"] == ["key"]]
    # The owner's two (each starting with the owner: none of its own), the sweep's, the
    # type's; on the key only the unique constraint's (none for LIKE).
    assert len(indexes) == 4, indexes
    assert {"upload_owner_recent", "upload_owner_pending", "upload_sweep"} < indexes
    assert len(on_key) == 1 and on_key[0]["unique"], on_key
