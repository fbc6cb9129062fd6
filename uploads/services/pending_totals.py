"""What counts against an owner's quota, as SQL: the number and the bytes of their uploads
pending at an instant. One text for both of presign's ways of counting: the stored function
on PostgreSQL (uploads.services.presign_function) and the counting insert elsewhere
(uploads.services.presign)."""

from __future__ import annotations

from typing import Any

from django.db.models import Field

from uploads.models import Upload


def sql(connection: Any, owner: str, at: str) -> str:
    """``SELECT n, b``: the count and the bytes (the declared size, else the type's maximum)
    of the uploads of ``owner`` pending at ``at``, both SQL expressions (placeholders, or the
    stored function's arguments), in one query on the index upload_owner_pending."""
    quote = connection.ops.quote_name
    meta = Upload._meta

    def column(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, Field) and field.column
        return str(quote(field.column))

    # The status as a constant, as upload_owner_pending's condition has it: a plan made
    # for any status could not use that index.
    pending = Upload.Status.PENDING.value
    assert pending.isalpha()
    return (
        f"SELECT COUNT(*) AS n, "
        f"COALESCE(SUM(COALESCE({column('size')}, {column('max_size')})), 0) AS b "
        f"FROM {quote(meta.db_table)} WHERE {column('owner')} = {owner} "
        f"AND {column('status')} = '{pending}' AND {column('expires_at')} > {at}"
    )
