"""Signed events: what happens to uploads reaches the host's endpoints, signed to the
Standard Webhooks specification, verified by a real receiver process with the
standardwebhooks library; a receiver that is down or failing gets them later, after retries
with growing delays; rotated secrets keep verifying for the overlap; the admin sends again."""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import make_png
from tests.helpers import assert_ok, complete, without_field_values
from tests.live import ROOT, demo_site, free_port, running
from tests.webhooks import START_SECRET, Receiver, receiver_process
from uploads.models import Upload, VariantSpec
from uploads.signals import variants_made
from uploads.webhooks import events
from uploads.webhooks.delivery import attempt, claim, lease, send_due, signed_request
from uploads.webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from uploads.webhooks.signing import rotate

Status = WebhookDelivery.Status


@pytest.fixture(autouse=True)
def _no_variants(db: Any) -> None:
    """Without the demo avatar's declared thumb, whose making would add an
    upload.variants_made event to each test's count (that event is tested on its own)."""
    VariantSpec.objects.all().delete()


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    with receiver_process() as receiver:
        yield receiver


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.control(reset=True, status=200)
    return receiver_server


@pytest.fixture
def endpoint(db: Any, receiver: Receiver) -> WebhookEndpoint:
    """An endpoint at the receiver wanting every event; the receiver verifies with its secret."""
    made = WebhookEndpoint.objects.create(url=receiver.hook, events=list(Event.values))
    receiver.control(secret=made.secret)
    return made


def completed_upload(api: APIClient, uploaded: Any, capture: Any) -> dict[str, Any]:
    data = uploaded()
    with capture(execute=True):
        assert assert_ok(complete(api, data["id"]))["status"] == "completed"
    return dict(data)


def only(received: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(received) == 1, received
    assert received[0]["verified"], received[0]
    return received[0]


@pytest.mark.django_db
def test_a_completed_upload_arrives_verified_with_the_upload_as_the_api_describes_it(
    api: APIClient,
    uploaded: Any,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
) -> None:
    data = completed_upload(api, uploaded, django_capture_on_commit_callbacks)
    assert receiver.received() == []  # recorded, not sent: the request only records it

    assert send_due() == 1

    got = only(receiver.received())
    delivery = WebhookDelivery.objects.get()
    assert got["id"] == delivery.event_id and got["id"].startswith("msg_")
    assert got["payload"]["type"] == "upload.completed"
    assert got["payload"]["timestamp"].endswith("Z")
    answer = assert_ok(api.get(f"/api/v1/uploads/{data['id']}"))
    sent = got["payload"]["data"]["upload"]
    # The API makes the local storage's relative publicUrl absolute with its request's host;
    # an event has no request, and carries the URL as the storage gives it.
    assert answer["publicUrl"] == f"http://testserver{sent['publicUrl']}"
    assert {**sent, "publicUrl": answer["publicUrl"]} == without_field_values(answer)
    assert got["payload"]["data"]["ownerId"] == str(Upload.objects.get(pk=data["id"]).owner_id)
    assert (delivery.status, delivery.attempts, delivery.last_response_status) == (
        Status.DELIVERED,
        1,
        200,
    )
    assert '"verified": true' in delivery.last_response_body
    assert send_due() == 0  # delivered once


@pytest.mark.django_db
def test_rejected_deleted_and_variants_events_arrive_verified(
    api: APIClient,
    uploaded: Any,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
) -> None:
    bad = uploaded(body=b"not a png at all", contentType="image/png")
    with django_capture_on_commit_callbacks(execute=True):
        complete(api, bad["id"])
    good = completed_upload(api, uploaded, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/uploads/{good['id']}").status_code in (200, 204)
    with django_capture_on_commit_callbacks(execute=True):
        variants_made.send(
            sender=Upload, upload=Upload.objects.get(pk=bad["id"]), names=["thumb", "small"]
        )

    assert send_due() == 4
    got = {r["payload"]["type"]: r for r in receiver.received()}
    assert all(r["verified"] for r in got.values()), got
    assert set(got) == {
        "upload.rejected",
        "upload.completed",
        "upload.deleted",
        "upload.variants_made",
    }
    rejected = got["upload.rejected"]["payload"]["data"]
    assert rejected["upload"]["id"] == bad["id"] and rejected["upload"]["status"] == "rejected"
    assert rejected["reasons"] and rejected["reasons"][0]["code"].endswith("_mismatch")
    deleted = got["upload.deleted"]["payload"]["data"]["upload"]
    assert (deleted["id"], deleted["status"]) == (good["id"], "deleted")
    assert got["upload.variants_made"]["payload"]["data"]["variants"] == ["thumb", "small"]


@pytest.mark.django_db
def test_the_uploads_of_a_deleted_user_are_deleted_events(
    api: APIClient,
    user: Any,
    uploaded: Any,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
) -> None:
    data = completed_upload(api, uploaded, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()

    send_due()
    got = only(receiver.received())["payload"]
    assert got["type"] == "upload.deleted"
    assert (got["data"]["upload"]["id"], got["data"]["upload"]["status"]) == (
        data["id"],
        "deleted",
    )


@pytest.mark.django_db
def test_an_endpoint_gets_only_the_events_it_wants_and_an_inactive_one_none(
    api: APIClient,
    uploaded: Any,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
) -> None:
    wants_deleted = WebhookEndpoint.objects.create(url=receiver.hook, events=["upload.deleted"])
    WebhookEndpoint.objects.create(url=receiver.hook, events=list(Event.values), is_active=False)

    completed_upload(api, uploaded, django_capture_on_commit_callbacks)

    assert not WebhookDelivery.objects.exists()
    assert wants_deleted.deliveries.count() == 0


@pytest.mark.django_db
def test_deliveries_to_an_endpoint_made_inactive_wait_for_it(
    endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    [pk] = events.emit("upload.deleted", {"upload": {"id": "x"}})
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)

    assert send_due() == 0
    assert WebhookDelivery.objects.get(pk=pk).status == Status.PENDING

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=True)
    assert send_due() == 1
    assert only(receiver.received())["payload"]["type"] == "upload.deleted"


@pytest.mark.django_db
def test_a_secret_that_is_not_base64_fails_the_attempt_and_not_the_round(
    endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    broken = WebhookEndpoint.objects.create(
        url=receiver.hook, events=["upload.deleted"], secret="whsec_not*base64"
    )
    events.emit("upload.deleted", {"upload": {"id": "x"}})  # to both endpoints

    assert send_due() == 2

    failed = broken.deliveries.get()
    assert failed.status == Status.PENDING and "Could not sign" in failed.last_error
    assert endpoint.deliveries.get().status == Status.DELIVERED
    assert only(receiver.received())["verified"]


@pytest.mark.django_db
def test_a_receiver_that_is_down_gets_the_event_later_after_growing_delays(
    settings: Any, db: Any
) -> None:
    port = free_port()  # nothing listens there yet: the receiver is down
    endpoint = WebhookEndpoint.objects.create(
        url=f"http://127.0.0.1:{port}/hook", events=list(Event.values)
    )
    [pk] = events.emit("upload.completed", {"upload": {"id": "x"}})
    now = timezone.now()
    delays = []
    for _ in range(4):
        assert send_due(now) == 1
        delivery = WebhookDelivery.objects.get(pk=pk)
        assert delivery.status == Status.PENDING and delivery.last_response_status is None
        assert "refused" in delivery.last_error.lower(), delivery.last_error
        assert delivery.next_attempt_at is not None
        delays.append((delivery.next_attempt_at - now).total_seconds())
        assert send_due(now) == 0  # not due before its time
        now = delivery.next_attempt_at
    assert delays == [10, 20, 40, 80]  # WEBHOOK_RETRY_DELAY, doubled each time

    with receiver_process(port) as back:
        back.control(secret=endpoint.secret)
        assert send_due(now) == 1
        got = only(back.received())
    delivery = WebhookDelivery.objects.get(pk=pk)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (Status.DELIVERED, 5, "")
    assert got["id"] == delivery.event_id  # the same webhook-id on every attempt


@pytest.mark.django_db
def test_retries_stop_at_the_cap_and_the_admin_sends_again(
    settings: Any, endpoint: WebhookEndpoint, receiver: Receiver, admin_client: Client
) -> None:
    settings.UPLOADS = {
        **settings.UPLOADS,
        "WEBHOOK_MAX_ATTEMPTS": 3,
        "WEBHOOK_RETRY_MAX_DELAY": 15,
    }
    receiver.control(status=500)
    [pk] = events.emit("upload.completed", {"upload": {"id": "x"}})
    now = timezone.now()
    for _ in range(3):
        assert send_due(now) == 1
        now += timedelta(seconds=15)  # the delays: 10, then 20 capped at 15
    delivery = WebhookDelivery.objects.get(pk=pk)
    assert (delivery.status, delivery.attempts, delivery.last_response_status) == (
        Status.FAILED,
        3,
        500,
    )
    assert delivery.next_attempt_at is None
    assert [r["answered"] for r in receiver.received()] == [500, 500, 500]
    assert send_due(now + timedelta(days=30)) == 0  # given up

    receiver.control(status=200)
    page = "/admin/uploads/webhookdelivery/"
    answer = admin_client.post(page, {"action": "send_again", "_selected_action": [pk]})
    assert answer.status_code == 302
    assert WebhookDelivery.objects.get(pk=pk).status == Status.PENDING
    assert receiver.received()[3:] == []  # the admin's request only schedules it
    assert send_due() == 1
    delivery = WebhookDelivery.objects.get(pk=pk)
    assert (delivery.status, delivery.attempts) == (Status.DELIVERED, 1)
    assert receiver.received()[-1]["verified"]
    shown = admin_client.get(f"{page}{pk}/change/").content.decode()
    assert "delivered" in shown and "upload.completed" in shown


@pytest.mark.django_db
def test_a_receiver_that_does_not_answer_is_given_up_on_after_the_timeout(
    settings: Any, db: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "WEBHOOK_TIMEOUT": 1}
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        WebhookEndpoint.objects.create(
            url=f"http://127.0.0.1:{port}/hook", events=["upload.completed"]
        )
        [pk] = events.emit("upload.completed", {"upload": {"id": "x"}})
        assert send_due() == 1
    delivery = WebhookDelivery.objects.get(pk=pk)
    assert delivery.status == Status.PENDING and delivery.attempts == 1
    assert "timed out" in delivery.last_error.lower(), delivery.last_error


@pytest.mark.django_db
def test_without_the_signing_package_an_attempt_fails_saying_how_to_install_it(
    endpoint: WebhookEndpoint, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "standardwebhooks", None)  # as if not installed
    [pk] = events.emit("upload.completed", {"upload": {"id": "x"}})

    assert send_due() == 1

    delivery = WebhookDelivery.objects.get(pk=pk)
    assert delivery.status == Status.PENDING and delivery.last_response_status is None
    assert 'pip install "django-upload-policies[webhooks]"' in delivery.last_error
    assert receiver.received() == []  # nothing unsigned was sent


@pytest.mark.django_db
def test_a_claimed_attempt_keeps_others_off_until_its_lease_lapses(
    endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    [pk] = events.emit("upload.completed", {"upload": {"id": "x"}})
    now = timezone.now()
    assert claim(pk, now) is not None  # a worker that then died while sending

    assert attempt(pk, now) == "skipped"  # another node: held
    assert send_due(now + lease() - timedelta(seconds=1)) == 0
    assert send_due(now + lease()) == 1  # the lease lapsed: due again
    delivery = WebhookDelivery.objects.get(pk=pk)
    assert (delivery.status, delivery.attempts) == (Status.DELIVERED, 2)


@pytest.mark.django_db
def test_a_rotated_secret_verifies_and_the_old_one_still_does_during_the_overlap(
    endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    old = endpoint.secret
    until = rotate(endpoint)
    assert endpoint.secret != old and endpoint.secret.startswith("whsec_")
    assert until > timezone.now() + timedelta(hours=23)  # WEBHOOK_SECRET_OVERLAP, a day

    receiver.control(secret=endpoint.secret)  # a receiver given the new secret
    events.emit("upload.completed", {"upload": {"id": "new"}})
    send_due()
    receiver.control(secret=old)  # one not yet given it
    events.emit("upload.completed", {"upload": {"id": "old"}})
    send_due()
    first, second = receiver.received()
    assert first["verified"] and second["verified"], (first, second)
    assert len(first["signatures"]) == 2  # one per secret, space-separated

    # The overlap over: the old secret no longer signs, and its receiver refuses.
    [window] = endpoint.previous_secrets
    window["until"] = (timezone.now() - timedelta(seconds=1)).isoformat()
    endpoint.save()
    receiver.control(secret=old)
    [pk] = events.emit("upload.completed", {"upload": {"id": "late"}})
    send_due()
    refused = receiver.received()[-1]
    assert not refused["verified"] and "No matching signature" in refused["error"]
    delivery = WebhookDelivery.objects.get(pk=pk)
    assert (delivery.status, delivery.last_response_status) == (Status.PENDING, 400)


@pytest.mark.django_db
def test_the_admin_rotates_a_secret_and_sends_a_ping(
    endpoint: WebhookEndpoint, receiver: Receiver, admin_client: Client
) -> None:
    page = "/admin/uploads/webhookendpoint/"
    old = endpoint.secret
    answer = admin_client.post(
        page, {"action": "rotate_secret", "_selected_action": [endpoint.pk]}, follow=True
    )
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret in answer.content.decode()
    assert [item["secret"] for item in endpoint.previous_secrets] == [old]

    admin_client.post(page, {"action": "send_ping", "_selected_action": [endpoint.pk]})
    assert receiver.received() == []
    send_due()
    got = only(receiver.received())  # verified with the old secret: still signing
    assert got["payload"]["type"] == "webhook.ping"
    assert got["payload"]["data"]["endpoint"] == endpoint.pk


@pytest.mark.django_db
def test_the_admin_refuses_an_endpoint_that_is_not_http_and_keeps_nothing(
    admin_client: Client,
) -> None:
    form = {"url": "ftp://example.com/hook", "description": "", "events": ["upload.completed"]}
    answer = admin_client.post("/admin/uploads/webhookendpoint/add/", {**form, "is_active": "on"})
    assert answer.status_code == 200
    assert "An http:// or https:// URL." in answer.content.decode()
    assert not WebhookEndpoint.objects.exists()

    form["url"] = "https://example.com/hook"
    answer = admin_client.post("/admin/uploads/webhookendpoint/add/", form)
    assert answer.status_code == 302
    made = WebhookEndpoint.objects.get()
    assert made.events == ["upload.completed"] and made.secret.startswith("whsec_")


def docs_snippet(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", (ROOT / "docs/webhooks.md").read_text(), re.S)
    assert found, language
    return found.group(1)


@pytest.mark.django_db
def test_the_docs_django_view_verifies_a_delivery_and_refuses_a_forged_one(
    endpoint: WebhookEndpoint,
) -> None:
    code = docs_snippet("python").replace('"whsec_..."', repr(endpoint.secret))
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # the view, as written
    view = namespace["upload_events"]
    [pk] = events.emit("upload.completed", {"upload": {"id": "x"}})
    body, headers = signed_request(WebhookDelivery.objects.get(pk=pk))
    content_type = headers.pop("Content-Type")
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}

    def post(data: bytes) -> int:
        request = RequestFactory().post("/hooks/uploads", data, content_type, **meta)
        return int(view(request).status_code)

    assert post(body) == 204
    assert post(body.replace(b'"x"', b'"y"')) == 400  # a body changed on the way


@pytest.mark.django_db
def test_the_commands_send_due_deliveries(endpoint: WebhookEndpoint, receiver: Receiver) -> None:
    events.emit("upload.deleted", {"upload": {"id": "x"}})
    out = StringIO()
    call_command("uploads_deliver_webhooks", "--threads", "1", stdout=out)
    assert out.getvalue().strip() == "Made 1 webhook delivery attempts."

    events.emit("upload.deleted", {"upload": {"id": "y"}})
    out = StringIO()
    call_command("uploads_cleanup", stdout=out)
    assert "Made 1 due webhook delivery attempts." in out.getvalue()
    assert [r["verified"] for r in receiver.received()] == [True, True]


@pytest.mark.django_db(transaction=True)
def test_the_command_sends_several_at_once_and_each_once(receiver: Receiver) -> None:
    endpoint = WebhookEndpoint.objects.create(url=receiver.hook, events=["upload.completed"])
    receiver.control(secret=endpoint.secret)
    for n in range(12):
        events.emit("upload.completed", {"upload": {"id": str(n)}})

    out = StringIO()
    call_command("uploads_deliver_webhooks", "--threads", "4", stdout=out)

    assert out.getvalue().strip() == "Made 12 webhook delivery attempts."
    received = receiver.received()
    assert sorted(int(r["payload"]["data"]["upload"]["id"]) for r in received) == list(range(12))
    assert all(r["verified"] for r in received)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {Status.DELIVERED}


@pytest.mark.live
def test_a_worker_process_delivers_the_event_after_the_request_has_returned(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The project on the database task backend: complete answers, and the receiver has
    seen nothing until `manage.py db_worker` runs the delivery task."""
    receiver.control(secret=START_SECRET)
    setup = (
        "from uploads.webhooks.models import WebhookEndpoint; WebhookEndpoint.objects.create("
        f"url={receiver.hook!r}, events=['upload.completed'], secret={START_SECRET!r})"
    )
    with demo_site(tmp_path, setup=setup, TASKS_BACKEND="database") as site:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {site.shown('Access token')}"
        api = f"{site.base}/api/v1/uploads"
        body = make_png(3, 3)
        request: dict[str, Any] = {"type": "avatar", "contentType": "image/png", "size": len(body)}
        plan = http.post(f"{api}/presign", json=request, timeout=30).json()["data"]
        sent = requests.request(
            plan["method"], plan["uploadUrl"], data=body, headers=plan["headers"], timeout=30
        )
        assert sent.status_code == 200, sent.text
        answer = http.post(f"{api}/{plan['id']}/complete", timeout=30)
        assert answer.json()["data"]["status"] == "completed", answer.text

        assert receiver.received() == []  # the request returned; the event waits for a worker

        worker = [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.1"]
        with running(
            worker, ready=lambda: True, timeout=10, name="db_worker", cwd=ROOT, env=site.env
        ):
            got = only(receiver.wait_for(1))
    assert got["payload"]["type"] == "upload.completed"
    assert got["payload"]["data"]["upload"]["id"] == plan["id"]
