"""What one complete asks of the database (issue 19): the upload's row, read and locked with
its type and the upload types' revision in one query, and its update. A type's variants and
the events webhook endpoints want come from the registry's snapshot of that revision, read
once per revision; an edit of either in the admin bumps it and is seen at the next
completion, by every process."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.helpers import complete, presign_ok
from tests.test_policy_revision import policy_form
from tests.test_variants import CHANGE, THUMB, inline_rows
from uploads import policies
from uploads.models import UploadPolicy, VariantSpec
from uploads.webhooks.models import WebhookDelivery, WebhookEndpoint

TASKS_PACKAGE = "django.tasks" if find_spec("django.tasks") else "django_tasks"
ENDPOINTS = "/admin/uploads/webhookendpoint/"
TABLE = re.compile(r'(?:FROM|JOIN|UPDATE|INSERT INTO) "(\w+)"')

# Committed for real, so that what runs once complete commits runs before its answer is
# made, as in a server.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(settings: Any) -> Iterator[list[Any]]:
    """Tasks kept, not run, as on a backend with workers: yields those enqueued."""
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    backend = __import__(TASKS_PACKAGE, fromlist=["task_backends"]).task_backends["default"]
    yield backend.results
    backend.results.clear()


@pytest.fixture
def completing(
    api: APIClient, put: Callable[..., Any], png: bytes, django_capture_on_commit_callbacks: Any
) -> Callable[[], tuple[dict[str, Any], Counter[str]]]:
    """Upload a PNG avatar and complete it, running what runs once that commits; returns
    the answer's data and the tables the completion's queries read or wrote, with how many
    queries each."""

    def do() -> tuple[dict[str, Any], Counter[str]]:
        answer = presign_ok(api, png)
        assert put(answer, png).status_code < 300
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = complete(api, answer["id"])
        assert response.status_code == 200, response.content
        found = Counter(TABLE.findall(" ".join(q["sql"] for q in queries.captured_queries)))
        return response.json()["data"], found

    return do


@pytest.fixture
def declare() -> Callable[..., UploadPolicy]:
    """Declare exactly these variants on the avatar type."""

    def do(**specs: dict[str, Any]) -> UploadPolicy:
        avatar = UploadPolicy.objects.get(name="avatar")
        avatar.variant_specs.all().delete()
        for name, spec in specs.items():
            VariantSpec.objects.create(policy=avatar, name=name, **spec)
        return avatar

    return do


def tasks_named(results: list[Any], name: str) -> int:
    return sum(1 for r in results if r.task.name == name)


def test_without_variants_or_endpoints_a_complete_reads_and_writes_only_the_upload(
    completing: Any, queued: list[Any], declare: Any
) -> None:
    declare()  # none
    completing()  # the first one at this revision reads the snapshot

    data, tables = completing()

    assert data["status"] == "completed" and data["variants"] == {}
    # The lock's read (with the type and the revision, joined) and the update.
    assert tables == {"uploads_upload": 2, "uploads_uploadpolicy": 1, "uploads_policyrevision": 1}
    assert not queued


def test_variants_waiting_for_a_worker_cost_a_completion_no_query(
    completing: Any, queued: list[Any], declare: Any
) -> None:
    declare(thumb=THUMB)
    completing()
    data, tables = completing()

    assert data["variants"] == {"thumb": None}  # enqueued, not made yet
    assert tables == {"uploads_upload": 2, "uploads_uploadpolicy": 1, "uploads_policyrevision": 1}
    assert tasks_named(queued, "make_variants") == 2


def test_variants_made_within_the_request_are_in_its_answer(completing: Any, declare: Any) -> None:
    declare(thumb=THUMB)  # the tests' tasks backend runs them at once

    data, tables = completing()

    assert data["variants"]["thumb"].startswith("http://testserver/")
    assert tables["uploads_variant"] >= 1


def test_an_endpoint_wanting_the_event_adds_its_rows_and_the_delivery(
    completing: Any, queued: list[Any], declare: Any
) -> None:
    declare(thumb=THUMB)
    endpoint = WebhookEndpoint.objects.create(
        url="https://example.com/h", events=["upload.completed"]
    )
    completing()

    _, tables = completing()

    assert tables == {
        "uploads_upload": 2,
        "uploads_uploadpolicy": 1,
        "uploads_policyrevision": 1,
        "uploads_webhookendpoint": 1,  # read once the snapshot says one wants the event
        "uploads_webhookdelivery": 1,
    }
    assert endpoint.deliveries.count() == 2


def test_an_endpoint_wanting_other_events_costs_a_completion_no_query(
    completing: Any, queued: list[Any]
) -> None:
    # The avatar type declares a thumb, as the project ships it.
    WebhookEndpoint.objects.create(url="https://example.com/h", events=["upload.deleted"])
    completing()

    _, tables = completing()

    assert "uploads_webhookendpoint" not in tables
    assert not WebhookDelivery.objects.exists()


@pytest.fixture
def another_process(monkeypatch: pytest.MonkeyPatch) -> policies.PolicyRegistry:
    """The registry of a process that read the snapshot before the edits a test makes (and
    so was not told of them: only the revision read with the upload says so)."""
    other = policies.PolicyRegistry()
    other.declared()
    monkeypatch.setattr(other, "forget", lambda: None)  # what the edit tells its own process
    monkeypatch.setattr(policies, "registry", other)
    return other


def test_variants_declared_in_the_admin_are_made_from_the_next_completion(
    completing: Any,
    queued: list[Any],
    admin_client: Client,
    declare: Any,
    another_process: policies.PolicyRegistry,
) -> None:
    avatar = declare()  # none
    before, _ = completing()
    assert before["variants"] == {} and not queued

    saved = admin_client.post(
        CHANGE.format(avatar.pk), policy_form(avatar) | inline_rows({"name": "thumb", **THUMB})
    )
    assert saved.status_code == 302, saved.context and saved.context["errors"]
    after, _ = completing()

    assert after["variants"] == {"thumb": None}
    assert tasks_named(queued, "make_variants") == 1

    VariantSpec.objects.get(policy=avatar).delete()  # as the inline's delete box does
    dropped, _ = completing()
    assert dropped["variants"] == {}
    assert tasks_named(queued, "make_variants") == 1


def test_an_endpoint_added_in_the_admin_gets_the_next_completion_and_none_once_inactive(
    completing: Any,
    queued: list[Any],
    admin_client: Client,
    another_process: policies.PolicyRegistry,
) -> None:
    completing()
    form = {"url": "https://example.com/hook", "description": "", "events": ["upload.completed"]}

    assert admin_client.post(f"{ENDPOINTS}add/", {**form, "is_active": "on"}).status_code == 302
    first, _ = completing()

    endpoint = WebhookEndpoint.objects.get()
    [delivery] = endpoint.deliveries.all()
    assert f'"id":"{first["id"]}"' in delivery.body

    changed = admin_client.post(f"{ENDPOINTS}{endpoint.pk}/change/", form)  # unticked
    assert changed.status_code == 302
    completing()
    assert endpoint.deliveries.count() == 1


def test_the_snapshot_is_read_once_per_revision(
    completing: Any, queued: list[Any], declare: Any
) -> None:
    declare(thumb=THUMB)
    _, first = completing()
    _, second = completing()

    assert first["uploads_variantspec"] == 1 and "uploads_variantspec" not in second
    assert first["uploads_webhookendpoint"] == 1 and "uploads_webhookendpoint" not in second
