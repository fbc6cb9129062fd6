"""What ships, and that models and migrations agree."""

from __future__ import annotations

import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.wheel import build_wheel


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


def test_wheel_holds_the_app_and_nothing_of_the_project(tmp_path: Path) -> None:
    names = zipfile.ZipFile(build_wheel(tmp_path)).namelist()
    assert "uploads/templates/uploads/widgets/upload.html" in names
    assert "uploads/static/uploads/upload_widget.js" in names
    assert not any(name.startswith("tests/") for name in names)
    assert "uploads/py.typed" in names
    assert "uploads/migrations/0001_initial.py" in names
    assert "uploads/migrations/0002_default_policies.py" in names
    assert "uploads/signers/base.py" in names
    assert "uploads/static/uploads/uploads.js" in names
    assert "uploads/templates/uploads/upload_demo.html" in names
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & {"config", "accounts", "tests", "bench", "docs"}
