"""The README's "Using the app in your project", as a newcomer follows it: a project made by
startproject, the built wheel installed in a fresh virtualenv, the README's blocks applied as
written, then uploads attached through a ModelForm, the admin and a serializer, and the cover
and the gallery shown in the README's page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from accounts.demo import png_bytes
from tests.live import ROOT
from tests.wheel import build_wheel

pytestmark = pytest.mark.live

#: A README block that is a file: its first line names it, "(add)" when it adds to one
#: (a template's in a template comment).
FILE_BLOCK = re.compile(
    r"```(?:python\n# (\S+\.py)|html\n\{# (\S+\.html) #\})( \(add\))?\n(.*?)```", re.S
)


def readme_files() -> list[tuple[str, bool, str]]:
    """(path, adds to the file, code) of each file block of the README's section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Using the app in your project", 1)[1].split("\n## ", 1)[0]
    return [(m[1] or m[2], bool(m[3]), m[4]) for m in FILE_BLOCK.finditer(section)]


@dataclass(frozen=True)
class Host:
    python: Path
    root: Path
    migration: str

    def run(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [str(self.python), *args],
            cwd=self.root,
            env={
                "PATH": str(self.python.parent),
                "PYTHONPATH": str(self.root),
                "DJANGO_SETTINGS_MODULE": "mysite.settings",
            },
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    work = tmp_path_factory.mktemp("host")
    wheel = build_wheel(work)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        # [api], as the README installs it; django-axes: the README's settings guard its
        # token endpoint with it.
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[api]", "django-axes"],
        check=True,
        timeout=600,
        capture_output=True,
    )
    root = work / "site"
    root.mkdir()
    host = Host(python, root, "")
    host.run("-m", "django", "startproject", "mysite", ".")
    host.run("manage.py", "startapp", "catalog")
    for name, adds, code in readme_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if adds:
            target.write_text(target.read_text() + "\n" + code)
        else:
            target.write_text(code)
    host.run("manage.py", "makemigrations", "catalog")
    (migration,) = (root / "catalog" / "migrations").glob("0001_*.py")
    host.run("manage.py", "migrate", "--noinput")
    return Host(python, root, migration.read_text())


def test_the_readme_shows_every_file_the_walk_through_needs() -> None:
    names = [name for name, _, _ in readme_files()]

    assert names == [
        "mysite/settings.py",
        "mysite/urls.py",
        "catalog/models.py",
        "catalog/forms.py",
        "catalog/admin.py",
        "catalog/api.py",
        "catalog/views.py",
        "catalog/templates/catalog/article_detail.html",
        "catalog/tests.py",
    ]


def test_the_field_migrates_as_a_foreign_key_to_uploads(host: Host) -> None:
    assert "uploads.fields.UploadField(" in host.migration
    assert "types=['media']" in host.migration and "owner_field='author'" in host.migration
    assert "('uploads', " in host.migration  # depends on the app's migrations
    assert (
        "uploads.list_fields.UploadsField(" in host.migration and "max_files=12" in host.migration
    )
    host.run("manage.py", "makemigrations", "--check", "--dry-run")


def test_the_project_passes_its_checks(host: Host) -> None:
    assert "no issues" in host.run("manage.py", "check", "--database", "default")


def test_the_projects_own_tests_pass_with_the_readmes_settings(host: Host) -> None:
    """`manage.py test` turns DEBUG off and runs the system checks first: the README's
    settings pass them (uploads.E003 among them), and the README's tests pass."""
    done = subprocess.run(
        [str(host.python), "manage.py", "test", "catalog", "-v", "2"],
        cwd=host.root,
        env={"PATH": str(host.python.parent), "PYTHONPATH": str(host.root)},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified" in done.stderr and "ERRORS:" not in done.stderr
    assert "Ran 2 tests" in done.stderr and "\nOK\n" in done.stderr


def test_the_readmes_settings_keep_the_local_storage_out_of_production(host: Host) -> None:
    """With DEBUG off in the settings file itself (production), uploads.E003 still refuses."""
    settings = host.root / "mysite" / "settings.py"
    production = host.root / "mysite" / "production.py"
    production.write_text(
        settings.read_text().replace("DEBUG = True", "DEBUG = False\nALLOWED_HOSTS = ['x']")
    )
    done = subprocess.run(
        [str(host.python), "manage.py", "check"],
        cwd=host.root,
        env={
            "PATH": str(host.python.parent),
            "PYTHONPATH": str(host.root),
            "DJANGO_SETTINGS_MODULE": "mysite.production",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode != 0
    assert "uploads.E003" in done.stderr


def test_uploads_attach_through_a_form_the_admin_and_a_serializer(host: Host) -> None:
    png = host.root / "cover.png"
    png.write_bytes(png_bytes(8, 8))
    flow = Path(__file__).with_name("host_project_flow.py")

    report = json.loads(host.run(str(flow), str(png)).strip().splitlines()[-1])

    assert report == {
        "nobody_known_refused": True,
        "form_valid": True,
        "form_cover": True,
        "form_renders_widget": True,
        "form_media": True,
        "forged_value_refused": True,
        "other_posters_value_refused": True,
        "replaced_released": True,
        "gallery_form_valid": True,
        "form_gallery": True,
        "gallery_removal_released": True,
        "admin_widget": True,
        "admin_gallery_widget": True,
        "admin_saved": True,
        "api_status": 201,
        "api_cover_status": "completed",
        "api_gallery": True,
        "other_users_upload": [404, "upload.not_found"],
        "in_use_delete": 409,
        "page_shows_cover": True,
        "page_shows_gallery": True,
        "page_cover_served": True,
        "api_cover_url": True,
        "page_shows_thumb": True,
        "page_thumb_served": True,
    }
