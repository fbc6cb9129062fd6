"""System checks, with IDs and hints, in one place.

uploads.E001  settings.UPLOADS is malformed
uploads.E002  an upload storage is not configured or has no usable signer
uploads.E003  the local development signer with DEBUG off
uploads.E004  the rate limit is not in django-ratelimit's notation
uploads.E005  an UploadField names no upload types
uploads.E006  an UploadField's owner_field is not a foreign key of its model
uploads.E007  an upload type's storage is not in UPLOADS['STORAGES'] (a database check)
uploads.E009  a model has an UploadField and RequestIDMiddleware is not in MIDDLEWARE
uploads.E011  a variant's format is one this server's Pillow cannot write (a database check)
uploads.E012  an UploadsField's max_files is not a whole number of at least 1 (or None)
uploads.E013  UPLOADS['CHECKS'] names no callable, or the ClamAV scan lacks a usable CLAMD
uploads.E014  active webhook endpoints, and standardwebhooks is not installed (a database check)
uploads.E015  RQ stops the verification task before a copy of a large file may have answered
uploads.E016  the URLconf includes uploads.api without the [api] extra installed
uploads.W001  an in-process cache with DEBUG off: policy edits and rate limits stay per process
uploads.W002  an UploadField names an upload type that does not exist (a database check)
uploads.W003  an upload type's max size is over what complete can verify (a database check)
uploads.W004  an upload type's part size does not suit its storage (a database check)
uploads.W005  auth/token (uploads.api.auth_urls) is served without django-axes guarding logins
uploads.W006  UPLOADS['STAGING_BUCKETS'] names a storage that is not an upload storage
uploads.W007  uploads live in SQLite without transaction_mode IMMEDIATE: the cap is not exact
uploads.W008  the request storage deadline leaves no margin under gunicorn's default timeout
uploads.W009  an upload type declares variants but allows no image it can decode (a database check)
uploads.W010  an UploadsField takes more files than a user may upload at once (MAX_OPEN_UPLOADS)
uploads.W011  an upload type runs a check UPLOADS['CHECKS'] does not offer (a database check)
uploads.W012  active webhook endpoints with DEBUG off, and a task backend that runs no worker:
              only uploads_deliver_webhooks (or uploads_cleanup) sends them (a database check)
uploads.W013  (deploy) the verification task runs inside the request, or never: no worker backend
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
    errors += _check_file_checks()
    return errors


#: The built-in malware scan, which needs UPLOADS["CLAMD"].
CLAMAV_SCAN = "uploads.scanning.clamav.scan"


def _check_file_checks() -> list[Any]:
    from django.utils.module_loading import import_string

    from uploads.scanning.clamd import parse_address

    errors: list[Any] = []
    for name, path in sorted(app_settings.CHECKS.items()):
        problem = None
        try:
            target = import_string(path) if isinstance(path, str) else None
        except ImportError as err:
            problem = f"cannot be imported ({err})"
        else:
            if not callable(target):
                problem = "is not a callable's dotted path"
        if problem:
            errors.append(
                Error(
                    f"UPLOADS['CHECKS']['{name}'] = {path!r} {problem}: uploads of the types "
                    "that run it stay verifying.",
                    hint="Give the dotted path of a function taking an "
                    "uploads.scanning.StagedFile, such as 'myproject.checks.no_macros' (or "
                    f"'{CLAMAV_SCAN}' for the malware scan); see docs/checks.md.",
                    id="uploads.E013",
                )
            )
    clamd = app_settings.CLAMD
    if CLAMAV_SCAN in app_settings.CHECKS.values() and not clamd:
        errors.append(
            Error(
                "UPLOADS['CHECKS'] offers the ClamAV scan, and UPLOADS['CLAMD'] is not set: "
                "it cannot reach clamd, so uploads of the types that run it stay verifying.",
                hint="Set UPLOADS['CLAMD'] to clamd's socket, such as "
                "'unix:///run/clamav/clamd.ctl' or 'tcp://clamd:3310'.",
                id="uploads.E013",
            )
        )
    elif clamd:
        try:
            parse_address(clamd)
        except ValueError as err:
            errors.append(
                Error(
                    f"UPLOADS['CLAMD']: {err}",
                    hint="Set it to 'unix:///run/clamav/clamd.ctl' or 'tcp://clamd:3310'.",
                    id="uploads.E013",
                )
            )
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
        if str(settings.CACHES.get(alias, {}).get("BACKEND", "")).endswith(
            ("LocMemCache", "DummyCache")
        )
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

    from uploads.list_fields import UploadsField
    from uploads.references import HoldsUploads

    models = (
        [m for config in app_configs for m in config.get_models()]
        if app_configs
        else apps.get_models()
    )
    fields: list[tuple[Any, Any]] = [
        (model, field)
        for model in models
        for field in [*model._meta.local_fields, *model._meta.local_many_to_many]
        if isinstance(field, HoldsUploads)
    ]
    errors: list[Any] = []
    for model, field in fields:
        label = f"{model._meta.label}.{field.name}"
        if isinstance(field, UploadsField):
            errors += _max_files_errors(label, field)
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


def _max_files_errors(label: str, field: Any) -> list[Any]:
    max_files = field.max_files
    if max_files is None:
        return []
    if isinstance(max_files, bool) or not isinstance(max_files, int) or max_files < 1:
        return [
            Error(
                f"{label}: max_files must be a whole number of at least 1, not {max_files!r}.",
                hint="Pass max_files=12 (say), or leave it out for no limit.",
                obj=field,
                id="uploads.E012",
            )
        ]
    try:
        max_open = app_settings.MAX_OPEN_UPLOADS
    except ImproperlyConfigured:
        return []  # E001 says why
    if max_files > max_open:
        return [
            Warning(
                f"{label} takes up to {max_files} files, and a user may have only "
                f"{max_open} uploads in flight (UPLOADS['MAX_OPEN_UPLOADS']): choosing them "
                "all at once in its widget refuses the files past that.",
                hint=f"Lower max_files to {max_open} or raise UPLOADS['MAX_OPEN_UPLOADS'].",
                obj=field,
                id="uploads.W010",
            )
        ]
    return []


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
        checks_run = dict(UploadPolicy.objects.values_list("name", "checks"))
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
    for name, names in sorted(checks_run.items()):
        unknown = [check for check in names or [] if check not in app_settings.CHECKS]
        if unknown:
            errors.append(
                Warning(
                    f"Upload type '{name}' runs checks that UPLOADS['CHECKS'] does not offer: "
                    f"{', '.join(map(str, unknown))}. Its uploads stay verifying.",
                    hint=f"Add them to UPLOADS['CHECKS'], or take them off '{name}' in the "
                    "admin's Upload types.",
                    id="uploads.W011",
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


@register(Tags.database)
def check_webhooks(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Any]:
    """Active webhook endpoints need the signing package, and something that sends."""
    if not databases:
        return []
    from uploads.tasks import deliver_webhook
    from uploads.webhooks.models import WebhookEndpoint
    from uploads.webhooks.signing import INSTALL_HINT, webhook_class

    try:
        active = WebhookEndpoint.objects.filter(is_active=True).count()
    except DatabaseError:
        return []  # not migrated yet
    if not active:
        return []
    found: list[Any] = []
    try:
        webhook_class()
    except ImproperlyConfigured:
        found.append(
            Error(
                f"{active} active webhook endpoints, and the standardwebhooks package that "
                "signs their events is not installed: every delivery fails.",
                hint=INSTALL_HINT + ".",
                id="uploads.E014",
            )
        )
    if not settings.DEBUG and not deliver_webhook.get_backend().supports_defer:
        found.append(
            Warning(
                "Webhook deliveries are not handed to a worker: the task backend cannot defer "
                "a task (it runs each one at once, within the request), so only "
                "`manage.py uploads_deliver_webhooks` or `uploads_cleanup` sends them.",
                hint="Run one of them every minute (or uploads_deliver_webhooks --watch 5), or "
                "use a task backend with a worker (TASKS_BACKEND=database and db_worker).",
                id="uploads.W012",
            )
        )
    return found


# --- the tasks backend that verifies large files ---------------------------------------

#: Backends that run a task in the process that enqueues it, or never.
IN_PROCESS_BACKENDS = ("ImmediateBackend", "DummyBackend")


def _verification_backend() -> Any | None:
    from uploads.tasks import verify_upload

    try:
        return verify_upload.get_backend()
    except Exception:  # noqa: BLE001  a TASKS setting that is wrong: the framework's own check
        return None


@register()
def check_rq_job_timeout(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """RQ stops a job at its timeout (its queue's DEFAULT_TIMEOUT in django-rq's RQ_QUEUES,
    180 s by default), and a verification run stopped mid-copy is handed over and stopped
    again, forever: the timeout must cover the copy's attempts at least."""
    backend = _verification_backend()
    if backend is None or not type(backend).__module__.startswith("django_tasks_rq"):
        return []
    from rq import Queue
    from rq.utils import parse_timeout

    from uploads.tasks import verify_upload

    queue = verify_upload.queue_name
    config = getattr(settings, "RQ_QUEUES", {}).get(queue)
    if config is None:
        return []  # django-tasks-rq's own check names the missing queue
    try:
        timeout = parse_timeout(config.get("DEFAULT_TIMEOUT")) or Queue.DEFAULT_TIMEOUT
    except Exception:  # noqa: BLE001  rq's own TimeoutFormatError, raised on first enqueue too
        timeout = 0
    needed = app_settings.STORAGE_COPY_TIMEOUT * app_settings.STORAGE_ATTEMPTS
    if timeout == -1 or timeout >= needed:  # -1: no timeout
        return []
    return [
        Error(
            f"RQ stops the verification task (queue {queue!r}) after {timeout} s, before "
            f"copying a large file may have answered (UPLOADS['STORAGE_COPY_TIMEOUT'] "
            f"{app_settings.STORAGE_COPY_TIMEOUT} s x STORAGE_ATTEMPTS "
            f"{app_settings.STORAGE_ATTEMPTS}): such an upload would be handed from worker to "
            "worker and never settled.",
            hint=f"Set RQ_QUEUES[{queue!r}]['DEFAULT_TIMEOUT'] to at least {needed} (this "
            "project: TASKS_RQ_JOB_TIMEOUT), or lower STORAGE_COPY_TIMEOUT.",
            id="uploads.E015",
        )
    ]


@register(deploy=True)
def check_verification_worker(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """With DEBUG off, large files should be verified by a worker, not inside the request
    that completes them (which the server's worker timeout may kill)."""
    backend = _verification_backend()
    if settings.DEBUG or backend is None or type(backend).__name__ not in IN_PROCESS_BACKENDS:
        return []
    return [
        Warning(
            f"Large files are verified by the tasks backend {type(backend).__name__}, inside "
            "the request that completes them (or never): a file over "
            "UPLOADS['VERIFY_IN_BACKGROUND_ABOVE'] keeps a server worker busy while it is read "
            "and copied, and the server's worker timeout may kill it.",
            hint="Configure a backend with workers in settings.TASKS (django-tasks-db, or "
            "django-tasks-rq on Redis; this project: TASKS_BACKEND=database or rq) and run them.",
            id="uploads.W013",
        )
    ]


@register(Tags.database)
def check_variants(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Any]:
    """Variant declarations this server cannot honour."""
    if not databases:
        return []
    from uploads import content_types
    from uploads.models import VariantSpec
    from uploads.variant_images import formats

    try:
        rows = list(
            VariantSpec.objects.values_list(
                "policy__name", "name", "format", "policy__allowed_content_types"
            )
        )
    except DatabaseError:
        return []  # not migrated yet
    writable = formats()
    errors: list[Any] = []
    for policy, name, fmt, _ in sorted(rows):
        if fmt not in writable:
            errors.append(
                Error(
                    f"Upload type '{policy}' declares variant '{name}' in {fmt}, which this "
                    f"server's Pillow cannot write ({', '.join(writable)}): it is never made.",
                    hint=f"Install a Pillow with {fmt} support, or change the variant's format "
                    "in the admin's Upload types and rebuild (manage.py uploads_variants).",
                    id="uploads.E011",
                )
            )
    no_image = sorted(
        {
            policy
            for policy, _, _, allowed in rows
            if not any(content_types.pillow_format(t) for t in allowed or [])
        }
    )
    for policy in no_image:
        errors.append(
            Warning(
                f"Upload type '{policy}' declares variants but allows no image type this "
                "server decodes: none is ever made.",
                hint=f"Delete the variants of '{policy}', or allow an image type.",
                id="uploads.W009",
            )
        )
    return errors
