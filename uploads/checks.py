"""System checks, with IDs and hints, in one place.

uploads.E001  settings.UPLOADS is malformed
uploads.E002  an upload storage is not configured or has no usable signer
uploads.E003  the local development signer with DEBUG off
uploads.E004  the rate limit is not in django-ratelimit's notation
uploads.E005  an UploadField names no upload types
uploads.E006  an UploadField's owner_field is not a foreign key of its model
uploads.E007  an upload type's storage is not in UPLOADS['STORAGES'] (a database check)
uploads.E009  a model has an UploadField and RequestIDMiddleware is not in MIDDLEWARE
uploads.E016  the URLconf includes uploads.api without the [api] extra installed
uploads.W001  an in-process cache with DEBUG off: policy edits and rate limits stay per process
uploads.W002  an UploadField names an upload type that does not exist (a database check)
uploads.W003  an upload type's max size is over what complete can verify (a database check)
uploads.W004  an upload type's part size does not suit its storage (a database check)
uploads.W005  auth/token (uploads.api.auth_urls) is served without django-axes guarding logins
uploads.W006  UPLOADS['STAGING_BUCKETS'] names a storage that is not an upload storage
uploads.W007  uploads live in SQLite without transaction_mode IMMEDIATE: the cap is not exact
uploads.W008  the request storage deadline leaves no margin under gunicorn's default timeout
uploads.W014  auth/token behind a proxy, with axes counting the proxy's address for every client

The database checks run with ``migrate`` and ``manage.py check --database default``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.util import find_spec
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import DatabaseError

from uploads import content_types
from uploads.api_extra import INSTALL, missing_api_packages
from uploads.app_settings import app_settings


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    try:
        app_settings.validate()
        content_types.declared()
    except (ImproperlyConfigured, ValueError) as err:
        return [Error(str(err), hint="Fix settings.UPLOADS.", id="uploads.E001")]
    errors: list[Any] = []
    errors += _check_storages()
    errors += _check_staging_buckets()
    errors += _check_rate()
    errors += _check_cache()
    errors += _check_sqlite_transactions()
    errors += _check_deadline()
    return errors


#: gunicorn's default --timeout: a worker silent that long is killed (a bare 500).
WORKER_TIMEOUT = 30


def _check_deadline() -> list[Any]:
    # A last attempt may start just before the deadline and spend its connect timeout.
    worst = app_settings.REQUEST_STORAGE_DEADLINE + app_settings.STORAGE_CONNECT_TIMEOUT
    if worst < WORKER_TIMEOUT:
        return []
    return [
        Warning(
            f"UPLOADS['REQUEST_STORAGE_DEADLINE'] ({app_settings.REQUEST_STORAGE_DEADLINE} s) "
            f"plus STORAGE_CONNECT_TIMEOUT reach gunicorn's default worker timeout "
            f"({WORKER_TIMEOUT} s): a frozen storage gets the worker killed (a bare 500) "
            "before the API answers 503.",
            hint="Lower REQUEST_STORAGE_DEADLINE, or raise the server's worker timeout "
            "(gunicorn --timeout) well above it and silence this check.",
            id="uploads.W008",
        )
    ]


def _check_storages() -> list[Any]:
    from uploads.signers import SignerNotConfigured, signer_class_for
    from uploads.signers.local import LocalSigner

    errors: list[Any] = []
    for alias in app_settings.STORAGES:
        try:
            signer_class = signer_class_for(alias)
        except SignerNotConfigured as err:
            errors.append(
                Error(
                    str(err),
                    hint=(
                        f"Configure STORAGES['{alias}'], "
                        f"or remove '{alias}' from UPLOADS['STORAGES']."
                    ),
                    id="uploads.E002",
                )
            )
            continue
        if (
            issubclass(signer_class, LocalSigner)
            and not settings.DEBUG
            and not app_settings.LOCAL_ALLOW_WITHOUT_DEBUG
        ):
            errors.append(
                Error(
                    f"Storage '{alias}' uses the local development signer while DEBUG is off.",
                    hint=(
                        "Use a cloud storage in production, or set "
                        "UPLOADS['LOCAL_ALLOW_WITHOUT_DEBUG'] = True to accept the risk."
                    ),
                    id="uploads.E003",
                )
            )
    return errors


def _check_staging_buckets() -> list[Any]:
    """A staging bucket is where unverified bytes stay private: one set for a storage whose
    signer cannot route to it is E002 (every presign would fail); one for no upload storage
    is most likely a misspelt alias, leaving that storage's staging objects beside its files."""
    from uploads.signers import SignerNotConfigured, signer_class_for

    errors: list[Any] = []
    for alias in app_settings.STAGING_BUCKETS:
        if alias not in app_settings.STORAGES:
            errors.append(
                Warning(
                    f"UPLOADS['STAGING_BUCKETS'] names '{alias}', which is not in "
                    "UPLOADS['STORAGES']: no staging object goes there.",
                    hint="Use the alias of the upload storage whose staging objects it holds.",
                    id="uploads.W006",
                )
            )
            continue
        try:
            supported = signer_class_for(alias).supports_staging_bucket
        except SignerNotConfigured:
            continue  # E002 already
        if not supported:
            errors.append(
                Error(
                    f"Storage '{alias}' has a staging bucket in UPLOADS['STAGING_BUCKETS'], "
                    "but its signer keeps staging objects in the storage itself.",
                    hint=(
                        f"Remove '{alias}' from UPLOADS['STAGING_BUCKETS'] (on S3, limit the "
                        "bucket policy to the public types' prefixes instead)."
                    ),
                    id="uploads.E002",
                )
            )
    return errors


def _check_rate() -> list[Any]:
    if find_spec("django_ratelimit") is None:  # only the API limits rates ([api] extra)
        return []
    return _check_one_rate("RATE_LIMIT")


def _check_one_rate(key: str) -> list[Any]:
    from django_ratelimit.core import _split_rate

    rate = getattr(app_settings, key)
    try:
        # django-ratelimit reads only a prefix ("30/x" would be 30 per second) and fails
        # with AttributeError on text that does not start like a rate ("lots").
        if not re.fullmatch(r"[0-9]+/[0-9]*[smhdSMHD]", rate):
            raise ValueError(rate)
        count, seconds = _split_rate(rate)
    except (ValueError, AttributeError, KeyError, TypeError):
        count = seconds = 0
    if count <= 0 or seconds <= 0:
        return [
            Error(
                f"UPLOADS['{key}'] = {rate!r} is not a rate.",
                hint="Write it like '30/m' (per s, m, h or d).",
                id="uploads.E004",
            )
        ]
    return []


def _check_cache() -> list[Any]:
    if app_settings.CACHE_ALIAS not in settings.CACHES:
        # Every presign would fail with InvalidCacheBackendError.
        return [
            Error(
                f"UPLOADS['CACHE_ALIAS'] = {app_settings.CACHE_ALIAS!r} is not in settings.CACHES.",
                hint=f"Choose one of: {', '.join(settings.CACHES)}.",
                id="uploads.E001",
            )
        ]
    # Policy versions live in CACHE_ALIAS; django-ratelimit keeps its counts in its own
    # RATELIMIT_USE_CACHE.
    uses = {
        app_settings.CACHE_ALIAS: "policy edits reach the other workers only after a restart",
        getattr(settings, "RATELIMIT_USE_CACHE", "default"): "each keeps its own rate-limit counts",
    }
    problems = [
        why
        for alias, why in uses.items()
        if settings.CACHES.get(alias, {}).get("BACKEND", "").endswith(("LocMemCache", "DummyCache"))
    ]
    if not settings.DEBUG and problems:
        return [
            Warning(
                "A cache the uploads app relies on lives in one process: with several "
                f"workers, {' and '.join(problems)}.",
                hint="Use a shared cache such as Redis (set REDIS_URL in this project).",
                id="uploads.W001",
            )
        ]
    return []


@register(Tags.urls)
def check_api_extra(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    missing = missing_api_packages()
    if not missing or not getattr(settings, "ROOT_URLCONF", None):
        return []
    from django.urls import get_resolver

    from uploads.api import unavailable

    if not _includes(get_resolver().url_patterns, unavailable):
        return []
    return [
        Error(
            "The URLconf includes the uploads API (uploads.api.urls or uploads.api.auth_urls), "
            f"which serves nothing without {', '.join(missing)}.",
            hint=f"Install the API's extra: {INSTALL}",
            id="uploads.E016",
        )
    ]


def _includes(patterns: Iterable[Any], urlconf: Any) -> bool:
    """Whether ``patterns`` include ``urlconf``, at any depth."""
    return any(
        pattern.urlconf_module is urlconf or _includes(pattern.url_patterns, urlconf)
        for pattern in patterns
        if hasattr(pattern, "url_patterns")
    )


@register(Tags.security, Tags.urls)
def check_login_throttling(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("uploads-auth:token")
    except NoReverseMatch:
        return []  # the project logs clients in some other way
    if _axes_guards_logins():
        return _check_lockouts_behind_proxy()
    return [
        Warning(
            "auth/token (uploads.api.auth_urls) takes passwords with no limit on wrong ones: "
            "django-axes is not installed and configured.",
            hint="pip install django-axes; add 'axes' to INSTALLED_APPS, "
            "'axes.backends.AxesStandaloneBackend' first in AUTHENTICATION_BACKENDS and "
            "'axes.middleware.AxesMiddleware' last in MIDDLEWARE (README: Logins).",
            id="uploads.W005",
        )
    ]


def _check_lockouts_behind_proxy() -> list[Any]:
    behind_proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None) or getattr(
        settings, "USE_X_FORWARDED_HOST", False
    )
    if not behind_proxy or _axes_knows_client_addresses():
        return []
    return [
        Warning(
            "auth/token (uploads.api.auth_urls) is served behind a proxy, and django-axes "
            "takes REMOTE_ADDR, the proxy's address, for every client's: the per-address "
            "lockout then locks everyone out at once.",
            hint="Tell axes where the proxy puts the client's address: AXES_CLIENT_IP_CALLABLE, "
            "or AXES_IPWARE_PROXY_COUNT and AXES_IPWARE_META_PRECEDENCE_ORDER (README: rate "
            "limits and lockouts behind a proxy).",
            id="uploads.W014",
        )
    ]


def _axes_knows_client_addresses() -> bool:
    order = tuple(getattr(settings, "AXES_IPWARE_META_PRECEDENCE_ORDER", None) or ())
    return bool(
        getattr(settings, "AXES_CLIENT_IP_CALLABLE", None)
        or getattr(settings, "AXES_IPWARE_PROXY_COUNT", None)
        or order not in ((), ("REMOTE_ADDR",))
    )


def _check_sqlite_transactions() -> list[Any]:
    from django.db import router

    from uploads.models import Upload

    alias = router.db_for_write(Upload)
    database = settings.DATABASES.get(alias, {})
    if not database.get("ENGINE", "").endswith("sqlite3"):
        return []
    mode = str(database.get("OPTIONS", {}).get("transaction_mode") or "").upper()
    if mode in ("IMMEDIATE", "EXCLUSIVE"):
        return []
    # SQLite has no row locks: presign's count and insert are one step only when BEGIN takes
    # the write lock. Deferred, two presigns both count, and the second writer fails.
    return [
        Warning(
            f"Uploads are stored in the SQLite database {alias!r}, whose transactions start "
            "deferred: concurrent presigns can pass the open-upload cap, and writes can fail "
            "with 'database is locked'.",
            hint=f"Set DATABASES[{alias!r}]['OPTIONS']['transaction_mode'] = 'IMMEDIATE'.",
            id="uploads.W007",
        )
    ]


def _axes_guards_logins() -> bool:
    from django.apps import apps
    from django.utils.module_loading import import_string

    if not apps.is_installed("axes"):
        return False
    from axes.backends import AxesStandaloneBackend

    def is_axes(path: Any) -> bool:
        try:
            return issubclass(import_string(path), AxesStandaloneBackend)
        except (ImportError, TypeError):  # Django's own checks name a broken backend
            return False

    backends = getattr(settings, "AUTHENTICATION_BACKENDS", [])
    return bool(getattr(settings, "AXES_ENABLED", True)) and any(map(is_axes, backends))


@register(Tags.models)
def check_upload_fields(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from django.apps import apps
    from django.db.models import ForeignKey

    from uploads.fields import UploadField

    models = (
        [m for config in app_configs for m in config.get_models()]
        if app_configs
        else apps.get_models()
    )
    fields = [
        (model, field)
        for model in models
        for field in model._meta.local_fields
        if isinstance(field, UploadField)
    ]
    errors: list[Any] = []
    for model, field in fields:
        label = f"{model._meta.label}.{field.name}"
        if not callable(field.types) and (
            not field.types or not all(isinstance(t, str) and t for t in field.types)
        ):
            errors.append(
                Error(
                    f"{label} names no upload types.",
                    hint="Pass types=['avatar', ...]: the upload types it may hold.",
                    obj=field,
                    id="uploads.E005",
                )
            )
        if isinstance(field.owner_field, str):
            try:
                owner = model._meta.get_field(field.owner_field)
            except FieldDoesNotExist:
                owner = None
            if not isinstance(owner, ForeignKey):  # a OneToOneField is one too
                errors.append(
                    Error(
                        f"{label}: owner_field '{field.owner_field}' is not a foreign key of "
                        f"{model._meta.label}.",
                        hint="Name the ForeignKey to the user who owns the row, or pass a "
                        "function of the row that returns the owner.",
                        obj=field,
                        id="uploads.E006",
                    )
                )
    middleware = "uploads.middleware.RequestIDMiddleware"
    if fields and middleware not in getattr(settings, "MIDDLEWARE", []):
        errors.append(
            Error(
                f"{fields[0][0]._meta.label}.{fields[0][1].name} is an UploadField, and "
                f"{middleware} is not in MIDDLEWARE: its forms cannot know who posts them, "
                "so they refuse every upload.",
                hint=f'Add MIDDLEWARE.insert(0, "{middleware}") to your settings.',
                id="uploads.E009",
            )
        )
    return errors


@register(Tags.database)
def check_upload_types(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Any]:
    """What only the database knows: each type's storage, and the types fields name."""
    if not databases:
        return []
    from uploads.fields import resolve_types
    from uploads.models import UploadPolicy, part_size_problem, unverifiable_size
    from uploads.references import upload_fields
    from uploads.signers import SignerNotConfigured, signer_class_for
    from uploads.validators import under_staging_prefix

    try:
        rows = list(
            UploadPolicy.objects.values_list(
                "name", "storage", "key_prefix", "allowed_content_types", "max_size", "part_size"
            )
        )
    except DatabaseError:
        return []  # not migrated yet: migrate runs these checks again next time
    policies = {name: alias for name, alias, *_ in rows}
    staging = app_settings.STAGING_PREFIX.strip("/")
    errors: list[Any] = []
    for name, alias, prefix, allowed, max_size, part_size in sorted(rows):
        try:
            signer_class = signer_class_for(alias)
        except SignerNotConfigured:
            signer_class = None  # E002 or E007 says why
        problem = (
            part_size_problem(part_size, max_size, signer_class.part_limits)
            if signer_class is not None and signer_class.supports_multipart
            else None
        )
        if problem:
            errors.append(
                Warning(
                    f"Upload type '{name}': {problem} Its multipart uploads use parts of "
                    "another size.",
                    hint=f"Change the part size of '{name}' in the admin's Upload types.",
                    id="uploads.W004",
                )
            )
        if under_staging_prefix(prefix):
            errors.append(
                Error(
                    f"Upload type '{name}' keeps its files under '{prefix}', inside the staging "
                    f"prefix '{staging}' that signed URLs write and the sweep clears.",
                    hint=f"Give '{name}' another key prefix, or set UPLOADS['STAGING_PREFIX'].",
                    id="uploads.E008",
                )
            )
        problem = unverifiable_size(allowed, max_size)
        if problem:
            errors.append(
                Warning(
                    f"Upload type '{name}': {problem} Larger files are rejected on complete.",
                    hint=f"Lower the max size of '{name}' in the admin's Upload types.",
                    id="uploads.W003",
                )
            )
    for name, alias in sorted(policies.items()):
        if alias not in app_settings.STORAGES:
            errors.append(
                Error(
                    f"Upload type '{name}' uses storage '{alias}', which is not in "
                    f"UPLOADS['STORAGES'] ({', '.join(app_settings.STORAGES)}): its presigns "
                    "answer 503.",
                    hint=(
                        f"Add '{alias}' to UPLOADS['STORAGES'] (configured in STORAGES), or "
                        f"choose another storage for '{name}' in the admin's Upload types."
                    ),
                    id="uploads.E007",
                )
            )
    for model, field in upload_fields():
        unknown = sorted(set(resolve_types(field.types)) - set(policies))
        if unknown:
            errors.append(
                Warning(
                    f"{model._meta.label}.{field.name} takes upload types that do not exist: "
                    f"{', '.join(unknown)}.",
                    hint="Add them in the admin's Upload types (or a data migration).",
                    obj=field,
                    id="uploads.W002",
                )
            )
    return errors
