"""Complete's locked read of an upload, compiled once per database connection.

The ORM builds, compiles and converts the same query on every complete (the upload, its
type joined, the upload types' revision as a subquery, the row locked): about a third of
complete's CPU in the worker. Here the query is built by the ORM once, its SQL and the way
Django turns its row into instances kept, and each complete only binds the upload's id and
owner, runs the SQL and builds the instances as Django's own iterator would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression, Field, Subquery
from django.db.models.functions import Coalesce
from django.db.transaction import TransactionManagementError

from uploads import exceptions
from uploads.models import PolicyRevision, Upload
from uploads.types import User


class _Slot(Expression):
    """Where a value bound at each read goes: its parameter is the slot itself, found by its
    name in the compiled parameters and replaced by the value."""

    def __init__(self, name: str, output_field: Field[Any, Any]) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:  # noqa: ARG002
        return "%s", (self,)


@dataclass(frozen=True)
class _Related:
    """A row's instance of a model joined by select_related, set on the one it joins as
    Django's RelatedPopulator sets it (whose signature differs across Django versions)."""

    model: Any
    fields: tuple[str, ...]
    columns: slice
    local_setter: Any
    remote_setter: Any

    def populate(self, row: list[Any], alias: str, onto: Any) -> None:
        related = self.model.from_db(alias, self.fields, row[self.columns])
        self.local_setter(onto, related)
        self.remote_setter(related, onto)


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]  # _Slot where the upload's id and owner go
    locks: bool  # FOR UPDATE: only within a transaction
    converters: tuple[tuple[int, tuple[Any, ...], Any], ...]  # (column, converters, field)
    fields: tuple[str, ...]  # the upload's attnames, in the row's order
    upload_columns: slice
    related: tuple[_Related, ...]  # the joined type
    annotations: tuple[tuple[str, int], ...]  # (attribute, column)


#: Where a connection keeps its plan: on it, so that the plan (whose converters are its own
#: methods) lives exactly as long.
PLAN_ATTRIBUTE = "_uploads_locked_read"


def locked_row(owner: User, upload_id: uuid.UUID | str) -> Upload:
    """The owner's upload, row-locked until the transaction ends (only the upload's row),
    with its type and the upload types' revision (``Upload.policy_revision``) read in the
    same query. Deleted ones and other users' ones are missing alike (NotFound)."""
    alias = router.db_for_write(Upload)
    connection = connections[alias]
    plan: _Plan | None = getattr(connection, PLAN_ATTRIBUTE, None)
    if plan is None:
        plan = _compiled(alias)
        setattr(connection, PLAN_ATTRIBUTE, plan)
    if plan.locks and connection.get_autocommit():
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    try:
        bound = _bound(connection, owner, upload_id)
    except (ValueError, ValidationError) as err:
        raise exceptions.NotFound() from err
    params = [bound[p.name] if isinstance(p, _Slot) else p for p in plan.params]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        row = cursor.fetchone()
    if row is None:
        raise exceptions.NotFound()
    return _built(plan, alias, connection, list(row))


def _bound(
    connection: BaseDatabaseWrapper, owner: User, upload_id: uuid.UUID | str
) -> dict[str, Any]:
    """The id and owner as the database takes them, prepared as the ORM prepares a lookup's
    value (a malformed id raises ValidationError)."""
    pk = Upload._meta.pk
    owner_field = Upload._meta.get_field("owner")
    assert pk is not None
    return {
        "id": pk.get_db_prep_value(pk.to_python(upload_id), connection),
        "owner": owner_field.get_db_prep_value(owner.pk, connection),  # type: ignore[union-attr]
    }


def _compiled(alias: str) -> _Plan:
    connection = connections[alias]
    of = ("self",) if connection.features.has_select_for_update_of else ()
    revision = PolicyRevision.objects.filter(pk=1).values("number")
    id_field, owner_field = Upload._meta.pk, Upload._meta.get_field("owner")
    query = (
        Upload.objects.using(alias)
        .select_for_update(of=of)
        .select_related("policy")
        .annotate(policy_revision=Coalesce(Subquery(revision), 0))  # type: ignore[no-redef]
        .exclude(status=Upload.Status.DELETED)
        .filter(pk=_Slot("id", id_field), owner_id=_Slot("owner", owner_field.target_field))
        .query
    )
    compiler = query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    select, klass_info = compiler.select, compiler.klass_info
    assert klass_info is not None
    columns = klass_info["select_fields"]
    converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])
    return _Plan(
        sql=sql,
        params=tuple(params),
        locks=connection.features.has_select_for_update,
        converters=tuple((pos, tuple(c), field) for pos, (c, field) in converters.items()),
        fields=tuple(s[0].target.attname for s in select[columns[0] : columns[-1] + 1]),
        upload_columns=slice(columns[0], columns[-1] + 1),
        related=tuple(_related(info, select) for info in klass_info.get("related_klass_infos", [])),
        annotations=tuple(compiler.annotation_col_map.items()),
    )


def _related(info: dict[str, Any], select: Any) -> _Related:
    columns = info["select_fields"]
    return _Related(
        model=info["model"],
        fields=tuple(s[0].target.attname for s in select[columns[0] : columns[-1] + 1]),
        columns=slice(columns[0], columns[-1] + 1),
        local_setter=info["local_setter"],
        remote_setter=info["remote_setter"],
    )


def _built(plan: _Plan, alias: str, connection: BaseDatabaseWrapper, row: list[Any]) -> Upload:
    """The upload of a row, its type and revision set, as Django's ModelIterable builds it."""
    for pos, converters, field in plan.converters:
        value = row[pos]
        for converter in converters:
            value = converter(value, field, connection)
        row[pos] = value
    upload = Upload.from_db(alias, plan.fields, row[plan.upload_columns])
    for related in plan.related:
        related.populate(row, alias, upload)
    for name, pos in plan.annotations:
        setattr(upload, name, row[pos])
    return upload
