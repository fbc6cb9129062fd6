"""UploadsField: several uploads per row, in order, under UploadField's rules, on the model
(``row.field.set()``), in a ModelForm and in the admin (the browser side is in
test_browser_upload_list.py, the serializer field in test_api_upload_list.py)."""

from __future__ import annotations

import html
import re
import threading
import time
from typing import Any

import pytest
from django import forms
from django.db import connection, transaction
from django.test import Client

from accounts.models import User
from tests.factories import UserFactory
from tests.helpers import PDF, avatar_row, make_upload, status_of, stored
from tests.hostapp.models import Exhibition, Poster
from tests.requirements import require_postgres
from uploads import exceptions
from uploads.acting import acting_as
from uploads.models import Upload
from uploads.services.attach import field_value, ready_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def committing(django_capture_on_commit_callbacks: Any) -> Any:
    """Runs what the block leaves for after commit (the released objects' deletion)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def exhibition(curator: User, *uploads: Upload) -> Exhibition:
    row = Exhibition.objects.create(curator=curator, title="Spring")
    if uploads:
        row.pictures.set(uploads)
    return row


class ExhibitionForm(forms.ModelForm):
    class Meta:
        model = Exhibition
        fields = ["title", "pictures"]


def post(user: User, row: Exhibition, *uploads: Upload, as_user: User | None = None) -> Any:
    """The form posted by ``as_user`` (``user`` by default) with the uploads' values issued
    to ``user``, in that order."""
    data = {"title": "Spring", "pictures": [field_value(u.pk, user) for u in uploads]}
    with acting_as(as_user or user):
        form = ExhibitionForm(data, instance=row)
        if form.is_valid():
            with transaction.atomic():
                form.save()
    return form


# --- the model ------------------------------------------------------------------------------


def test_uploads_are_held_and_read_back_in_order_as_files(user: User) -> None:
    first, second, third = (make_upload(user, file_name=f"{n}.png") for n in "abc")

    row = exhibition(user, second, third, first)

    assert list(row.pictures) == [second, third, first]
    assert [u.pk for u in Exhibition.objects.get(pk=row.pk).pictures.all()] == [
        second.pk,
        third.pk,
        first.pk,
    ]
    prefetched = Exhibition.objects.prefetch_related("pictures").get(pk=row.pk)
    assert list(prefetched.pictures.all()) == [second, third, first]
    picture = next(iter(row.pictures))
    assert picture.url and picture.file.file_name == "b.png"
    with picture.open() as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_reordering_keeps_every_upload(user: User) -> None:
    first, second = make_upload(user), make_upload(user)
    row = exhibition(user, first, second)

    row.pictures.set([second, first])

    assert list(row.pictures) == [second, first]
    assert status_of(first) == status_of(second) == "completed"


@pytest.mark.parametrize("status", ["pending", "rejected", "expired"])
def test_an_upload_that_is_not_completed_is_refused_and_the_list_stays(
    user: User, status: str
) -> None:
    kept = make_upload(user)
    row = exhibition(user, kept)

    with pytest.raises(exceptions.InvalidState, match=f"The upload is {status}, not completed"):
        row.pictures.add(avatar_row(user, status))

    assert list(row.pictures) == [kept]


def test_an_upload_of_another_type_is_refused(user: User) -> None:
    document = make_upload(user, "document", PDF, "application/pdf")
    row = exhibition(user)

    with pytest.raises(exceptions.InvalidState, match="Only avatar or media uploads fit here"):
        row.pictures.set([document])

    assert list(row.pictures) == []


def test_more_than_max_files_is_refused(user: User) -> None:
    row = exhibition(user)

    with pytest.raises(exceptions.InvalidState, match="At most 3 files fit here; this list has 4"):
        row.pictures.set([make_upload(user) for _ in range(4)])

    assert list(row.pictures) == []


def test_another_users_upload_is_refused_unless_given(user: User, other_user: User) -> None:
    theirs = make_upload(other_user)
    row = exhibition(user)

    with pytest.raises(exceptions.InvalidState, match="belongs to another user"):
        row.pictures.set([theirs])
    assert list(row.pictures) == []

    # Given (ready_for: what the form and serializer fields pass), it moves to the curator.
    row.pictures.set([ready_for(theirs, ["avatar"])])
    assert list(row.pictures) == [theirs]
    assert Upload.objects.get(pk=theirs.pk).owner_id == user.pk


def test_an_upload_in_another_owners_row_is_refused_even_when_given(
    user: User, other_user: User
) -> None:
    # A row with no owner holds the other user's upload; given to the curator, it still
    # cannot move to them.
    theirs = make_upload(other_user)
    Poster.objects.create(image=theirs)
    row = exhibition(user)

    with pytest.raises(exceptions.InvalidState, match="in use by another owner's row"):
        row.pictures.set([ready_for(theirs, ["avatar"])])

    assert list(row.pictures) == []
    assert Upload.objects.get(pk=theirs.pk).owner_id == other_user.pk


def test_an_owners_upload_may_sit_in_two_of_their_rows_and_stays_while_one_holds_it(
    user: User, committing: Any
) -> None:
    # As UploadField allows: the same file uploaded twice is one (deduplicated) upload.
    shared = make_upload(user)
    first = exhibition(user, shared)
    second = exhibition(user, shared)

    with committing():
        first.delete()

    assert list(second.pictures) == [shared] and status_of(shared) == "completed"


def test_removing_one_releases_it_and_keeps_the_others(user: User, committing: Any) -> None:
    first, second = make_upload(user), make_upload(user)
    row = exhibition(user, first, second)

    with committing():
        row.pictures.remove(first)

    assert list(row.pictures) == [second]
    assert status_of(first) == "deleted" and not stored(first.key)
    assert status_of(second) == "completed" and stored(second.key)


def test_deleting_the_row_releases_all(user: User, committing: Any) -> None:
    first, second = make_upload(user), make_upload(user)
    row = exhibition(user, first, second)

    with committing():
        row.delete()

    assert status_of(first) == status_of(second) == "deleted"
    assert not stored(first.key) and not stored(second.key)


def test_a_prefetched_list_is_read_afresh_once_changed(user: User) -> None:
    first, second = make_upload(user), make_upload(user)
    row = Exhibition.objects.prefetch_related("pictures").get(pk=exhibition(user, first).pk)
    assert list(row.pictures.all()) == [first]

    row.pictures.add(second)

    assert list(row.pictures.all()) == [first, second]


def test_deleting_the_curator_deletes_their_rows_and_uploads(user: User) -> None:
    held = make_upload(user)
    exhibition(user, held)

    user.delete()

    assert not Exhibition.objects.exists() and not Upload.objects.filter(pk=held.pk).exists()


def test_an_upload_in_a_list_cannot_be_deleted(user: User) -> None:
    held = make_upload(user)
    exhibition(user, held)

    answer = Client()
    answer.force_login(user)
    response = answer.delete(f"/api/v1/uploads/{held.pk}")

    assert response.status_code == 409
    assert response.json()["error"]["i18nVars"] == {"usedBy": ["exhibition pictures"]}
    assert status_of(held) == "completed"


# --- the form and the widget -----------------------------------------------------------------


def hidden_values(page: str, name: str) -> list[str]:
    found = re.findall(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    return [html.unescape(v) for v in found]


def test_the_widget_shows_each_upload_in_order_with_its_signed_value(user: User) -> None:
    first = make_upload(user, file_name="one.png")
    second = make_upload(user, file_name="two.png")
    row = exhibition(user, second, first)

    with acting_as(user):
        form = ExhibitionForm(instance=row)
        page = str(form["pictures"])

    assert "data-uploads-list-widget" in page and 'data-max-files="3"' in page
    assert "multiple" in page and 'aria-label="Remove two.png"' in page
    assert page.index("two.png") < page.index("one.png")
    assert len(hidden_values(page, "pictures")) == 2
    assert "upload_list_widget.js" in str(form.media)
    assert "upload_widget.js" not in str(form.media)  # the single widget's script stays out
    # Posted back unchanged, the form keeps the list.
    posted = ExhibitionForm(
        {"title": "Spring", "pictures": hidden_values(page, "pictures")}, instance=row
    )
    with acting_as(user):
        assert posted.is_valid(), posted.errors
        assert "pictures" not in posted.changed_data


def test_the_form_saves_the_posted_order_and_releases_what_it_left_out(
    user: User, committing: Any
) -> None:
    first, second, third = make_upload(user), make_upload(user), make_upload(user)
    row = exhibition(user, first, second)

    with committing():
        form = post(user, row, third, second)

    assert form.is_valid(), form.errors
    assert list(row.pictures) == [third, second]
    assert status_of(first) == "deleted"


def test_the_form_completes_a_pending_upload_it_is_posted(user: User) -> None:
    pending = make_upload(user, complete=False)
    row = exhibition(user)

    form = post(user, row, pending)

    assert form.is_valid(), form.errors
    assert [u.status for u in row.pictures] == ["completed"]


def form_errors(form: forms.ModelForm[Any]) -> list[tuple[str, str]]:
    return [(e.code or "", " ".join(e.messages)) for e in form.errors.as_data()["pictures"]]


def test_the_form_refuses_each_way_and_says_which(user: User, other_user: User) -> None:
    row = exhibition(user)
    document = make_upload(user, "document", PDF, "application/pdf")
    unsent = make_upload(user, complete=False, put=False)

    refusals = {
        "type": form_errors(post(user, row, document)),
        "pending without bytes": form_errors(post(user, row, unsent)),
        "count": form_errors(post(user, row, *(make_upload(user) for _ in range(4)))),
        "another poster's value": form_errors(
            post(user, row, make_upload(user), as_user=other_user)
        ),
    }

    assert refusals["type"][0][0] == "upload_invalid_state"
    assert "Only avatar or media uploads fit here; this one is document." in refusals["type"][0][1]
    assert refusals["pending without bytes"][0][0] == "upload_not_uploaded"
    assert refusals["count"] == [("max_files", "Attach at most 3 files.")]
    assert refusals["another poster's value"] == [
        ("invalid", "This is not an upload this form handed out. Upload the file again.")
    ]
    assert list(row.pictures) == []


def test_a_shown_upload_of_another_user_is_refused_in_another_rows_form(
    user: User, other_user: User
) -> None:
    # An operator sees the curator's list (values issued to the operator)...
    held = make_upload(user)
    exhibition(user, held)
    operator = UserFactory(is_staff=True, is_superuser=True)

    # ...and posts one of them into another curator's row: not theirs to give, refused.
    form = post(operator, exhibition(other_user), held)

    assert form_errors(form) == [
        (
            "upload_invalid_state",
            "The upload belongs to another user: only they can attach it here.",
        )
    ]
    assert Upload.objects.get(pk=held.pk).owner_id == user.pk


def test_the_admin_shows_the_widget_and_saves_an_operators_upload_for_the_curator(
    user: User,
) -> None:
    operator = UserFactory(is_staff=True, is_superuser=True)
    mine = make_upload(operator)
    browser = Client()
    browser.force_login(operator)

    page = browser.get("/admin/hostapp/exhibition/add/").content.decode()
    answer = browser.post(
        "/admin/hostapp/exhibition/add/",
        {"curator": user.pk, "title": "By admin", "pictures": [field_value(mine.pk, operator)]},
    )

    assert "data-uploads-list-widget" in page and "upload_list_widget.js" in page
    assert 'data-role="up"' not in page  # nothing attached yet
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    row = Exhibition.objects.get(title="By admin")
    assert list(row.pictures) == [mine]
    assert Upload.objects.get(pk=mine.pk).owner_id == user.pk


# --- two edits at once ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_edits_of_one_list_at_once_release_what_each_took_out() -> None:
    """The second edit waits for the first (the row is locked), then reads its list: without
    that it would drop the first one's upload without releasing it."""
    require_postgres()
    curator = UserFactory()
    first, second, third = make_upload(curator), make_upload(curator), make_upload(curator)
    row = exhibition(curator, first)
    stored_first = threading.Event()
    commit_first = threading.Event()
    failures: list[BaseException] = []

    def edit(uploads: list[Upload], hold: bool) -> None:
        try:
            with transaction.atomic():
                Exhibition.objects.get(pk=row.pk).pictures.set(uploads)
                if hold:
                    stored_first.set()
                    assert commit_first.wait(10)
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            failures.append(err)
        finally:
            connection.close()

    one = threading.Thread(target=edit, args=([second], True))
    one.start()
    assert stored_first.wait(10)
    two = threading.Thread(target=edit, args=([third], False))
    two.start()
    wait_for_a_lock_wait()
    commit_first.set()
    one.join(10)
    two.join(10)

    assert not failures
    assert list(row.pictures) == [third]
    assert [status_of(u) for u in (first, second, third)] == ["deleted", "deleted", "completed"]


def wait_for_a_lock_wait(timeout: float = 10) -> None:
    """Until another connection waits for a row lock (PostgreSQL)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            assert time.monotonic() < deadline, "no edit waits for the lock"
            time.sleep(0.02)
