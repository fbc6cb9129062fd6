"""UploadField in forms: the widget shows the current file and carries its signed id, the form
field takes only ids the server signed, and the profile page and the admin save an avatar
uploaded by the widget (the browser side is in test_browser_widget.py)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django import forms
from django.contrib import admin
from django.test import Client

from accounts.models import User
from accounts.views import ProfileForm
from tests.helpers import assert_ok, complete, issued, make_upload, status_of, stored
from uploads import services
from uploads.acting import acting_as
from uploads.fields import UploadField, UploadFormField
from uploads.models import Upload
from uploads.services.attach import field_value
from uploads.services.variants import make_variants

HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def avatar_field() -> UploadFormField:
    return UploadFormField(types=["avatar"], required=False)


def refusal(value: Any, by: Any, field: forms.Field | None = None) -> str:
    """The message the form field shows for ``value`` posted by the user ``by``."""
    with acting_as(by), pytest.raises(forms.ValidationError) as refused:
        (field or avatar_field()).clean(value)
    return " ".join(refused.value.messages)


def hidden_value(page: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert found, page
    return html.unescape(found.group(1))


# --- the widget ----------------------------------------------------------------------------


def test_the_widget_shows_the_current_avatar_and_carries_its_signed_id(user: Any) -> None:
    avatar = make_upload(user, file_name="me.png")
    user.avatar = avatar
    user.save()

    with acting_as(user):
        page = str(ProfileForm(instance=user)["avatar"])

    url = services.public_url(avatar)
    assert url
    assert issued(hidden_value(page, "avatar")) == (str(avatar.pk), str(user.pk))
    assert f'<a href="{url}" data-role="link" target="_blank" rel="noopener">me.png</a>' in page
    # The avatar type's thumb variant is the preview: said to be coming until it is made,
    # never the original instead.
    assert f'src="{url}"' not in page and "Preparing the preview…" in page
    assert make_variants(avatar.pk) == ["thumb"]
    with acting_as(user):
        shown = str(ProfileForm(instance=User.objects.get(pk=user.pk))["avatar"])
    thumb = Upload.objects.get(pk=avatar.pk).variant("thumb")
    assert f'src="{thumb.url}" alt="Preview of me.png"' in shown
    assert "image/png" in page
    assert 'data-role="remove"' in page and 'data-role="remove" hidden' not in page
    # The file input posts nothing and blocks nothing: the hidden input holds the value.
    file_input = re.search(r'<input type="file"[^>]*>', page)
    assert file_input and "name=" not in file_input.group(0)
    assert 'id="id_avatar"' in file_input.group(0)
    assert 'aria-describedby="id_avatar_status"' in file_input.group(0)
    assert 'accept="image/jpeg,image/png,image/webp"' in file_input.group(0)


def test_the_widget_of_an_empty_field_offers_a_file_input_only(user: Any) -> None:
    page = str(ProfileForm(instance=user)["avatar"])

    assert hidden_value(page, "avatar") == ""
    assert 'data-role="current" hidden' in page
    assert 'data-role="remove" hidden' in page


def test_a_required_upload_field_leaves_the_browser_free_to_save_the_current_file(
    user: Any,
) -> None:
    class PhotoForm(forms.Form):
        upload = UploadFormField(types=["avatar"])

    form = PhotoForm(initial={"upload": make_upload(user)})
    page = str(form["upload"])
    field = form.fields["upload"]

    assert re.search(r'<input type="file"[^>]*aria-required="true"', page)
    assert not re.search(r'<input type="file"[^>]*\srequired', page)
    assert 'data-role="remove" hidden' in page  # removing would leave nothing to save
    assert "This field is required." in refusal("", user, field)


# --- the form field ------------------------------------------------------------------------


def test_the_form_field_takes_the_field_value_the_api_answers_with(
    api: Any, user: Any, uploaded: Callable[..., dict[str, Any]]
) -> None:
    presigned = uploaded()
    done = assert_ok(complete(api, presigned["id"]))
    assert issued(done["fieldValue"]) == issued(presigned["fieldValue"])

    with acting_as(user):
        upload = avatar_field().clean(done["fieldValue"])

    assert isinstance(upload, Upload) and str(upload.pk) == done["id"]


def test_the_form_field_refuses_an_id_the_server_did_not_sign(user: Any) -> None:
    upload = make_upload(user)
    signed = field_value(upload.pk, user)
    forged = signed[:-1] + ("A" if signed[-1] != "A" else "B")

    handed_out = "This is not an upload this form handed out. Upload the file again."
    assert refusal(str(upload.pk), user) == handed_out
    assert refusal(forged, user) == handed_out
    assert refusal("anything", user) == handed_out


def test_a_form_shown_again_after_an_error_signs_no_id_it_was_sent(
    user: Any, other_user: Any
) -> None:
    """Else posting someone's bare upload id with another field wrong would get it signed."""
    theirs = make_upload(other_user)
    form = ProfileForm({"first_name": "x" * 200, "avatar": str(theirs.pk)}, instance=user)

    with acting_as(user):
        assert not form.is_valid()
        page = str(form["avatar"])
    assert hidden_value(page, "avatar") == ""
    assert theirs.file_name not in page


def test_the_form_field_refuses_a_deleted_upload(user: Any) -> None:
    upload = make_upload(user)
    services.delete_upload(user, upload.pk)

    assert (
        refusal(field_value(upload.pk, user), user)
        == "That upload no longer exists. Upload the file again."
    )


def test_the_form_field_refuses_an_upload_of_another_type(user: Any) -> None:
    media = make_upload(user, "media")

    assert refusal(field_value(media.pk, user), user) == (
        "Only avatar uploads fit here; this one is media."
    )


def test_the_form_field_completes_a_pending_upload(
    user: Any, uploaded: Callable[..., dict[str, Any]]
) -> None:
    presigned = uploaded()  # the bytes are in storage; nobody called complete
    assert status_of(presigned["id"]) == "pending"

    with acting_as(user):
        upload = avatar_field().clean(presigned["fieldValue"])

    assert upload.status == "completed" and status_of(upload.pk) == "completed"


def test_the_form_field_rejects_a_pending_upload_whose_bytes_lie(
    user: Any, uploaded: Callable[..., dict[str, Any]]
) -> None:
    presigned = uploaded(HTML)  # declared image/png

    shown = refusal(presigned["fieldValue"], user)

    assert "The stored file does not match the upload." in shown
    assert "The file's bytes are not image/png." in shown
    assert status_of(presigned["id"]) == "rejected"
    assert not stored(presigned["key"])


# --- a ModelForm and the profile page --------------------------------------------------------


def test_a_model_form_on_the_user_saves_the_avatar(user: Any) -> None:
    avatar = make_upload(user)

    form = ProfileForm(
        {"first_name": "Ada", "last_name": "L", "avatar": field_value(avatar.pk, user)},
        instance=user,
    )
    with acting_as(user):
        assert form.is_valid(), form.errors
    form.save()

    user.refresh_from_db()
    assert (user.first_name, user.avatar_id) == ("Ada", avatar.pk)


def test_the_profile_page_asks_for_a_sign_in(client: Client) -> None:
    response = client.get("/profile/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/profile/"


def test_signing_in_leads_to_the_profile_page(client: Client, user: Any) -> None:
    page = client.get("/login/?next=/profile/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in page and 'name="username"' in page

    response = client.post("/login/", {"username": user.username, "password": "pw-123456"})

    assert response.status_code == 302 and response["Location"] == "/profile/"
    assert client.get("/profile/").status_code == 200


def test_the_profile_page_shows_the_widget_and_saves_the_avatar(client: Client, user: Any) -> None:
    client.force_login(user)
    page = client.get("/profile/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    assert '<script src="/static/uploads/upload_widget.js" type="module"></script>' in page
    assert 'href="/static/uploads/upload_widget.css"' in page
    assert '<label for="id_avatar">Avatar:</label>' in page
    assert hidden_value(page, "avatar") == ""
    avatar = make_upload(user, file_name="me.png")

    response = client.post(
        "/profile/",
        {"first_name": "Ada", "last_name": "", "avatar": field_value(avatar.pk, user)},
    )

    assert response.status_code == 302 and response["Location"] == "/profile/"
    user.refresh_from_db()
    assert user.avatar_id == avatar.pk and user.first_name == "Ada"
    page = client.get("/profile/").content.decode()
    assert "Your profile is saved." in page
    assert issued(hidden_value(page, "avatar")) == (str(avatar.pk), str(user.pk))
    assert ">me.png</a>" in page


def test_removing_the_avatar_on_the_profile_page_releases_the_file(
    client: Client, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    avatar = make_upload(user)
    user.avatar = avatar
    user.save()
    client.force_login(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/profile/", {"first_name": "", "last_name": "", "avatar": ""})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.avatar is None
    assert status_of(avatar) == "deleted" and not stored(avatar.key)


def test_the_profile_page_shows_why_an_avatar_was_refused(client: Client, user: Any) -> None:
    avatar = make_upload(user)
    user.avatar = avatar
    user.save()
    client.force_login(user)
    media = make_upload(user, "media")

    response = client.post(
        "/profile/", {"first_name": "", "last_name": "", "avatar": field_value(media.pk, user)}
    )

    assert response.status_code == 200
    assert "Only avatar uploads fit here; this one is media." in response.content.decode()
    user.refresh_from_db()
    assert user.avatar_id == avatar.pk


# --- the admin -------------------------------------------------------------------------------


def admin_change_data(response: Any) -> dict[str, Any]:
    """What the admin's change form would post unchanged: each editable field's value as
    rendered, and the management form of each inline."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for bound in form:
        if bound.field.disabled:
            continue
        value = bound.value()
        widget = bound.field.widget
        if isinstance(widget, forms.MultiWidget):
            for index, part in enumerate(widget.decompress(value)):
                data[f"{bound.html_name}_{index}"] = "" if part is None else part
        elif isinstance(bound.field, forms.BooleanField):
            if value:
                data[bound.html_name] = "on"
        elif value is not None:
            data[bound.html_name] = value
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name, field in management.fields.items():
            data[management.add_prefix(name)] = management.initial.get(name, field.initial)
    return data


def test_the_admin_user_page_has_the_upload_widget_without_overrides(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    overrides = admin.site._registry[User].formfield_overrides
    assert not any(issubclass(UploadField, field) for field in overrides)
    avatar = make_upload(user, file_name="them.png")
    user.avatar = avatar
    user.save()

    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()

    assert '<script src="/static/uploads/upload_widget.js" type="module"></script>' in page
    assert 'href="/static/uploads/upload_widget.css"' in page
    assert "data-uploads-widget" in page
    # Issued to the operator viewing the page, who alone can post it back.
    assert issued(hidden_value(page, "avatar")) == (str(avatar.pk), str(admin_user.pk))
    assert ">them.png</a>" in page


def test_an_operator_sets_a_users_avatar_in_the_admin_with_their_own_upload(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    url = f"/admin/accounts/user/{user.pk}/change/"
    data = admin_change_data(admin_client.get(url))
    upload = make_upload(admin_user)  # what the widget uploads, signed in as the operator

    response = admin_client.post(url, {**data, "avatar": field_value(upload.pk, admin_user)})

    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.avatar_id == upload.pk
    upload.refresh_from_db()
    assert upload.owner_id == user.pk  # the user's now, not the operator's
