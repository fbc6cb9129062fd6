from __future__ import annotations

import base64
import binascii
import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections, router
from django.db.models import Field, ForeignKey, Q
from django.utils import timezone

from uploads import content_types, exceptions, keys
from uploads.app_settings import app_settings
from uploads.models import Upload, UploadPolicy
from uploads.policies import Policy, registry
from uploads.services import pending_totals, presign_function
from uploads.services.multipart import assembles_at_key
from uploads.services.promote import object_headers
from uploads.services.signing import provider_errors, signer_for
from uploads.signers import PresignedUpload, Signer, UploadSpec
from uploads.sqlite_writes import write_statement, write_transaction
from uploads.types import User


@dataclass(frozen=True)
class PresignRequest:
    type: str
    content_type: str
    size: Any = None
    file_name: str = ""
    sha256: Any = None
    multipart: bool = False


@dataclass(frozen=True)
class PresignResult:
    upload: Upload
    presigned: PresignedUpload | None  # None for a deduplicated or a multipart upload
    max_size: int
    expires_in: int
    deduplicated: bool = False


def presign_upload(owner: User, request: PresignRequest) -> PresignResult:
    """Check a request against its type's policy, record a pending upload and sign a URL
    for it. Nothing is written unless every check passes and the URL is signed."""
    policy = registry.get(request.type)
    if policy is None:
        raise exceptions.InvalidType(vars={"type": request.type})
    content_type = _check_content_type(policy, request.content_type)
    size = _check_size(policy, request.size)
    sha256 = _check_sha256(policy, request.sha256)
    if request.multipart and size is None:
        raise exceptions.InvalidSize(
            "A multipart upload must declare its size in bytes.", vars={"type": policy.name}
        )

    if sha256 and policy.deduplicate:
        existing = (
            Upload.objects.filter(
                # The declared sha256 too: a type that strips metadata stores other bytes
                # than the ones sent, and sending them again would store the same.
                Q(verified_sha256=sha256) | Q(sha256=sha256),
                owner=owner,
                policy_id=policy.id,
                status=Upload.Status.COMPLETED,
                content_type=content_type,  # the same bytes declared as another type differ
            )
            .order_by("-completed_at")
            .first()
        )
        if existing is not None:
            existing.policy = _policy_row(policy)
            return PresignResult(existing, None, policy.max_size, policy.expires_in, True)

    adding = size if size is not None else policy.max_size
    signer = signer_for(policy.storage)
    part_size = _part_size(policy, signer, size, request.multipart)
    lifetime = app_settings.MULTIPART_LIFETIME if part_size else policy.expires_in
    upload_id = uuid.uuid4()
    now = timezone.now()
    upload = _new_upload(
        owner,
        _policy_row(policy),
        {
            "id": upload_id,
            "key": keys.build_key(policy.key_prefix, owner.pk, upload_id, content_type),
            "storage": policy.storage,
            "max_size": policy.max_size,
            "is_public": policy.is_public,
            "content_type": content_type,
            "size": size,
            "sha256": sha256 or "",
            "file_name": keys.clean_file_name(request.file_name or ""),
            "expires_at": now + timedelta(seconds=lifetime),
            "part_size": part_size,
            "assembles_at_key": bool(part_size) and assembles_at_key(policy, content_type, signer),
            "created_at": now,
            "updated_at": now,
        },
    )
    spec = UploadSpec(
        key=keys.staging_key(upload.key),  # complete copies it to upload.key, for good
        content_type=content_type,
        expires_at=upload.expires_at,
        max_size=policy.max_size,
        size=size,
        sha256=sha256,
        metadata={"upload-id": str(upload_id), "owner": str(owner.pk)},
        method=policy.method,
        public=policy.is_public,
    )
    if part_size is None:
        with provider_errors():
            presigned = signer.presign_upload(spec)
        _insert_within_quota(upload, adding, now)
        return PresignResult(upload, presigned, policy.max_size, policy.expires_in)
    # Refused before the storage makes an upload it would have to abort; checked again,
    # exactly, with the insert.
    _check_quota(adding, _pending_totals(owner.pk, now))
    if upload.assembles_at_key:
        spec = replace(spec, key=upload.multipart_key, headers=object_headers(upload))
    with provider_errors():
        upload.multipart_id = signer.create_multipart(spec)
    try:
        _insert_within_quota(upload, adding, now)
    except BaseException:
        with provider_errors():
            signer.abort_multipart(spec.key, upload.multipart_id)
        raise
    return PresignResult(upload, None, policy.max_size, policy.expires_in)


def _part_size(policy: Policy, signer: Signer, size: int | None, asked: bool) -> int | None:
    """The size of every part but the last when the upload goes in parts, else None: when
    the client asks, or when the declared size passes the type's threshold (a storage that
    cannot take parts then gets a single URL)."""
    threshold = policy.multipart_threshold
    over = size is not None and threshold is not None and size > threshold
    if not (asked or over):
        return None
    if not signer.supports_multipart:
        if asked:
            raise exceptions.MultipartUnsupported(
                f"{policy.name} uploads go to a storage that cannot take multipart uploads; "
                "send the file with a single URL.",
                vars={"type": policy.name},
            )
        return None
    assert size is not None
    smallest, largest, most = signer.part_limits
    # The admin keeps the type's part size within the storage's limits; should the storage
    # have changed since, the part grows so that the file still fits in the parts allowed.
    return min(max(policy.part_size, smallest, -(-size // most)), largest)


@functools.lru_cache(maxsize=256)
def _policy_row(policy: Policy) -> UploadPolicy:
    """The snapshot as a model instance for ``upload.policy``, so that reading the upload's
    type (as the API does) costs no query; one for each snapshot, shared by the uploads that
    presign makes from it. For reading only: never save or change it."""
    fields = asdict(policy) | {
        "allowed_content_types": list(policy.allowed_content_types),
        "checks": list(policy.checks),
    }
    row = UploadPolicy(**fields, is_active=True)
    row._state.adding = False
    return row


#: PRESIGN_ASYNC_COMMIT: for presign's implicit transaction alone.
ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF"

#: The fields presign sets on a new upload; every other one holds its default, which
#: _upload_defaults requires to be a constant.
SET_AT_PRESIGN = frozenset(
    {
        *("id", "owner_id", "policy_id", "key", "storage", "max_size", "is_public"),
        *("content_type", "size", "sha256", "file_name", "expires_at", "part_size"),
        *("assembles_at_key", "multipart_id", "created_at", "updated_at"),
    }
)
#: Column types whose database value is the Python value presign holds (str, int, bool or
#: None), as get_db_prep_save would leave it, on SQLite and PostgreSQL; on PostgreSQL, whose
#: driver takes them as they are, a UUID and an aware datetime too.
PLAIN_TYPES = frozenset(
    {
        *("CharField", "TextField", "SlugField", "BooleanField", "FloatField"),
        *("IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField"),
        *("PositiveBigIntegerField", "PositiveSmallIntegerField", "AutoField", "BigAutoField"),
    }
)
PLAIN_ON_POSTGRESQL = PLAIN_TYPES | {"UUIDField", "DateTimeField"}


def _new_upload(owner: User, policy: UploadPolicy, values: dict[str, Any]) -> Upload:
    """A pending upload with ``values`` (by attname, within SET_AT_PRESIGN) and every other
    field's default, built from its fields in order as Django builds the rows it reads (the
    keyword path costs presign several times more), its owner and type cached on it."""
    values["owner_id"], values["policy_id"] = owner.pk, policy.pk
    if not values.keys() <= SET_AT_PRESIGN:
        raise TypeError(f"Not set at presign: {sorted(values.keys() - SET_AT_PRESIGN)}")
    row = [values.get(name, default) for name, default in _upload_defaults()]
    upload = Upload(*row)  # type: ignore[misc]  # the stubs type one field per argument
    meta = Upload._meta
    meta.get_field("owner").set_cached_value(upload, owner)  # type: ignore[union-attr]
    meta.get_field("policy").set_cached_value(upload, policy)  # type: ignore[union-attr]
    return upload


@functools.cache
def _upload_defaults() -> tuple[tuple[str, Any], ...]:
    """(attname, default) of each of Upload's concrete fields, in order: None where the
    default varies (a new id), which only a field that presign sets may have."""
    defaults = []
    for field in Upload._meta.concrete_fields:
        default = field.get_default()
        if field.has_default() and callable(field.default) or not _constant(default):
            if field.attname not in SET_AT_PRESIGN:
                raise TypeError(f"Presign must set Upload.{field.name}: its default varies.")
            default = None
        defaults.append((field.attname, default))
    return tuple(defaults)


def _constant(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)  # bool and enums too


def _insert_within_quota(upload: Upload, adding: int, now: datetime) -> None:
    """Insert ``upload`` unless its owner's quota refuses it (counting the uploads pending at
    ``now``), as one step: concurrent presigns of one owner take turns from the count to the
    insert, so that exactly as many pass as the quota has room for. On PostgreSQL a stored
    function takes the turn, counts and inserts (_insert_on_postgresql); on SQLite the count
    and the insert are one statement, which holds the database's write lock from its start
    (uploads.sqlite_writes); other databases lock the owner's row, then count and insert, in
    a transaction."""
    alias = router.db_for_write(Upload)
    connection = connections[alias]
    if connection.vendor == "postgresql":
        inserted, totals = _insert_on_postgresql(connection, upload, adding, now)
    else:
        inserted, totals = _insert_elsewhere(connection, upload, adding, now)
    if not inserted:
        _check_quota(adding, totals)
        raise AssertionError("the quota refused an upload it has room for")  # pragma: no cover
    upload._state.adding, upload._state.db = False, alias


def _insert_on_postgresql(
    connection: Any, upload: Upload, adding: int, now: datetime
) -> tuple[bool, tuple[int, int]]:
    """The stored function called, in one round trip and one implicit transaction: whether it
    inserted, and the totals it judged by. Its plans are made once per connection, where a
    statement sent as text is parsed and planned on every presign, and it needs no prepared
    statement, so that any pooler serves it."""
    row = upload.__dict__
    values = {column: row[attname] for attname, column in _postgresql_columns()}
    settings = app_settings
    params = [
        *(upload.owner_id, now, settings.MAX_OPEN_UPLOADS, adding, settings.MAX_PENDING_BYTES),
        json.dumps({k: v for k, v in values.items() if v is not None}, default=str),
    ]
    statements = [(_call_sql(connection.alias), params)]
    if settings.PRESIGN_ASYNC_COMMIT:
        statements.insert(0, (ASYNC_COMMIT, []))
    count, pending, inserted = _in_one_round_trip(connection, statements)
    return inserted, (int(count), int(pending))


@functools.cache
def _call_sql(alias: str) -> str:
    owner = Upload._meta.get_field("owner")
    owner_type = owner.db_type(connections[alias])  # type: ignore[union-attr]
    return (
        f"SELECT open_uploads, pending_bytes, inserted FROM {presign_function.NAME}("
        f"%s::{owner_type}, %s::timestamptz, %s::numeric, %s::numeric, %s::numeric, %s::jsonb)"
    )


@functools.cache
def _postgresql_columns() -> tuple[tuple[str, str], ...]:
    """(attname, column) of the fields presign writes on PostgreSQL, whose values go to the
    stored function as JSON (UUIDs and datetimes as their text, which PostgreSQL reads back
    as they were); the fields presign leaves null are left out, as JSON nulls would be."""
    written = []
    for field in _written_fields():
        target = field.target_field if isinstance(field, ForeignKey) else field
        if target.get_internal_type() not in PLAIN_ON_POSTGRESQL:
            raise TypeError(f"Upload.{field.name}: no JSON value of its type for presign.")
        assert field.column is not None
        written.append((field.attname, field.column))
    return tuple(written)


def _written_fields() -> list[Field]:
    """Upload's fields that presign writes: those it sets, and those whose default is not
    null (the others are left to the database's NULL)."""
    return [
        f
        for f in Upload._meta.local_concrete_fields
        if f.attname in SET_AT_PRESIGN or not (f.null and f.get_default() is None)
    ]


def _insert_elsewhere(
    connection: Any, upload: Upload, adding: int, now: datetime
) -> tuple[bool, tuple[int, int]]:
    """On SQLite one statement, outside any transaction (SQLite takes its write lock as the
    statement starts); a refusal is taken again in a transaction, for the totals it refused
    by. Other databases lock the owner's row first, in that transaction."""
    sql, written = _insert_sql(connection.alias)
    row = upload.__dict__
    values = [row[name] if prep is None else prep(row[name], connection) for name, prep in written]
    settings = app_settings
    limits: list[Any] = [settings.MAX_OPEN_UPLOADS, adding, settings.MAX_PENDING_BYTES]
    params = [*values, upload.owner_id, _database_datetime(now, connection), *limits]
    if write_statement(connection, sql, params) == 1:  # None where it ran nothing
        return True, (0, 0)
    lock = _lock_owner_sql(connection.alias)  # None on SQLite, whose BEGIN IMMEDIATE serializes
    with write_transaction(connection) as cursor:
        if lock is not None:
            cursor.execute(lock, [upload.owner_id])
        cursor.execute(sql, params)
        if cursor.rowcount == 1:
            return True, (0, 0)
        return False, _pending_totals(upload.owner_id, now)


Prep = Callable[[Any, Any], Any]


@functools.cache
def _insert_sql(alias: str) -> tuple[str, tuple[tuple[str, Prep | None], ...]]:
    """The insert of an upload when its owner's quota has room, the count and the insert in
    one statement (_insert_elsewhere), and the fields whose values it takes, in the order of
    its placeholders: each field's attname and what makes its database value
    (get_db_prep_save; None where that is the value itself)."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = _written_fields()
    columns = ", ".join(quote(f.column) for f in fields)  # type: ignore[arg-type]
    placeholders = ", ".join("%s" for _ in fields)
    # Not as WITH ... INSERT: sqlite3 then reports no row count.
    sql = (
        f"INSERT INTO {quote(Upload._meta.db_table)} ({columns}) "
        f"SELECT {placeholders} FROM ({_pending_totals_sql(alias)}) AS totals "
        "WHERE n < %s AND b + %s <= %s"
    )
    return sql, tuple((f.attname, _prep(f, connection)) for f in fields)


def _in_one_round_trip(connection: Any, statements: list[tuple[str, list[Any]]]) -> Any:
    """Run PostgreSQL statements in one round trip and one implicit transaction; the last
    one's row. One query of several statements where the connection binds parameters in the
    client (Django's default); where it binds them on the server
    (OPTIONS["server_side_binding"]), which takes one statement a query, a pipeline."""
    with connection.cursor() as cursor:
        if len(statements) == 1:
            cursor.execute(*statements[0])
            return cursor.fetchone()
        if connection.settings_dict["OPTIONS"].get("server_side_binding") is not True:
            cursor.execute(
                "; ".join(sql for sql, _ in statements),
                [p for _, params in statements for p in params],
            )
            while cursor.nextset():  # to the last statement's row
                pass
            return cursor.fetchone()
        with connection.wrap_database_errors, connection.connection.pipeline():
            for sql, params in statements:
                cursor.execute(sql, params)
            return cursor.fetchone()


def _prep(field: Field, connection: Any) -> Prep | None:
    """What makes the database value of the field's value at presign: None where it is the
    value itself; for a datetime on SQLite, the backend's adaptation of it (presign's are
    aware, which is all DateTimeField.get_prep_value checks)."""
    target = field.target_field if isinstance(field, ForeignKey) else field
    kind = target.get_internal_type()
    if connection.vendor == "sqlite":
        if kind in PLAIN_TYPES:
            return None
        if kind == "DateTimeField":
            return _database_datetime
    return field.get_db_prep_save


def _database_datetime(value: datetime | None, connection: Any) -> Any:
    """The backend's text of the datetime, taken straight from a UTC one where the
    connection's time zone is UTC (as timezone.now() makes them, and by default)."""
    if value is not None and value.tzinfo is UTC and connection.timezone is UTC:
        return str(value.replace(tzinfo=None))
    return connection.ops.adapt_datetimefield_value(value)


def _check_quota(adding: int, totals: tuple[int, int]) -> None:
    """Refuse a new URL when the owner's live pending uploads (``totals``: how many, how many
    bytes) are already too many, or would hold too many bytes. A type without a declared
    size counts its max_size."""
    count, pending = totals
    max_open, max_bytes = app_settings.MAX_OPEN_UPLOADS, app_settings.MAX_PENDING_BYTES
    limits = {"maxOpenUploads": max_open, "maxPendingBytes": max_bytes}
    if count >= max_open:
        raise exceptions.QuotaExceeded(
            f"You have {count} unfinished uploads, the most allowed. "
            "Complete or delete some, or wait for their URLs to expire.",
            vars={"openUploads": count, "pendingBytes": pending, **limits},
        )
    if pending + adding > max_bytes:
        raise exceptions.QuotaExceeded(
            f"Your unfinished uploads may write {pending} bytes; {adding} more would pass "
            f"the {max_bytes}-byte limit. Complete or delete some, or wait for their URLs "
            "to expire.",
            vars={"openUploads": count, "pendingBytes": pending, "size": adding, **limits},
        )


def _check_content_type(policy: Policy, value: str) -> str:
    content_type = content_types.normalise(value)
    if content_type not in policy.allowed_content_types:
        raise exceptions.InvalidContentType(
            f"{value!r} is not allowed for {policy.name} uploads. "
            f"Allowed: {', '.join(policy.allowed_content_types)}.",
            vars={
                "contentType": value,
                "type": policy.name,
                "allowed": list(policy.allowed_content_types),
            },
        )
    return content_type


def _check_size(policy: Policy, value: Any) -> int | None:
    if value is None:
        if policy.require_size:
            raise exceptions.InvalidSize(
                f"{policy.name} uploads must declare their size in bytes.",
                vars={"type": policy.name},
            )
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 12.0 is 12, in JSON Schema as here
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise exceptions.InvalidSize(vars={"size": value})
    if value > policy.max_size:
        raise exceptions.TooLarge(
            f"{value} bytes is over the {policy.max_size}-byte limit for {policy.name} uploads.",
            vars={"size": value, "maxSize": policy.max_size, "type": policy.name},
        )
    return value


def _check_sha256(policy: Policy, value: Any) -> str | None:
    if value is None or value == "":
        if policy.require_sha256:
            raise exceptions.InvalidChecksum(
                f"{policy.name} uploads must declare their sha256 (base64 of the digest).",
                vars={"type": policy.name},
            )
        return None
    if not isinstance(value, str):
        raise exceptions.InvalidChecksum()
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise exceptions.InvalidChecksum()
    return base64.b64encode(digest).decode()


def _pending_totals(owner_id: Any, now: datetime) -> tuple[int, int]:
    """(count, bytes) of the owner's uploads pending at ``now``, in one indexed query
    (upload_owner_pending). Written as SQL because building it with the ORM cost presign
    more than running it."""
    connection = connections[router.db_for_write(Upload)]
    now = _database_datetime(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(_pending_totals_sql(connection.alias), [owner_id, now])
        count, pending = cursor.fetchone()
    return int(count), int(pending)


@functools.cache
def _lock_owner_sql(alias: str) -> str | None:
    """The statement that locks an owner's row until the transaction ends, on databases
    other than PostgreSQL (its stored function takes an advisory lock) and SQLite (None: no
    row locks; BEGIN IMMEDIATE serializes). A separate statement from the count: under READ
    COMMITTED, a count in the statement that waited for the lock would still see the rows of
    its snapshot from before the wait."""
    connection = connections[alias]
    features = connection.features
    if not features.has_select_for_update:
        return None
    quote = connection.ops.quote_name
    owner = Upload._meta.get_field("owner")
    assert isinstance(owner, ForeignKey)
    table, column = owner.related_model._meta.db_table, owner.target_field.column
    assert column is not None
    lock = connection.ops.for_update_sql()
    return f"SELECT 1 FROM {quote(table)} WHERE {quote(column)} = %s {lock}"


@functools.cache
def _pending_totals_sql(alias: str) -> str:
    return pending_totals.sql(connections[alias], "%s", "%s")
