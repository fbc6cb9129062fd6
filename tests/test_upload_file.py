"""An UploadField's value behaves like a file: ``url`` (public, or signed afresh and
short-lived for a private type; none unless completed), ``open()`` on the stored object, and
``upload.file`` with name, size, content type and dimensions, in templates and as the source
of a thumbnail library (sorl-thumbnail), on the local storage and on S3."""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.template import Context, Engine
from django.test import Client
from django.utils import timezone
from PIL import Image

from tests.backends import Backend
from tests.backends.s3 import S3Backend
from tests.conftest import make_png
from tests.helpers import avatar_row, make_upload, use_storage, write_object
from tests.hostapp.models import Poster
from uploads import exceptions, services
from uploads.app_settings import app_settings
from uploads.keys import staging_key
from uploads.models import Upload

pytestmark = pytest.mark.django_db

NOT_COMPLETED = ["pending", "verifying", "rejected", "expired", "deleted"]


def fetched(url: str) -> bytes:
    response = Client().get(url)
    assert response.status_code == 200, (url, response.status_code)
    return b"".join(response.streaming_content) if response.streaming else response.content


def render(source: str, **context: Any) -> str:
    engine = Engine(libraries={"thumbnail": "sorl.thumbnail.templatetags.thumbnail"})
    return engine.from_string(source).render(Context(context)).strip()


# --- url ---------------------------------------------------------------------------------


def test_a_public_uploads_url_is_its_public_url(user: Any) -> None:
    body = make_png(3, 3, b"public")
    upload = make_upload(user, "avatar", body)

    assert upload.url == upload.file.url == services.public_url(upload)
    assert fetched(upload.url) == body


def test_a_private_uploads_url_is_signed_afresh_and_short_lived(user: Any) -> None:
    body = make_png(3, 3, b"private")
    upload = make_upload(user, "document", body)
    assert services.public_url(upload) is None

    with time_machine.travel(timezone.now(), tick=False) as clock:
        first = upload.url
        assert first is not None and fetched(first) == body

        clock.shift(timedelta(seconds=app_settings.DOWNLOAD_EXPIRY + 1))
        assert Client().get(first).status_code == 403  # the URL read earlier has expired
        again = upload.url
        assert again is not None and again != first and fetched(again) == body


@pytest.mark.parametrize("status", NOT_COMPLETED)
def test_an_upload_that_is_not_completed_is_no_file(user: Any, status: str) -> None:
    upload = avatar_row(user, status, make_png(2, 2))

    assert upload.url is None
    assert not upload.file and upload.file.name == "" and upload.file.size is None
    with pytest.raises(exceptions.InvalidState, match=f"this one is {status}"):
        upload.open()


# --- open() and the file's facts ----------------------------------------------------------


def test_open_streams_the_completed_object_at_its_key_not_its_staging_key(user: Any) -> None:
    body = make_png(5, 5, b"kept")
    upload = make_upload(user, "avatar", body)
    staging = storages["default"]
    staging.delete(staging_key(upload.key))
    write_object(upload.key, make_png(5, 5, b"other"))  # the upload URL written again

    with upload.open() as stream:
        assert stream.read() == body


def test_open_is_read_only(user: Any) -> None:
    upload = make_upload(user)

    with pytest.raises(ValueError, match="read-only"):
        upload.open("wb")


def test_the_file_has_the_verified_name_size_type_and_dimensions(user: Any) -> None:
    body = make_png(6, 4, b"facts")
    upload = make_upload(user, "avatar", body, file_name="holiday.png")
    upload.width, upload.height = 6, 4  # as complete records them (uploads.models.Upload)

    file = upload.file
    assert file and file.name == str(file) == upload.key
    assert file.file_name == "holiday.png"
    assert file.size == len(body) and file.content_type == "image/png"
    assert (file.width, file.height) == (6, 4)
    assert file.storage is storages["default"]


@pytest.mark.parametrize("name", ["s3", "azure", "gcs"])
def test_on_each_cloud_storage_the_file_opens_and_its_private_url_serves_it(
    request: pytest.FixtureRequest,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    user: Any,
    name: str,
) -> None:
    backend: Backend = request.getfixturevalue(f"{name}_backend")
    for variable, value in backend.client_env().items():
        monkeypatch.setenv(variable, value)
    use_storage(settings, backend.storage_config())
    body = make_png(7, 7, name.encode())
    upload = make_upload(user, "document", body)  # private

    with upload.open() as stream:
        assert stream.read() == body
    assert upload.url is not None
    with urllib.request.urlopen(upload.url, timeout=10) as answer:
        assert answer.read() == body


# --- templates -----------------------------------------------------------------------------

PAGE = (
    '{% if poster.image.url %}<img src="{{ poster.image.url }}" '
    'alt="{{ poster.image.file.file_name }}">{% else %}no image{% endif %}'
)


def test_a_template_shows_the_fields_file_by_its_url(user: Any) -> None:
    poster = Poster.objects.create(image=make_upload(user, file_name="p.png"))
    poster = Poster.objects.select_related("image").get(pk=poster.pk)

    assert poster.image is not None
    assert render(PAGE, poster=poster) == f'<img src="{poster.image.url}" alt="p.png">'
    assert render(PAGE, poster=Poster.objects.create()) == "no image"


# --- a thumbnail library ---------------------------------------------------------------------


@pytest.fixture
def sorl(settings: Any, tmp_path: Any) -> Iterator[None]:
    """sorl-thumbnail with a key-value store in a file, on the test's storages (its lazy
    defaults are reset so that they pick up this test's settings)."""
    from django.utils.functional import empty
    from sorl.thumbnail import default, images

    settings.THUMBNAIL_KVSTORE = "sorl.thumbnail.kvstores.dbm_kvstore.KVStore"
    settings.THUMBNAIL_DBM_FILE = str(tmp_path / "thumbnails.dbm")

    def reset() -> None:
        for lazy in (default.backend, default.kvstore, default.engine, default.storage):
            lazy._wrapped = empty
        images.get_or_create_storage.cache_clear()

    reset()
    yield
    reset()


# sorl deprecates stores other than its database one, which needs its app and table; a file
# is enough here.
SORL_WARNING = pytest.mark.filterwarnings("ignore:Using any other KVStore:DeprecationWarning")

THUMBNAIL = (
    '{% load thumbnail %}{% thumbnail poster.image.file "16x16" as im %}'
    '<img src="{{ im.url }}" width="{{ im.width }}" height="{{ im.height }}">'
    "{% empty %}no image{% endthumbnail %}"
)


def made_thumbnail(user: Any) -> tuple[str, Image.Image]:
    """A 64x32 cover's thumbnail, through the template tag: its tag and its decoded bytes."""
    poster = Poster.objects.create(image=make_upload(user, "avatar", make_png(64, 32)))
    shown = render(THUMBNAIL, poster=Poster.objects.get(pk=poster.pk))

    from sorl.thumbnail import get_thumbnail

    thumbnail = get_thumbnail(poster.image.file, "16x16")  # the same, from the key-value store
    assert thumbnail.name != poster.image.key
    with storages["default"].open(thumbnail.name, "rb") as fh:
        return shown, Image.open(io.BytesIO(fh.read()))


@SORL_WARNING
def test_sorl_thumbnail_makes_a_thumbnail_of_the_fields_file(user: Any, sorl: None) -> None:
    shown, image = made_thumbnail(user)

    assert 'width="16" height="8"' in shown
    assert image.size == (16, 8)


@SORL_WARNING
def test_sorl_thumbnail_makes_a_thumbnail_of_a_file_on_s3(
    settings: Any, s3_backend: S3Backend, user: Any, sorl: None
) -> None:
    use_storage(settings, s3_backend.storage_config())

    shown, image = made_thumbnail(user)

    assert 'width="16" height="8"' in shown
    assert image.size == (16, 8)


@SORL_WARNING
def test_no_thumbnail_of_an_upload_that_is_not_completed(user: Any, sorl: None) -> None:
    upload = avatar_row(user, "rejected", make_png(64, 32))
    # Bytes at its key too, as a copy whose completion rolled back leaves them.
    storages["default"].save(upload.key, ContentFile(make_png(64, 32)))
    poster = Poster()
    poster.image = upload  # unsaved: the field never holds it, a template may still be given it

    assert render(THUMBNAIL, poster=poster) == "no image"
    assert Upload.objects.get(pk=upload.pk).status == "rejected"
