"""The app without its ``[api]`` extra: the field, the widget, the admin and the services
work and import none of the API's packages; including the API's URLs is check uploads.E016."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.live import ROOT
from uploads.api_extra import INSTALL

SCRIPT = ROOT / "tests" / "without_api_extra.py"


def run_without_api_extra(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_field_widget_and_admin_work_without_the_api_packages() -> None:
    report = run_without_api_extra()

    assert report == {
        "check_ids": [],
        "hints": [],
        "admin_add_page": 200,
        "admin_widget": True,
        "api_path": 404,
        "imported_api_packages": [],
    }


def test_including_the_api_urls_without_the_extra_is_an_error_naming_it() -> None:
    report = run_without_api_extra("--with-api-urls")

    assert report["check_ids"] == ["uploads.E016"]
    assert report["hints"] == ["Install the API's extra: " + INSTALL]
    assert report["imported_api_packages"] == []


def test_the_api_urls_serve_when_the_extra_is_installed() -> None:
    from django.core.checks import run_checks

    assert not [m for m in run_checks() if m.id == "uploads.E016"]


def test_the_model_fields_and_services_import_nothing_of_the_api_layer() -> None:
    code = (
        "import sys, django; from django.conf import settings; settings.configure("
        "INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth', 'uploads'], "
        "DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}); "
        "django.setup(); "
        "import uploads.fields, uploads.list_fields, uploads.list_widgets, uploads.files, "
        "uploads.models, uploads.services, uploads.services.complete, uploads.tasks; "
        "print(sorted(m for m in sys.modules if m == 'uploads.api' or "
        "m.startswith(('uploads.api.', 'rest_framework'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
