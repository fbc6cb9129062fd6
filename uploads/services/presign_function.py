"""The stored function presign calls on PostgreSQL (uploads.services.presign): the owner's
turn, the count of their pending uploads, and the insert when the quota has room.

It is made, or made again, after every ``migrate`` (``post_migrate``), from the model as the
code has it, not by a migration: a database built without migrations (a test database with
pytest-django's ``--nomigrations`` or ``TEST["MIGRATE"] = False``) has it too, and it never
falls out of step with the table. Its name carries a version: a later release whose function
takes other arguments names a new one, so that ``CREATE OR REPLACE`` never has to change an
existing function's signature under running presigns.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router

from uploads.models import Upload
from uploads.services import pending_totals

NAME = "uploads_presign_upload_v1"


def create_after_migrate(using: str = "default", **kwargs: Any) -> None:
    """``post_migrate``'s receiver: make the function on database ``using`` where it is
    PostgreSQL and the uploads table lives there."""
    connection = connections[using]
    if connection.vendor != "postgresql" or not router.allow_migrate_model(using, Upload):
        return
    with connection.cursor() as cursor:
        cursor.execute(definition(connection))


def definition(connection: Any) -> str:
    """``CREATE OR REPLACE FUNCTION``: take the owner's turn (a transaction-scoped advisory
    lock keyed by the table and the owner: two owners that share a key only take turns),
    count their pending uploads in a statement of its own after the lock's (under READ
    COMMITTED it then sees every upload committed by the presign that held the turn before),
    and insert the upload, given as JSON, by column name into the table's row type."""
    meta = Upload._meta
    table = connection.ops.quote_name(meta.db_table)
    owner_type = meta.get_field("owner").db_type(connection)  # type: ignore[union-attr]
    return f"""
CREATE OR REPLACE FUNCTION {NAME}(
    for_owner {owner_type}, pending_at timestamptz, max_open numeric, adding numeric,
    max_bytes numeric, upload jsonb,
    OUT open_uploads bigint, OUT pending_bytes numeric, OUT inserted boolean
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock('{table}'::regclass::oid::integer, hashtext(for_owner::text));
    SELECT n, b INTO open_uploads, pending_bytes
        FROM ({pending_totals.sql(connection, "for_owner", "pending_at")}) AS totals;
    inserted := open_uploads < max_open AND pending_bytes + adding <= max_bytes;
    IF inserted THEN
        INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, upload);
    END IF;
END
$$"""
