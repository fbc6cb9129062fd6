"""A form's upload value (fieldValue) is issued to one user and expires: posted by anyone else,
or too late, it is a form error that changes nothing; refusals that depend on the row are form
errors too, never a 500; only callers who may write uploads are issued one."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts import apikeys
from accounts.views import ProfileForm
from tests.conftest import client_for
from tests.helpers import assert_ok, issued, make_upload, staged, status_of, stored
from tests.hostapp.models import Poster
from tests.test_accounts_apikeys import key_client
from tests.test_widget import admin_change_data
from uploads.acting import acting_as, in_request
from uploads.models import Upload
from uploads.services.attach import FieldValue, field_value, read_field_value

pytestmark = pytest.mark.django_db

HANDED_OUT = "This is not an upload this form handed out. Upload the file again."


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_errors(response: Any) -> str:
    assert response.status_code == 200, response.status_code  # the form, shown again
    return " ".join(str(e) for e in response.context["form"].errors.get("avatar", []))


def hidden_value(page: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert found, page
    return html.unescape(found.group(1))


# --- another user's value ----------------------------------------------------------------


def test_alices_avatar_value_posted_in_bobs_profile_form_moves_nothing(
    user: Any, other_user: Any
) -> None:
    alice, bob = user, other_user
    avatar = make_upload(alice)
    alice.avatar = avatar
    alice.save()
    value = field_value(avatar.pk, alice)  # what Alice's page or the API issued to her

    response = signed_in(bob).post("/profile/", {"first_name": "Bob", "avatar": value})

    assert form_errors(response) == HANDED_OUT
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert alice.avatar_id == avatar.pk
    assert (bob.avatar_id, bob.first_name) == (None, "")
    assert Upload.objects.get(pk=avatar.pk).owner == alice
    # The form shown again neither shows Alice's file nor issues its value to Bob.
    page = response.content.decode()
    assert hidden_value(page, "avatar") == "" and avatar.file_name not in page


def test_alices_pending_upload_posted_by_bob_is_neither_completed_nor_moved(
    user: Any, other_user: Any, uploaded: Any
) -> None:
    alice, bob = user, other_user
    presigned = uploaded()  # Alice's bytes are in storage; nobody called complete

    response = signed_in(bob).post("/profile/", {"avatar": presigned["fieldValue"]})

    assert form_errors(response) == HANDED_OUT
    upload = Upload.objects.get(pk=presigned["id"])
    assert (upload.status, upload.owner) == ("pending", alice)
    assert staged(upload.key) and not stored(upload.key)
    bob.refresh_from_db()
    assert bob.avatar_id is None


def test_a_value_issued_before_values_named_their_user_is_refused(user: Any) -> None:
    avatar = make_upload(user)
    unbound = signing.Signer(salt="uploads.field-value").sign(str(avatar.pk))

    response = signed_in(user).post("/profile/", {"avatar": unbound})

    assert form_errors(response) == HANDED_OUT
    user.refresh_from_db()
    assert user.avatar_id is None


@pytest.mark.parametrize("pk", [7, 'é"\\</x>'])
def test_a_value_is_djangos_signed_object_and_a_forged_one_is_refused(
    user: Any, settings: Any, pk: Any
) -> None:
    """field_value writes what TimestampSigner.sign_object writes, byte for byte (it only
    skips the signer's work), so every reader and every value already issued agree."""
    avatar = make_upload(user)
    settings.SECRET_KEY = "another-secret-key-for-this-test-0123456789abcdef"
    with time_machine.travel(1_767_225_600.75, tick=False):
        value = field_value(avatar.pk, SimpleNamespace(pk=pk))  # type: ignore[arg-type]
        signer = signing.TimestampSigner(salt="uploads.field-value.issued")
        assert value == signer.sign_object({"upload": str(avatar.pk), "user": str(pk)})

    value = field_value(avatar.pk, user)
    assert read_field_value(value) == FieldValue(avatar.pk, str(user.pk), expired=False)
    payload, stamp, mac = value.split(":")
    forged = signing.b64_encode(
        signing.b64_decode(payload.encode()).replace(str(avatar.pk).encode(), b"0" * 36)
    ).decode()
    altered = mac[:-1] + ("B" if mac.endswith("A") else "A")
    for bad in (f"{forged}:{stamp}:{mac}", f"{payload}:{stamp}:{altered}", f"{payload}::{mac}"):
        assert read_field_value(bad) is None
    settings.SECRET_KEY = "yet-another-secret-key-0123456789abcdefghijklmnop"
    assert read_field_value(value) is None


# --- expiry ----------------------------------------------------------------------------------


def test_an_expired_value_is_refused_and_a_fresh_one_taken(user: Any, settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "FIELD_VALUE_MAX_AGE": 3600}
    avatar = make_upload(user)
    value = field_value(avatar.pk, user)
    client = signed_in(user)

    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        response = client.post("/profile/", {"avatar": value})
        assert form_errors(response) == (
            "This upload was handed out too long ago. Upload the file again."
        )
        user.refresh_from_db()
        assert user.avatar_id is None

    with time_machine.travel(timezone.now() + timedelta(seconds=3500)):
        assert client.post("/profile/", {"avatar": value}).status_code == 302
    user.refresh_from_db()
    assert user.avatar_id == avatar.pk


# --- nobody known ----------------------------------------------------------------------------


def test_without_anyone_known_a_value_is_refused_and_acting_as_names_the_poster(
    user: Any,
) -> None:
    avatar = make_upload(user)
    data = {"first_name": "Ada", "avatar": field_value(avatar.pk, user)}

    refused = ProfileForm(data, instance=user)
    assert not refused.is_valid()
    assert "does not know who posts this form" in refused.errors["avatar"][0]

    with acting_as(user):
        form = ProfileForm(data, instance=user)
        assert form.is_valid(), form.errors
        form.save()
    user.refresh_from_db()
    assert user.avatar_id == avatar.pk


def test_a_signed_out_poster_is_asked_to_sign_in(user: Any) -> None:
    """A page without login_required: the middleware knows the request, whose user is
    anonymous."""
    request = RequestFactory().post("/")
    request.user = AnonymousUser()
    avatar = make_upload(user)

    with in_request(request):
        form = ProfileForm({"avatar": field_value(avatar.pk, user)}, instance=user)
        assert not form.is_valid()
    assert form.errors["avatar"] == ["Sign in to attach an upload."]


# --- refusals that depend on the row ---------------------------------------------------------


def test_the_operators_copy_of_alices_avatar_posted_for_bob_is_a_form_error(
    admin_client: Client, user: Any, other_user: Any
) -> None:
    """The value Alice's admin page issued to the operator, posted in Bob's: 200 with the
    form's error, not 500, and nothing moves."""
    alice, bob = user, other_user
    avatar = make_upload(alice)
    alice.avatar = avatar
    alice.save()
    copied = hidden_value(
        admin_client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode(), "avatar"
    )
    url = f"/admin/accounts/user/{bob.pk}/change/"
    data = admin_change_data(admin_client.get(url))

    response = admin_client.post(url, {**data, "avatar": copied})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["avatar"] == [
        "The upload belongs to another user: only they can attach it here."
    ]
    bob.refresh_from_db()
    alice.refresh_from_db()
    assert (bob.avatar_id, alice.avatar_id) == (None, avatar.pk)
    assert Upload.objects.get(pk=avatar.pk).owner == alice


def test_the_posters_upload_in_use_by_a_row_of_theirs_without_owner_is_a_form_error(
    user: Any, other_user: Any, admin_client: Client, admin_user: Any
) -> None:
    """Handing an upload to the row's owner needs it in no other row's use: refused by the
    form, not by save's 500."""
    mine = make_upload(admin_user)
    Poster.objects.create(image=mine)  # no owner: it stays the operator's
    url = f"/admin/accounts/user/{user.pk}/change/"
    data = admin_change_data(admin_client.get(url))

    response = admin_client.post(url, {**data, "avatar": field_value(mine.pk, admin_user)})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["avatar"] == [
        "The upload is in use by another owner's row."
    ]
    user.refresh_from_db()
    assert user.avatar_id is None
    assert Upload.objects.get(pk=mine.pk).owner == admin_user


# --- posting a form unchanged ----------------------------------------------------------------


def test_the_profile_form_posted_unchanged_keeps_the_avatar(user: Any) -> None:
    avatar = make_upload(user)
    user.avatar = avatar
    user.save()
    client = signed_in(user)
    value = hidden_value(client.get("/profile/").content.decode(), "avatar")

    response = client.post("/profile/", {"first_name": "Ada", "avatar": value})

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.first_name, user.avatar_id) == ("Ada", avatar.pk)
    assert status_of(avatar) == "completed"


def test_an_operator_saving_a_users_page_unchanged_keeps_their_avatar(
    admin_client: Client, user: Any
) -> None:
    avatar = make_upload(user)
    user.avatar = avatar
    user.save()
    url = f"/admin/accounts/user/{user.pk}/change/"
    response = admin_client.get(url)
    data = admin_change_data(response)
    data["avatar"] = hidden_value(response.content.decode(), "avatar")  # as the page posts it

    saved = admin_client.post(url, {**data, "first_name": "Ada"})

    assert saved.status_code == 302, saved.context["adminform"].form.errors
    user.refresh_from_db()
    assert (user.first_name, user.avatar_id) == ("Ada", avatar.pk)
    assert Upload.objects.get(pk=avatar.pk).owner == user


# --- who is issued one -----------------------------------------------------------------------


def test_only_a_caller_who_may_write_uploads_is_issued_a_field_value(user: Any) -> None:
    upload = make_upload(user)
    _, reader = apikeys.create_api_key(user, "reader", ["uploads:read"])
    _, writer = apikeys.create_api_key(user, "writer", ["uploads:read", "uploads:write"])

    def answer(client: Any) -> Any:
        return assert_ok(client.get(f"/api/v1/uploads/{upload.pk}"))["fieldValue"]

    assert answer(key_client(reader)) is None
    assert issued(answer(key_client(writer))) == (str(upload.pk), str(user.pk))
    assert issued(answer(client_for(user))) == (str(upload.pk), str(user.pk))
    listed = assert_ok(key_client(reader).get("/api/v1/uploads"))
    assert [u["fieldValue"] for u in listed] == [None]
