"""Run in a subprocess (tests/test_extras.py): a project with the app but without the
``[api]`` extra, its packages made uninstallable here (``None`` in sys.modules is how Python
marks a module that cannot be imported). The model field, the form widget, the admin and the
services work; including ``uploads.api.urls`` is system check uploads.E016.
Prints what happened as JSON.

    python without_api_extra.py [--with-api-urls]
"""

from __future__ import annotations

import json
import sys

BLOCKED = ("rest_framework", "rest_framework_simplejwt", "django_ratelimit", "drf_spectacular")
for name in BLOCKED:
    sys.modules[name] = None  # type: ignore[assignment]

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import include, path  # noqa: E402

WITH_API_URLS = "--with-api-urls" in sys.argv

settings.configure(
    DEBUG=True,
    SECRET_KEY="not-secret-but-long-enough-for-the-checks-0123456789",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["testserver"],
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
        "uploads",
        "tests.hostapp",
    ],
    MIDDLEWARE=[
        "uploads.middleware.RequestIDMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    STATIC_URL="/static/",
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
)
django.setup()

from django.contrib import admin  # noqa: E402
from django.core import checks  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from tests.hostapp.models import Profile  # noqa: E402
from uploads import services  # noqa: E402, F401
from uploads.services import presign  # noqa: E402, F401

admin.site.register(Profile)
urlpatterns = [path("admin/", admin.site.urls), path("uploads/", include("uploads.urls"))]
if WITH_API_URLS:
    urlpatterns.append(path("api/v1/", include("uploads.api.urls")))

setup_test_environment()
call_command("migrate", verbosity=0)
User = django.contrib.auth.get_user_model()  # type: ignore[attr-defined]
operator = User.objects.create_superuser("op", "op@example.com", "pw-op-1")
client = Client()
client.force_login(operator)
page = client.get("/admin/hostapp/profile/add/")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED and sys.modules[m])
serious = [m for m in checks.run_checks() if m.is_serious()]
print(
    json.dumps(
        {
            "check_ids": sorted({str(m.id) for m in serious}),
            "hints": [m.hint for m in serious],
            "admin_add_page": page.status_code,
            "admin_widget": "data-uploads-widget" in page.content.decode(),
            "api_path": client.get("/api/v1/uploads/types").status_code,
            "imported_api_packages": loaded,
        }
    )
)
