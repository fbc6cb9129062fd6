"""Settings of the runnable project, from the environment (12-factor).

With nothing set: SQLite in var/, uploads on local disk signed by the app, an in-process
cache. DATABASE_URL, REDIS_URL and UPLOADS_STORAGE switch to the real services.
"""

from __future__ import annotations

import os
from datetime import timedelta
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.checkout_secrets import checkout_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1 or 0).")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)


def secret(name: str, file_name: str) -> str:
    """The secret in environment variable ``name``; with DEBUG on and none set, one made for
    this checkout and kept in var/ (never a key shared by every copy of the code)."""
    value = os.environ.get(name, "")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"Set {name} (or DJANGO_DEBUG=1 for local development).")
    return checkout_secret(VAR_DIR / file_name)


SECRET_KEY = secret("DJANGO_SECRET_KEY", "secret_key")
# Apart from SECRET_KEY: a leak of one (a signed cookie's key, say) forges no API tokens.
JWT_SIGNING_KEY = secret("JWT_SIGNING_KEY", "jwt_signing_key")
if JWT_SIGNING_KEY == SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from DJANGO_SECRET_KEY.")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# HTTPS: on by default without DEBUG. DJANGO_BEHIND_PROXY=1 trusts X-Forwarded-Proto from
# the proxy that terminates TLS (it must set or strip that header on every request).
HTTPS = env_bool("DJANGO_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
if env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The client address login lockouts count by: REMOTE_ADDR, or the request header a trusted
# proxy sets to it (e.g. HTTP_X_REAL_IP). Never a header a client could send straight to us.
CLIENT_IP_HEADER = os.environ.get("DJANGO_CLIENT_IP_HEADER") or None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "uploads",
]
# Background tasks (complete verifies large files in one): Django's tasks framework, or the
# django-tasks backport before Django 6. TASKS_BACKEND=immediate runs a task at once in the
# process that enqueues it (development, tests); TASKS_BACKEND=database stores it for a
# worker (`manage.py db_worker`, django-tasks-db); TASKS_BACKEND=rq puts it on an RQ queue in
# Redis for `manage.py rqworker` (django-tasks-rq; docs/scaling.md). `make worker` starts
# whichever worker this names (config/worker.py).
if find_spec("django.tasks") is None:
    INSTALLED_APPS.append("django_tasks")
TASKS_BACKEND = os.environ.get("TASKS_BACKEND", "immediate")
#: The queue the rq backend uses, and the workers listen on.
TASKS_QUEUE = "default"
TASKS: dict[str, dict[str, Any]]
if TASKS_BACKEND == "immediate":
    _TASKS_PACKAGE = "django.tasks" if "django_tasks" not in INSTALLED_APPS else "django_tasks"
    TASKS = {"default": {"BACKEND": f"{_TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}
elif TASKS_BACKEND == "database":
    INSTALLED_APPS.append("django_tasks_db")
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_BACKEND == "rq":
    _TASKS_REDIS_URL = os.environ.get("TASKS_REDIS_URL") or os.environ.get("REDIS_URL", "")
    if not _TASKS_REDIS_URL:
        raise ImproperlyConfigured(
            "TASKS_BACKEND=rq needs Redis: set TASKS_REDIS_URL (or REDIS_URL, shared with the "
            "cache), e.g. redis://queue.internal:6379/1."
        )
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [TASKS_QUEUE]}}
    RQ_QUEUES = {
        TASKS_QUEUE: {
            # Through a cache of its own (CACHES["rq"], below), whose pooled connections
            # every enqueue reuses: from a URL, django-rq connects afresh for each job.
            "USE_REDIS_CACHE": "rq",
            # RQ stops a job that runs longer (180 s unless set): a verification reads and
            # copies a whole file, up to UPLOADS["STORAGE_COPY_TIMEOUT"] per copy attempt.
            "DEFAULT_TIMEOUT": int(os.environ.get("TASKS_RQ_JOB_TIMEOUT", "1800")),
        }
    }
    # `manage.py rqworker` runs Django's tasks (django-tasks-rq's Job class), forking a work
    # horse per job from a worker that built the storage clients once (config/rq_worker.py).
    # Each job is enqueued in one round trip to Redis (config/rq_queue.py).
    RQ = {
        "JOB_CLASS": "django_tasks_rq.Job",
        "WORKER_CLASS": "config.rq_worker.Worker",
        "QUEUE_CLASS": "config.rq_queue.Queue",
    }
else:
    raise ImproperlyConfigured(
        f"TASKS_BACKEND={TASKS_BACKEND!r}: use immediate, database or rq (or set TASKS yourself)."
    )

MIDDLEWARE = [
    "uploads.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login that axes refused into its lockout page (config.lockout).
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out client before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
# Request bodies the API reads into memory (JSON): larger ones answer 413. Files go straight
# to storage, or stream through the local PUT, and are not bound by this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # 2.5 MiB
# Messages live server-side: the admin shows a new API key once in a message, and the default
# storage would put it in a (signed, not encrypted) cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:profile"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        # A kept connection the server dropped is replaced at the next request, not used
        # (and failed with a 500).
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Its health check costs no round trip (config/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Waits for a writer instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        # WAL lets readers run beside the writer and makes each commit one fsync-less append.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

REDIS_URL = os.environ.get("REDIS_URL", "")
# Without Redis: each process's own. Three entries a user (a rate-limit count, a token
# version, ...): Django's default of 300 would cull them, past a hundred users, faster than
# they are of use (a culled count resets the user's rate limit too).
IN_PROCESS_CACHE: dict[str, Any] = {
    "BACKEND": "config.cache.InProcessLocMemCache",
    "OPTIONS": {"MAX_ENTRIES": 50_000},
}
CACHES: dict[str, dict[str, Any]] = {
    "default": (
        {"BACKEND": "config.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else IN_PROCESS_CACHE
    )
}
if TASKS_BACKEND == "rq":
    CACHES["rq"] = {"BACKEND": "config.cache.ReusedClientRedisCache", "LOCATION": _TASKS_REDIS_URL}

# Where uploads go: UPLOADS_STORAGE picks the provider of the "default" storage, configured
# from django-storages' own variable names (config/storage_env/<provider>.py).
UPLOADS_STORAGE = os.environ.get("UPLOADS_STORAGE", "local")
if UPLOADS_STORAGE not in ("local", "s3", "azure", "gcs"):
    raise ImproperlyConfigured(
        f"UPLOADS_STORAGE={UPLOADS_STORAGE!r}: use one of local, s3, azure, gcs."
    )
_storage_env = import_module(f"config.storage_env.{UPLOADS_STORAGE}")
UPLOADS_STORAGE_CONFIG = _storage_env.storage_config(os.environ, VAR_DIR)

STORAGES = {
    "default": UPLOADS_STORAGE_CONFIG,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

UPLOADS = {
    "STORAGES": ["default"],
    "RATE_LIMIT": os.environ.get("UPLOADS_RATE_LIMIT", "30/m"),
    "PUBLIC_BASE_URL": os.environ.get("UPLOADS_PUBLIC_BASE_URL", ""),
    "LOCAL_ALLOW_WITHOUT_DEBUG": env_bool("UPLOADS_LOCAL_ALLOW_WITHOUT_DEBUG", False),
    # 0: an admin edit of an upload type applies from the very next request in every process.
    "POLICY_CACHE_SECONDS": int(os.environ.get("UPLOADS_POLICY_CACHE_SECONDS", "0")),
    # PostgreSQL: presign commits without waiting for the WAL's flush (docs/operations.md).
    "PRESIGN_ASYNC_COMMIT": env_bool("UPLOADS_PRESIGN_ASYNC_COMMIT", False),
    # A private bucket or container for staging objects (AZURE_STAGING_CONTAINER,
    # GS_STAGING_BUCKET_NAME), beside a public one.
    "STAGING_BUCKETS": _storage_env.staging_buckets(os.environ),
    # Complete checks larger files (and every multipart upload) in a background task.
    "VERIFY_IN_BACKGROUND_ABOVE": int(
        os.environ.get("UPLOADS_VERIFY_IN_BACKGROUND_ABOVE", str(64 * 1024**2))
    ),
    # A file complete read whole and at most this large is written to its key from the bytes
    # it verified, not copied (0: always copied).
    "WRITE_VERIFIED_UP_TO": int(os.environ.get("UPLOADS_WRITE_VERIFIED_UP_TO", str(1024**2))),
    # Seconds after a worker died mid-verification before uploads_cleanup hands the upload
    # to another (docs/scaling.md).
    "VERIFY_LEASE": int(os.environ.get("UPLOADS_VERIFY_LEASE", "120")),
}

# The malware scan (docs/checks.md): UPLOADS_CLAMD (unix:///run/clamav/clamd.ctl or
# tcp://host:3310) offers it to the upload types as "clamav"; choose it per type in the admin.
if os.environ.get("UPLOADS_CLAMD"):
    UPLOADS["CHECKS"] = {"clamav": "uploads.scanning.clamav.scan"}
    UPLOADS["CLAMD"] = os.environ["UPLOADS_CLAMD"]

# Login lockouts (django-axes) on every login surface: /login/, /admin/login/, auth/token.
# A user name from one address is locked after LOGIN_FAILURE_LIMIT wrong passwords, so that
# a stranger's guesses never lock the user out of their own address; an address alone after
# LOGIN_ADDRESS_FAILURE_LIMIT, whatever the names, so that it cannot spray many names.
AXES_HANDLER = "config.lockout.LoginFailures"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "20"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
# A locked-out client trying again (the user with the right password, say) does not push the
# end of the lockout back.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success resets nothing: the guesser could otherwise clear its address's count by logging
# in to an account of its own.
AXES_RESET_ON_SUCCESS = False
AXES_USERNAME_CALLABLE = "config.lockout.folded_username"
AXES_CLIENT_IP_CALLABLE = "config.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "config.lockout.locked_out"
# With DEBUG on only: local tools on 127.0.0.1 or ::1 are never locked out (docs/operations.md).
AXES_WHITELIST_CALLABLE = "config.lockout.local_tool_in_debug"
# Failures only: a row per successful login (and a session made for its hash, on the API)
# would cost every login a write.
AXES_DISABLE_ACCESS_LOG = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: it takes only "Bearer upk_..." and leaves other tokens to simplejwt.
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.VersionedJWTAuthentication",
        # Pages of this site, signed in with a Django session (CSRF enforced): uploads.js
        # and the upload widget send the CSRF token.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["uploads.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "uploads.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Seconds the cache holds each user's token version (accounts.token_versions): a JWT is then
# checked without a query. A revocation reaches every process at once through the cache; one
# the cache missed (down at the time) takes up to this long. 0: the user's row on every request.
ACCOUNTS_TOKEN_VERSION_CACHE_SECONDS = int(os.environ.get("TOKEN_VERSION_CACHE_SECONDS", "300"))
SIMPLE_JWT = {
    "SIGNING_KEY": JWT_SIGNING_KEY,
    # Minutes in production; an hour in development, so that the token `make run` prints
    # lasts through a first look.
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "60" if DEBUG else "10"))
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_OBTAIN_SERIALIZER": "accounts.tokens.ObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.tokens.RefreshSerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "django-upload-policies API",
    "DESCRIPTION": "Direct-to-storage uploads: presign, upload to storage, complete. Every "
    "answer is an envelope: `{success: true, data, meta: {requestId}}` or `{success: false, "
    "error: {code, message, i18nKey, i18nVars, details, correlationId}}`, and carries "
    "X-Request-ID. The reference with examples: docs/api.md.",
    "VERSION": "1",
    # 3.1: the components are plain JSON Schema (null as a type), which validators read as is.
    "OAS_VERSION": "3.1.0",
    "TAGS": [
        {"name": "auth", "description": "JWT access and refresh tokens."},
        {"name": "uploads", "description": "Presign, send to storage, complete; read, delete."},
        {"name": "users", "description": "The caller's profile and avatar."},
        {"name": "media", "description": "Media items, each linking one completed upload."},
    ],
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "uploads.api.strict_schema.require_bodies",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# The Uppy demo page (/demo/uppy/) serves Uppy's bundle from npm (`npm install`) as
# static/uppy/uppy.min.mjs; without node_modules that page says how to get it.
UPPY_DIST = BASE_DIR / "node_modules" / "uppy" / "dist"
STATICFILES_DIRS = [("uppy", UPPY_DIST)] if UPPY_DIST.is_dir() else []
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "uploads.middleware.RequestIDLogFilter"},
        "no_server_request_lines": {"()": "uploads.middleware.NoServerRequestLines"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # The access line (uploads.access, from RequestIDMiddleware) is the one line per
        # request. Django's own console handler (DEBUG only) would print its records again.
        "django": {"handlers": [], "propagate": True},
        # "Not Found: /path" and the like repeat the access line; errors keep their traceback.
        "django.request": {"level": "ERROR"},
        # runserver's line per request, too; its other messages pass.
        "django.server": {
            "handlers": ["console"],
            "filters": ["no_server_request_lines"],
            "level": "INFO",
            "propagate": False,
        },
        # The Azure SDK logs every request and response at INFO.
        "azure": {"level": "WARNING"},
    },
}
