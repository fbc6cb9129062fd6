"""On PostgreSQL, presign's quota and insert as a stored function (uploads.services.presign):
PostgreSQL plans its statements once per connection, where a query sent as text is parsed
and planned on every presign (about a third of the server's work for one), and no session
state is needed, so any connection pooler serves it. Nothing on other databases.

The function takes the upload as JSON and inserts it by column name into the table's row type,
so that a column added to the uploads later needs no new version of it."""

from typing import Any

from django.db import migrations

FUNCTION = "uploads_presign_upload"


def create_function(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    upload = apps.get_model("uploads", "Upload")
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(upload._meta.get_field(name).column)

    table = quote(upload._meta.db_table)
    owner_type = upload._meta.get_field("owner").db_type(connection)
    # The count a separate statement after the lock's: it then takes its snapshot after the
    # wait, and sees every upload committed by the presign that held the lock before. The
    # lock's key is the table's and the owner's (two presigns of different owners sharing a
    # key would only take turns).
    schema_editor.execute(
        f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(
    for_owner {owner_type}, pending_at timestamptz, max_open numeric, adding numeric,
    max_bytes numeric, upload jsonb,
    OUT open_uploads bigint, OUT pending_bytes numeric, OUT inserted boolean
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock('{table}'::regclass::oid::integer, hashtext(for_owner::text));
    SELECT COUNT(*), COALESCE(SUM(COALESCE({column("size")}, {column("max_size")})), 0)
        INTO open_uploads, pending_bytes
        FROM {table}
        WHERE {column("owner")} = for_owner AND {column("status")} = 'pending'
            AND {column("expires_at")} > pending_at;
    inserted := open_uploads < max_open AND pending_bytes + adding <= max_bytes;
    IF inserted THEN
        INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, upload);
    END IF;
END
$$"""
    )


def drop_function(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0017_upload_indexes"),
    ]

    operations = [migrations.RunPython(create_function, drop_function, elidable=False)]
