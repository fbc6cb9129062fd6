"""Several uploads per row, in order: ``UploadsField``.

    class Article(models.Model):
        author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
        gallery = UploadsField(types=["media"], owner_field="author", max_files=12, blank=True)

A many-to-many relation to ``uploads.Upload`` whose link table (made by the field, as Django
makes any) also records each upload's position. ``article.gallery`` reads the uploads in
order (``for upload in article.gallery: upload.url``); ``article.gallery.set([...])``,
``add()``, ``remove()`` and ``clear()`` keep the rules of ``UploadField``: only completed
uploads of ``types``; another user's only when given to whoever attaches it (then handed to
the row's owner) and in no other owner's row. An upload taken out of the list, or in the
list of a deleted row, is released (deleted once nothing else uses it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from django.db import connection, models, transaction
from django.db.models import signals
from django.db.models.fields.related_descriptors import ManyToManyDescriptor

from uploads import exceptions as upload_errors
from uploads import references
from uploads.list_widgets import UploadsFormField
from uploads.models import Upload
from uploads.ownership import Owner, RowOwned, Types, check_attachable, resolve_types
from uploads.services.attach import is_ready

POSITION = "position"  # the link table's column that orders a row's uploads

UploadRef = Upload | uuid.UUID | str

if TYPE_CHECKING:
    # To type checkers a many-to-many of Uploads; at run time ManyToManyField takes no
    # subscript.
    _ManyUploads = models.ManyToManyField[Upload, Any]
else:
    _ManyUploads = models.ManyToManyField


class UploadsField(references.HoldsUploads, RowOwned, _ManyUploads):
    """An ordered list of completed uploads of ``types``.

    ``types`` and ``owner_field``: as for ``UploadField``. ``max_files``: how many the list
    may hold (None: no limit). ``blank=True`` lets a form save an empty list.
    """

    description = "An ordered list of completed uploads of the given types"

    def __init__(
        self,
        types: Types = (),
        owner_field: Owner = None,
        *,
        max_files: int | None = None,
        to: Any = "uploads.Upload",
        related_name: str | None = "+",
        **kwargs: Any,
    ) -> None:
        self.types = types if callable(types) else tuple(types)
        self.owner_field = owner_field
        self.max_files = max_files
        super().__init__(to, related_name=related_name, **kwargs)

    # --- definition -----------------------------------------------------------------------

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["types"] = self.types if callable(self.types) else list(self.types)
        if self.owner_field is not None:
            kwargs["owner_field"] = self.owner_field
        if self.max_files is not None:
            kwargs["max_files"] = self.max_files
        if kwargs.get("to") in ("uploads.upload", "uploads.Upload"):
            del kwargs["to"]
        # ManyToManyField names a hidden reverse relation after the model ("_app_model_f_+").
        if str(kwargs.get("related_name", "")).endswith("+"):
            del kwargs["related_name"]
        return name, path, args, kwargs

    def contribute_to_class(
        self, cls: type[models.Model], name: str, private_only: bool = False, **kwargs: Any
    ) -> None:
        super().contribute_to_class(cls, name, private_only=private_only, **kwargs)
        if cls._meta.abstract:
            return
        through: Any = self.remote_field.through
        if through._meta.auto_created and POSITION not in {f.name for f in through._meta.fields}:
            through.add_to_class(POSITION, models.PositiveIntegerField(default=0))
        setattr(cls, self.name, OrderedUploadsDescriptor(self.remote_field, reverse=False))
        # Historical models (migrations) keep no uploads of their own.
        if cls.__module__ == "__fake__":
            return
        uid = f"uploads.list_field:{cls._meta.label}.{name}"
        signals.pre_delete.connect(self._before_delete, sender=cls, dispatch_uid=uid)
        signals.post_delete.connect(self._after_delete, sender=cls, dispatch_uid=uid)

    def contribute_to_related_class(self, cls: type[models.Model], related: Any) -> None:
        super().contribute_to_related_class(cls, related)
        through: Any = self.remote_field.through
        if not isinstance(through, str) and through._meta.auto_created:
            # Like UploadField's RESTRICT: an upload in a list goes only with the row.
            link = through._meta.get_field(self.m2m_reverse_field_name())
            link.remote_field.on_delete = models.RESTRICT  # type: ignore[union-attr]

    def formfield(self, **kwargs: Any) -> Any:
        # ManyToManyField's would be a <select multiple> of every upload; the admin passes a
        # queryset.
        for name in ("queryset", "to_field_name", "limit_choices_to", "blank"):
            kwargs.pop(name, None)
        return models.Field.formfield(
            self,
            **{
                "form_class": UploadsFormField,
                "types": self.types,
                "max_files": self.max_files,
                "check": self.check_uploads,
                **kwargs,
            },
        )

    # --- reading --------------------------------------------------------------------------

    @property
    def _link(self) -> tuple[Any, str, str]:
        """(the link table's model, its column naming the row, its column naming the
        upload)."""
        through: Any = self.remote_field.through
        row = through._meta.get_field(self.m2m_field_name())
        upload = through._meta.get_field(self.m2m_reverse_field_name())
        return through, row.attname, upload.attname

    def stored_ids(self, instance: models.Model, *, lock: bool = False) -> list[uuid.UUID]:
        """The ids of the row's uploads as saved, in order."""
        if instance.pk is None:
            return []
        through, row, upload = self._link
        links = through._base_manager.filter(**{row: instance.pk})
        if lock and connection.in_atomic_block:
            links = links.select_for_update()
        return list(links.order_by(POSITION).values_list(upload, flat=True))

    # --- the rules ------------------------------------------------------------------------

    def check_count(self, count: int) -> None:
        if self.max_files is not None and count > self.max_files:
            raise upload_errors.InvalidState(
                f"At most {self.max_files} files fit here; this list has {count}.",
                vars={"maxFiles": self.max_files, "count": count},
            )

    def check_uploads(self, instance: models.Model | None, uploads: Sequence[Upload]) -> None:
        """Refuse a list the row may not hold, as its form and serializer fields do before
        saving (``store`` checks again, under lock)."""
        self.check_count(len(uploads))
        previous = set(self.stored_ids(instance)) if instance is not None else set()
        for upload in uploads:
            if upload.pk not in previous:
                self._check_new(instance, upload, given=is_ready(upload))

    def _check_new(self, instance: models.Model | None, upload: Upload | None, given: bool) -> bool:
        """Refuse an upload the row may not add to its list, as UploadField refuses one;
        returns whether it moves to the row's owner once saved."""
        check_attachable(upload, resolve_types(self.types))
        assert upload is not None
        # Without the row (a plain form), the owner is checked when the list is stored.
        return instance is not None and self.check_owner(instance, upload, given=given)

    # --- writing --------------------------------------------------------------------------

    def store(self, instance: models.Model, uploads: Iterable[UploadRef]) -> None:
        """Make the row's list ``uploads``, in that order (a repeated one keeps its first
        place), or raise the refusal and change nothing."""
        if instance.pk is None:
            raise ValueError(f"Save the {instance._meta.verbose_name} before setting {self.name}.")
        uploads = list(uploads)
        wanted = list(dict.fromkeys(_upload_id(u) for u in uploads))
        ready = {u.pk for u in uploads if isinstance(u, Upload) and is_ready(u)}
        through, row, upload_column = self._link
        with transaction.atomic():
            # Locked first: two edits of one list at once each see the other's, and release
            # exactly what each took out.
            rows = type(instance)._base_manager.filter(pk=instance.pk)
            list(rows.select_for_update().values_list("pk", flat=True))
            previous = self.stored_ids(instance, lock=True)
            if wanted == previous:
                return
            self.check_count(len(wanted))
            candidates = Upload.objects.select_related("policy")
            if connection.features.has_select_for_update_of:
                # Held until commit, so that no delete of the upload runs beside this link.
                candidates = candidates.select_for_update(of=("self",))
            else:
                candidates = candidates.select_for_update()
            handed_over = []
            for upload_id in wanted:
                if upload_id in previous:
                    continue
                upload = candidates.filter(pk=upload_id).first()
                if self._check_new(instance, upload, given=upload_id in ready):
                    handed_over.append(upload_id)
            through._base_manager.filter(**{row: instance.pk}).delete()
            through._base_manager.bulk_create(
                through(**{row: instance.pk, upload_column: upload_id, POSITION: position})
                for position, upload_id in enumerate(wanted)
            )
            if handed_over:
                # The owner is read now: a user saved for the first time has an id only now.
                owner_id = self.owner_id_of(instance)[1]
                Upload.objects.filter(pk__in=handed_over).update(owner_id=owner_id)
            for upload_id in previous:
                if upload_id not in wanted:
                    references.release(upload_id)
        # As ManyToManyField's own set() does: a prefetched list is stale now.
        instance.__dict__.get("_prefetched_objects_cache", {}).pop(self.name, None)

    def _before_delete(self, instance: models.Model, **kwargs: Any) -> None:
        instance.__dict__[f"_uploads_held_{self.name}"] = self.stored_ids(instance)

    def _after_delete(self, instance: models.Model, **kwargs: Any) -> None:
        for upload_id in instance.__dict__.pop(f"_uploads_held_{self.name}", []):
            references.release(upload_id)


def _upload_id(ref: UploadRef) -> uuid.UUID:
    if isinstance(ref, Upload):
        return ref.pk  # type: ignore[no-any-return]
    if isinstance(ref, uuid.UUID):
        return ref
    try:
        return uuid.UUID(str(ref))
    except ValueError:
        raise upload_errors.NotFound() from None


def _in_order(uploads: models.QuerySet[Upload], field: UploadsField) -> models.QuerySet[Upload]:
    # The link table is already joined (the row's filter runs through it).
    through: Any = field.remote_field.through
    table = through._meta.db_table
    return uploads.extra(order_by=[f"{table}.{POSITION}"])


class OrderedUploadsDescriptor(ManyToManyDescriptor):
    """``row.<field>``: the row's uploads in order, changed only under the field's rules."""

    @cached_property
    def related_manager_cls(self) -> Any:
        base = super().related_manager_cls
        field = cast(UploadsField, self.field)

        class OrderedUploads(base):  # type: ignore[valid-type,misc]
            def get_queryset(self) -> Any:
                return _in_order(super().get_queryset(), field)

            def get_prefetch_querysets(self, instances: Any, querysets: Any = None) -> Any:
                uploads, *rest = super().get_prefetch_querysets(instances, querysets)
                return (_in_order(uploads, field), *rest)

            def __iter__(self) -> Any:
                return iter(self.all())

            def set(self, objs: Iterable[UploadRef], **kwargs: Any) -> None:
                field.store(self.instance, list(objs))

            def add(self, *objs: UploadRef, **kwargs: Any) -> None:
                field.store(self.instance, [*field.stored_ids(self.instance), *objs])

            def remove(self, *objs: UploadRef) -> None:
                gone = {_upload_id(u) for u in objs}
                kept = [u for u in field.stored_ids(self.instance) if u not in gone]
                field.store(self.instance, kept)

            def clear(self) -> None:
                field.store(self.instance, [])

        return OrderedUploads
