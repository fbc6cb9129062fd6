"""Variants declared per upload type: made by a task once an image completes, from the
verified bytes (upright, without metadata, under the pixel cap), stored beside the original
on the same storage, served like it (public, or only through a signed URL), rebuilt when
the declaration changes and deleted with the upload. On each real storage backend."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageOps

from tests.backends import Backend, activate
from tests.helpers import assert_ok, complete, make_upload, presign_ok, use_storage
from tests.metadata_images import SECRET, gps_exif, metadata_in
from tests.requirements import require_postgres
from tests.test_staging_private import public_read_policy
from uploads.files import UnknownVariant
from uploads.models import Upload, UploadPolicy, Variant, VariantSpec
from uploads.services import variants
from uploads.services.admin_actions import reverify_uploads
from uploads.services.variants import make_variants, progress

pytestmark = pytest.mark.django_db

THUMB = {"width": 16, "height": 16, "fit": "crop", "format": "webp", "quality": 80}
LARGE = {"width": 40, "height": 40, "fit": "fit", "format": "jpeg", "quality": 85}


def turned_photo() -> bytes:
    """A 60 x 30 JPEG, red on the left and blue on the right, whose EXIF says to show it
    turned a quarter (so 30 x 60 upright), with GPS, XMP and a comment."""
    image = Image.new("RGB", (60, 30), (220, 20, 20))
    image.paste((20, 20, 220), (30, 0, 60, 30))
    out = io.BytesIO()
    image.save(
        out,
        "JPEG",
        quality=95,
        exif=gps_exif(orientation=6),
        xmp=b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>",
        comment=SECRET,
    )
    return out.getvalue()


PHOTO = turned_photo()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def top_and_bottom(image: Image.Image) -> tuple[Any, Any]:
    rgb = image.convert("RGB")
    return rgb.getpixel((rgb.width // 2, 1)), rgb.getpixel((rgb.width // 2, rgb.height - 2))


def reddish(pixel: Any) -> bool:
    return bool(pixel[0] > 150 and pixel[2] < 100)


def bluish(pixel: Any) -> bool:
    return bool(pixel[2] > 150 and pixel[0] < 100)


@pytest.fixture
def declare() -> Callable[..., UploadPolicy]:
    """Declare exactly these variants on an upload type, as an operator does."""

    def do(type_name: str = "avatar", **specs: dict[str, Any]) -> UploadPolicy:
        policy = UploadPolicy.objects.get(name=type_name)
        policy.variant_specs.all().delete()
        for name, spec in specs.items():
            declared = VariantSpec(policy=policy, name=name, **spec)
            declared.full_clean()
            declared.save()
        return policy

    return do


@pytest.fixture
def completed(api: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Upload]:
    """Send ``body`` as a client would to the active backend and complete it, running what
    runs once that commits (the variants task, on the immediate backend)."""

    def do(backend: Backend, body: bytes = PHOTO, **fields: Any) -> Upload:
        answer = presign_ok(api, body, **{"contentType": "image/jpeg", **fields})
        assert backend.send(answer, body, answer["headers"]) < 300
        with django_capture_on_commit_callbacks(execute=True):
            assert_ok(complete(api, answer["id"]))
        return Upload.objects.select_related("policy").get(pk=answer["id"])

    return do


def fresh(upload: Upload) -> Upload:
    return Upload.objects.select_related("policy").get(pk=upload.pk)


def fetch(url: str) -> tuple[int, bytes]:
    """GET as anyone would: over HTTP for a storage's URL, through the project for a local
    one (relative)."""
    if url.startswith("/") or url.startswith("http://testserver"):
        response = Client().get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
        return response.status_code, body
    answer = requests.get(url, timeout=10)
    return answer.status_code, answer.content


# --- on every storage backend -----------------------------------------------------------


@pytest.fixture(params=["local", "s3", "azure", "gcs"])
def backend(
    request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    return activate(request, settings, monkeypatch)


def test_variants_are_made_upright_without_metadata_served_and_deleted_with_the_upload(
    backend: Backend,
    api: Any,
    declare: Any,
    completed: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    declare(thumb=THUMB, large=LARGE)
    upload = completed(backend, PHOTO)

    answer = assert_ok(api.get(f"/api/v1/uploads/{upload.pk}"))
    assert set(answer["variants"]) == {"thumb", "large"}
    thumb, large = upload.variant("thumb"), upload.variant("large")
    assert thumb.ready and large.ready
    assert (thumb.width, thumb.height, thumb.content_type) == (16, 16, "image/webp")
    # 60 x 30 shown turned is 30 x 60; fit within 40 x 40 is 20 x 40.
    assert (large.width, large.height, large.content_type) == (20, 40, "image/jpeg")
    keys = [thumb.key, large.key]
    stem = upload.key.rsplit(".", 1)[0]
    assert all(k.startswith(f"{stem}/") for k in keys), keys  # beside the original

    for variant, fmt in ((thumb, "WEBP"), (large, "JPEG")):
        stored = backend.read(variant.key)
        assert stored is not None
        image = decoded(stored)
        assert (image.format, image.size) == (fmt, (variant.width, variant.height))
        assert metadata_in(stored) == {} and "icc_profile" not in image.info
        # As public as the original: where anyone reads the original, anyone reads it.
        status, served = fetch(answer["variants"][variant.name])
        assert status == fetch(answer["publicUrl"])[0]
        assert served == stored if status == 200 else status in (401, 403)
        with variant.open() as fh:
            assert fh.read() == stored
    # Upright: the left of the stored photo (red) is the top once turned.
    top, bottom = top_and_bottom(decoded(backend.read(large.key) or b""))
    assert reddish(top) and bluish(bottom), (top, bottom)
    shown = ImageOps.exif_transpose(decoded(PHOTO))
    assert shown is not None and reddish(top_and_bottom(shown)[0])

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/uploads/{upload.pk}").status_code in (200, 204)
    assert [backend.read(k) for k in keys] == [None, None]
    assert backend.read(upload.key) is None
    gone = fresh(upload)
    assert gone.variant("thumb").url is None and not gone.variant("thumb").ready


# --- S3: private variants only through a signed URL; rebuilds replace the objects --------


def test_s3_private_variants_are_served_only_through_a_signed_url(
    s3_backend: Any, settings: Any, api: Any, declare: Any, completed: Any
) -> None:
    bucket = s3_backend.new_bucket()
    use_storage(settings, s3_backend.storage_config(bucket_name=bucket))
    # The documented public setup: only the public types' prefixes read anonymously.
    s3_backend.admin.put_bucket_policy(
        Bucket=bucket, Policy=public_read_policy(bucket, "avatars/*")
    )
    declare("document", thumb=THUMB)
    declare("avatar", thumb=THUMB)
    private = completed(s3_backend, type="document")
    public = completed(s3_backend)

    variant = private.variant("thumb")
    assert variant.ready
    unsigned = f"{s3_backend.server.endpoint}/{bucket}/{variant.key}"
    assert requests.get(unsigned, timeout=10).status_code == 403
    signed = assert_ok(api.get(f"/api/v1/uploads/{private.pk}"))["variants"]["thumb"]
    assert "X-Amz-Signature=" in signed
    assert fetch(signed) == (200, s3_backend.read(variant.key, bucket=bucket))
    # The public type's variant reads anonymously, as its original does.
    open_thumb = public.variant("thumb")
    assert fetch(f"{s3_backend.server.endpoint}/{bucket}/{open_thumb.key}")[0] == 200
    assert "X-Amz-Signature" not in (open_thumb.url or "")


def test_s3_a_changed_declaration_is_stale_until_rebuilt_and_the_rebuild_replaces_it(
    s3_backend: Any,
    settings: Any,
    api: Any,
    declare: Any,
    completed: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    bucket = s3_backend.new_bucket()  # leaves nothing in the shared one
    use_storage(settings, s3_backend.storage_config(bucket_name=bucket))
    policy = declare(thumb=THUMB)
    upload = completed(s3_backend)
    before = upload.variant("thumb").key

    spec = VariantSpec.objects.get(policy=policy, name="thumb")
    spec.width, spec.height = 24, 12
    spec.save()
    stale = fresh(upload).variant("thumb")
    assert (stale.ready, stale.state, stale.url) == (False, "pending", None)
    assert assert_ok(api.get(f"/api/v1/uploads/{upload.pk}"))["variants"] == {"thumb": None}
    assert str(progress(policy)) == "0 of 1 uploads have current variants"

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("uploads_variants", "--type", "avatar", "--stale-only", stdout=out)
    assert f"avatar: 1/1 {upload.pk}: made thumb" in out.getvalue()
    assert "avatar: 1 of 1 uploads have current variants." in out.getvalue()
    rebuilt = fresh(upload).variant("thumb")
    assert rebuilt.ready and (rebuilt.width, rebuilt.height) == (24, 12)
    assert rebuilt.key != before
    assert s3_backend.read(before, bucket=bucket) is None  # the replaced object is gone
    assert decoded(s3_backend.read(rebuilt.key, bucket=bucket) or b"").size == (24, 12)


# --- local storage: the rest of the behaviour ----------------------------------------


@pytest.fixture
def local(local_backend: Backend, settings: Any) -> Backend:
    use_storage(settings, local_backend.storage_config())
    return local_backend


def test_a_variant_not_made_yet_says_so_and_an_unknown_name_names_the_declared_ones(
    local: Backend, declare: Any, completed: Any, api: Any
) -> None:
    upload = completed(local)  # no variants declared yet
    declare(thumb=THUMB, large=LARGE)
    upload = fresh(upload)

    thumb = upload.variant("thumb")
    assert (thumb.ready, thumb.state, thumb.url, thumb.width) == (False, "pending", None, None)
    assert upload.variants["large"].url is None and list(upload.variants) == ["large", "thumb"]
    with pytest.raises(Exception, match="is pending"):
        thumb.open()
    with pytest.raises(UnknownVariant) as raised:
        upload.variant("huge")
    assert str(raised.value) == (
        "No variant 'huge' is declared for this upload's type (declared: large, thumb)."
    )
    answer = assert_ok(api.get(f"/api/v1/uploads/{upload.pk}"))
    assert answer["variants"] == {"large": None, "thumb": None}
    assert answer["publicUrl"]  # the original is there; it is never given as a variant


def test_making_twice_makes_nothing_more_and_keeps_the_objects(
    local: Backend, declare: Any, completed: Any
) -> None:
    declare(thumb=THUMB)
    upload = completed(local)
    key = upload.variant("thumb").key

    assert make_variants(upload.pk) == []  # current already
    assert make_variants(upload.pk, rebuild=True) == ["thumb"]  # the same bytes, same key
    assert fresh(upload).variant("thumb").key == key and local.read(key)
    assert Variant.objects.filter(upload=upload).count() == 1


def test_a_redeclaration_while_a_run_works_is_not_recorded_and_its_object_goes(
    local: Backend, declare: Any, completed: Any, django_capture_on_commit_callbacks: Any
) -> None:
    policy = declare(thumb=THUMB)
    upload = completed(local)
    spec = policy.variant_specs.get()
    # A run that read the declaration before an operator changed it to this one:
    before = VariantSpec(policy=policy, name="thumb", **{**THUMB, "width": 8})
    made = variants._made(upload, before, PHOTO, "JPEG")
    assert made.key and local.read(made.key)
    with django_capture_on_commit_callbacks(execute=True):
        assert variants.record(upload.pk, [made]) == []
    assert local.read(made.key) is None
    assert fresh(upload).variant("thumb").key.endswith(f"thumb-{spec.digest}.webp")


def test_over_the_pixel_cap_the_variant_fails_recorded_and_the_original_stays(
    local: Backend, declare: Any, completed: Any, edit_policy: Any, api: Any, admin_client: Any
) -> None:
    upload = completed(local)
    edit_policy("avatar", max_pixels=100)  # lowered after the upload completed
    declare(thumb=THUMB)

    assert make_variants(upload.pk) == []
    thumb = fresh(upload).variant("thumb")
    assert (thumb.state, thumb.url) == ("failed", None)
    assert thumb.error == "The image has 60 x 30 pixels, over the type's limit of 100 pixels."
    answer = assert_ok(api.get(f"/api/v1/uploads/{upload.pk}"))
    assert answer["status"] == "completed" and answer["variants"] == {"thumb": None}
    assert fetch(answer["publicUrl"]) == (200, PHOTO)
    page = admin_client.get(f"/admin/uploads/upload/{upload.pk}/change/").content.decode()
    assert "no thumbnail" in page and "over the type&#x27;s limit of 100 pixels" in page


def test_a_private_variant_is_not_public_on_the_local_storage(
    local: Backend, declare: Any, completed: Any
) -> None:
    declare("document", thumb=THUMB)
    upload = completed(local, type="document")
    thumb = upload.variant("thumb")
    assert thumb.ready
    assert fetch(reverse("uploads:local-file", args=[thumb.key]))[0] == 404
    assert fetch(thumb.url or "") == (200, local.read(thumb.key))


def test_a_rejected_upload_loses_its_variants(
    local: Backend, declare: Any, completed: Any, django_capture_on_commit_callbacks: Any
) -> None:
    declare(thumb=THUMB)
    upload = completed(local)
    key = upload.variant("thumb").key
    storage = storages["default"]
    storage.delete(upload.key)  # the stored file changed behind the app's back
    storage.save(upload.key, io.BytesIO(PHOTO[:-10]))

    with django_capture_on_commit_callbacks(execute=True):
        assert reverify_uploads(Upload.objects.filter(pk=upload.pk)) == {"rejected": 1}
    assert local.read(key) is None
    assert fresh(upload).variant("thumb").url is None


# --- the admin, the signal, the demo's profile page -------------------------------------

CHANGE = "/admin/uploads/uploadpolicy/{}/change/"


def inline_rows(*rows: dict[str, Any]) -> dict[str, str]:
    data = {
        "variant_specs-TOTAL_FORMS": str(len(rows)),
        "variant_specs-INITIAL_FORMS": "0",
        "variant_specs-MIN_NUM_FORMS": "0",
        "variant_specs-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data |= {f"variant_specs-{i}-{k}": str(v) for k, v in row.items()}
    return data


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"name": "no good"}, "name", "letters, numbers, underscores or hyphens"),
        ({"width": "0"}, "width", "greater than or equal to 1"),
        ({"height": "20000"}, "height", "From 1 to 10000 pixels."),
        ({"fit": "stretch"}, "fit", "Select a valid choice"),
        ({"format": "gif"}, "format", "Select a valid choice"),
        ({"quality": "101"}, "quality", "less than or equal to 100"),
    ],
)
def test_the_admin_refuses_a_bad_variant_naming_the_field(
    admin_client: Client, row: dict[str, str], field: str, message: str
) -> None:
    from tests.test_policy_revision import policy_form

    media = UploadPolicy.objects.get(name="media")
    form = policy_form(media) | inline_rows({"name": "thumb", **THUMB, **row})

    response = admin_client.post(CHANGE.format(media.pk), form)

    assert response.status_code == 200, "the form was accepted"
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert field in errors and message in str(errors[field]), errors
    assert not media.variant_specs.exists()


def test_the_admin_refuses_a_format_this_pillow_cannot_write(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_policy_revision import policy_form
    from uploads import variant_images

    monkeypatch.setattr(variant_images, "_has", lambda feature: feature != "avif")
    media = UploadPolicy.objects.get(name="media")
    form = policy_form(media) | inline_rows({"name": "thumb", **{**THUMB, "format": "avif"}})

    response = admin_client.post(CHANGE.format(media.pk), form)

    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert list(errors["format"]) == [
        "One of webp, jpeg, png (the formats this server's Pillow can write)."
    ]


def test_the_admin_declares_variants_rebuilds_them_and_shows_progress(
    local: Backend,
    admin_client: Client,
    declare: Any,
    completed: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from tests.test_policy_revision import policy_form

    media = UploadPolicy.objects.get(name="media")
    first, second = completed(local, type="media"), completed(local, type="media")
    with django_capture_on_commit_callbacks(execute=True):
        saved = admin_client.post(
            CHANGE.format(media.pk), policy_form(media) | inline_rows({"name": "thumb", **THUMB})
        )
    assert saved.status_code == 302, saved.context and saved.context["errors"]
    page = admin_client.get(CHANGE.format(media.pk)).content.decode()
    assert "0 of 2 uploads have current variants" in page

    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            "/admin/uploads/uploadpolicy/",
            {"action": "rebuild_variants", "_selected_action": [media.pk]},
            follow=True,
        )
    shown = [str(m) for m in answer.context["messages"]]
    assert any(m.startswith("media: enqueued 2 of 2 uploads to rebuild") for m in shown), shown
    assert all(fresh(u).variant("thumb").ready for u in (first, second))
    page = admin_client.get(CHANGE.format(media.pk)).content.decode()
    assert "2 of 2 uploads have current variants" in page
    listing = admin_client.get("/admin/uploads/upload/").content.decode()
    assert f'src="{fresh(first).variant("thumb").url}"' in listing


def test_a_backend_refusing_the_task_is_logged_and_the_command_makes_it(
    local: Backend,
    declare: Any,
    completed: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from uploads import tasks

    def refuse(*args: Any) -> None:
        raise RuntimeError("queue down")

    monkeypatch.setattr(tasks, "make_variants", SimpleNamespace(enqueue=refuse))
    declare(thumb=THUMB)
    upload = completed(local)
    assert "Could not enqueue the variants of upload" in caplog.text
    assert fresh(upload).variant("thumb").state == "pending"

    out = io.StringIO()
    call_command("uploads_variants", stdout=out)
    assert f"avatar: 1/1 {upload.pk}: made thumb" in out.getvalue()
    assert fresh(upload).variant("thumb").ready


def test_variants_made_is_sent_with_the_names_made(
    local: Backend, declare: Any, completed: Any
) -> None:
    from uploads.signals import variants_made

    sent: list[tuple[str, list[str]]] = []

    def receive(upload: Upload, names: list[str], **_: Any) -> None:
        sent.append((str(upload.pk), names))

    variants_made.connect(receive)
    try:
        declare(thumb=THUMB, large=LARGE)
        upload = completed(local)
    finally:
        variants_made.disconnect(receive)
    assert sent == [(str(upload.pk), ["large", "thumb"])]


def test_the_profile_page_shows_the_avatar_thumb_or_says_it_is_being_prepared(
    local: Backend, user: Any, completed: Any, client: Client
) -> None:
    upload = completed(local)  # the demo's avatar type declares thumb (accounts' migration)
    client.force_login(user)
    user.avatar = upload
    user.save()
    Variant.objects.filter(upload=upload).delete()  # as if the task had not run yet

    page = client.get("/profile/").content.decode()
    assert "Your avatar is being prepared" in page and "Preparing the preview" in page
    assert not re.search(r'<img [^>]*src="[^"]*' + re.escape(upload.key), page)  # no original

    assert make_variants(upload.pk) == ["thumb"]
    thumb = fresh(upload).variant("thumb")
    page = client.get("/profile/").content.decode()
    assert f'<img src="{thumb.url}" width="160" height="160" alt="Your avatar">' in page
    assert f'data-role="preview" src="{thumb.url}"' in page  # the form's widget too


def test_the_sweep_deletes_the_variants_a_failed_delete_left(
    local: Backend, declare: Any, completed: Any, api: Any
) -> None:
    declare(thumb=THUMB)
    upload = completed(local)
    key = upload.variant("thumb").key
    # Deleted, but the removal after commit never ran (a storage down then).
    assert api.delete(f"/api/v1/uploads/{upload.pk}").status_code == 200
    assert local.read(key)

    out = io.StringIO()
    call_command("uploads_cleanup", stdout=out)

    assert local.read(key) is None and local.read(upload.key) is None


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_record_the_variant_once_and_keep_its_object(
    local: Backend, user: Any
) -> None:
    require_postgres()  # row locks that make the second run wait
    # Its own type: a transactional test may run after another one emptied the tables.
    policy = UploadPolicy.objects.create(
        name="pics",
        label="Pictures",
        allowed_content_types=["image/jpeg"],
        max_size=1024 * 1024,
        key_prefix="pics",
        is_public=True,
    )
    VariantSpec.objects.create(policy=policy, name="thumb", **THUMB)
    upload = make_upload(user, "pics", PHOTO, "image/jpeg")
    key = fresh(upload).variant("thumb").key  # made once the completion committed
    Variant.objects.filter(upload=upload).delete()  # as if no run had recorded it yet
    start = threading.Barrier(2)

    def run(_: int) -> list[str]:
        start.wait()
        try:
            return make_variants(upload.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(run, range(2)))

    assert results == [[], ["thumb"]]
    assert Variant.objects.filter(upload=upload).count() == 1
    assert fresh(upload).variant("thumb").key == key and local.read(key)


def test_the_command_refuses_an_unknown_type_and_enqueues_when_asked(
    local: Backend, declare: Any, completed: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with pytest.raises(CommandError, match="No upload type nope."):
        call_command("uploads_variants", "--type", "nope")
    upload = completed(local)  # before any declaration
    declare(thumb=THUMB)

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("uploads_variants", "--enqueue", stdout=out)  # the immediate backend runs it
    assert f"avatar: 1/1 {upload.pk}: enqueued" in out.getvalue()
    assert fresh(upload).variant("thumb").ready


def test_the_admin_says_when_the_backend_refuses_the_rebuild(
    local: Backend,
    admin_client: Client,
    declare: Any,
    completed: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from uploads import tasks

    upload = completed(local)
    policy = declare(thumb=THUMB)

    def refuse(*args: Any) -> None:
        raise RuntimeError("queue down")

    monkeypatch.setattr(tasks, "make_variants", SimpleNamespace(enqueue=refuse))
    answer = admin_client.post(
        "/admin/uploads/uploadpolicy/",
        {"action": "rebuild_variants", "_selected_action": [policy.pk]},
        follow=True,
    )
    shown = {str(m): m.level_tag for m in answer.context["messages"]}
    assert shown == {
        "avatar: enqueued 0 of 1 uploads to rebuild; 0 of 1 uploads have current variants.": "error"
    }
    assert fresh(upload).variant("thumb").state == "pending"
