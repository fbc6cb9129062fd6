"""The rest of the HTTP contract: auth, scopes, ownership, list, delete, download, the
envelope and its headers, the upload types, the query budget of complete and the schema."""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.core.files.storage import storages
from django.utils import timezone
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.apikeys import create_api_key
from accounts.scopes import SCOPES
from tests.conftest import client_for, make_png
from tests.helpers import PDF, assert_error, assert_ok, without_correlation, without_field_values
from uploads import services
from uploads.api.negotiation import JSONFirstNegotiation
from uploads.api.parsers import JSONParser
from uploads.keys import staging_key
from uploads.models import Upload, UploadPolicy

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def statuses() -> dict[str, str]:
    return dict(Upload.objects.values_list("id", "status"))  # type: ignore[arg-type]


@pytest.fixture
def completed(
    api: APIClient, uploaded: Callable[..., dict[str, Any]]
) -> Callable[..., dict[str, Any]]:
    """Presign, PUT and complete; returns the completed upload as the API shows it."""

    def do(body: bytes | None = None, **fields: Any) -> dict[str, Any]:
        data = uploaded(body, **fields) if body is not None else uploaded(**fields)
        return assert_ok(api.post(f"/api/v1/uploads/{data['id']}/complete"))

    return do


def upload_paths(upload_id: str) -> list[tuple[str, str]]:
    return [
        ("get", f"/api/v1/uploads/{upload_id}"),
        ("delete", f"/api/v1/uploads/{upload_id}"),
        ("post", f"/api/v1/uploads/{upload_id}/complete"),
        ("get", f"/api/v1/uploads/{upload_id}/download"),
    ]


# --- auth ------------------------------------------------------------------------------


def test_token_pair_for_a_password_and_it_works(user: Any) -> None:
    client = APIClient()
    data = assert_ok(
        client.post(
            "/api/v1/auth/token",
            {"username": user.username, "password": "pw-123456"},
            format="json",
        )
    )
    assert set(data) == {"access", "refresh"}

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {data['access']}")
    assert assert_ok(client.get("/api/v1/uploads")) == []

    refreshed = assert_ok(
        APIClient().post("/api/v1/auth/token/refresh", {"refresh": data["refresh"]}, format="json")
    )
    assert set(refreshed) >= {"access"}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")
    assert_ok(client.get("/api/v1/uploads"))


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "{user}", "password": "wrong-password"},
        {"username": "nobody-at-all", "password": "pw-123456"},
    ],
)
def test_token_refused_for_bad_credentials(user: Any, credentials: dict[str, str]) -> None:
    body = {k: v.format(user=user.username) for k, v in credentials.items()}
    response = APIClient().post("/api/v1/auth/token", body, format="json")
    assert_error(response, 401, "auth.unauthorized")
    assert "access" not in response.content.decode()


def test_token_request_without_fields_is_a_validation_error(db: Any) -> None:
    error = assert_error(
        APIClient().post("/api/v1/auth/token", {}, format="json"), 400, "validation.failed"
    )
    assert {d["field"] for d in error["details"]} == {"username", "password"}


def test_inactive_user_gets_no_token_and_their_tokens_stop_working(user: Any) -> None:
    api = client_for(user)
    assert_ok(api.get("/api/v1/uploads"))
    user.is_active = False
    user.save(update_fields=["is_active"])

    refused = APIClient().post(
        "/api/v1/auth/token", {"username": user.username, "password": "pw-123456"}, format="json"
    )
    assert_error(refused, 401, "auth.unauthorized")
    assert_error(api.get("/api/v1/uploads"), 401, "auth.unauthorized")


def test_bad_refresh_token_is_unauthorized(user: Any) -> None:
    access = str(RefreshToken.for_user(user).access_token)
    for refresh in ("garbage", access):  # an access token is not a refresh token
        response = APIClient().post(
            "/api/v1/auth/token/refresh", {"refresh": refresh}, format="json"
        )
        assert_error(response, 401, "auth.unauthorized")


def _expired_access(user: Any) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(days=1))
    return str(token)


CREDENTIALS: dict[str, Callable[[Any], str | None]] = {
    "none": lambda user: None,
    "garbage": lambda user: "Bearer not-a-jwt",
    "expired": _expired_access,
    "refresh token as access": lambda user: f"Bearer {RefreshToken.for_user(user)}",
    "other scheme": lambda user: f"Basic {user.username}:pw-123456",
}


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_every_uploads_endpoint_requires_a_valid_token(
    credential: str, user: Any, uploaded: Callable[..., dict[str, Any]]
) -> None:
    pending = uploaded()
    header = CREDENTIALS[credential](user)
    if credential == "expired":
        header = f"Bearer {header}"
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    requests = [
        ("get", "/api/v1/uploads/types"),
        ("post", "/api/v1/uploads/presign"),
        ("get", "/api/v1/uploads"),
        *upload_paths(pending["id"]),
    ]
    before = statuses()
    for method, path in requests:
        response = getattr(client, method)(
            path,
            {"type": "avatar", "contentType": "image/png", "size": 10}
            if method == "post"
            else None,
            format="json",
        )
        assert_error(response, 401, "auth.unauthorized")
        assert response["WWW-Authenticate"].startswith("Bearer"), (method, path)
    assert statuses() == before
    assert storages["default"].exists(staging_key(pending["key"]))


# --- scopes ----------------------------------------------------------------------------


@pytest.fixture
def scoped_client(user: Any) -> Callable[..., APIClient]:
    """A client holding a real API key of ``user`` that grants only ``scopes``."""

    def make(*scopes: str) -> APIClient:
        _, key = create_api_key(user, f"scoped {','.join(scopes) or 'none'}", scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make


#: Every scope a key may hold: the app's and the project's own.
ALL_SCOPES = SCOPES
SCOPED_REQUESTS = [
    ("get", "/api/v1/uploads/types", "uploads:read"),
    ("post", "/api/v1/uploads/presign", "uploads:write"),
    ("get", "/api/v1/uploads", "uploads:read"),
    ("get", "/api/v1/uploads/{id}", "uploads:read"),
    ("delete", "/api/v1/uploads/{id}", "uploads:write"),
    ("post", "/api/v1/uploads/{id}/complete", "uploads:write"),
    ("get", "/api/v1/uploads/{id}/download", "uploads:read"),
]


@pytest.mark.parametrize(("method", "path", "scope"), SCOPED_REQUESTS)
def test_a_credential_needs_the_endpoints_scope(
    scoped_client: Callable[..., APIClient],
    completed: Callable[..., dict[str, Any]],
    method: str,
    path: str,
    scope: str,
) -> None:
    upload = completed()
    url = path.format(id=upload["id"])
    body = {"type": "avatar", "contentType": "image/png", "size": 10} if "presign" in url else None
    before = statuses()

    lacking = scoped_client(*(s for s in ALL_SCOPES if s != scope))
    assert_error(getattr(lacking, method)(url, body, format="json"), 403, "auth.forbidden")
    assert_error(getattr(scoped_client(), method)(url, body, format="json"), 403, "auth.forbidden")
    assert statuses() == before
    assert storages["default"].exists(upload["key"])

    granted = getattr(scoped_client(scope), method)(url, body, format="json")
    assert_ok(granted, 201 if "presign" in url else 200)


# --- ownership -------------------------------------------------------------------------


def test_another_users_upload_answers_as_a_missing_one(
    api: APIClient, other_user: Any, png: bytes, put: Callable[..., Any]
) -> None:
    theirs_client = client_for(other_user)
    presigned = assert_ok(
        theirs_client.post(
            "/api/v1/uploads/presign",
            {"type": "document", "contentType": "image/png", "size": len(png)},
            format="json",
        ),
        201,
    )
    assert put(presigned, png).status_code == 200
    theirs = assert_ok(theirs_client.post(f"/api/v1/uploads/{presigned['id']}/complete"))

    for (method, path), (_, missing_path), (_, garbage_path) in zip(
        upload_paths(theirs["id"]),
        upload_paths(str(uuid.uuid4())),
        upload_paths("not-a-uuid"),
        strict=True,
    ):
        answers = [getattr(api, method)(p) for p in (path, missing_path, garbage_path)]
        errors = [assert_error(a, 404, "upload.not_found") for a in answers]
        assert without_correlation(errors[0]) == without_correlation(errors[1]), (method, path)
        assert without_correlation(errors[0]) == without_correlation(errors[2]), (method, path)

    assert Upload.objects.get(pk=theirs["id"]).status == "completed"
    assert storages["default"].exists(theirs["key"])
    again = assert_ok(theirs_client.get(f"/api/v1/uploads/{theirs['id']}"))
    assert without_field_values(again) == without_field_values(theirs)


# --- list ------------------------------------------------------------------------------


def test_list_is_newest_first_paginated_and_filtered(
    api: APIClient,
    presign: Callable[..., Any],
    completed: Callable[..., dict[str, Any]],
    other_user: Any,
) -> None:
    done = completed()
    pending = assert_ok(presign(size=10), 201)
    document = assert_ok(presign(type="document", contentType="application/pdf", size=10), 201)
    assert_ok(
        client_for(other_user).post(
            "/api/v1/uploads/presign",
            {"type": "avatar", "contentType": "image/png", "size": 10},
            format="json",
        ),
        201,
    )
    now = timezone.now()
    for age, upload in enumerate([document, pending, done]):
        Upload.objects.filter(pk=upload["id"]).update(created_at=now - timedelta(minutes=age))
    newest_first = [document["id"], pending["id"], done["id"]]

    response = api.get("/api/v1/uploads")
    assert [u["id"] for u in assert_ok(response)] == newest_first
    assert response.json()["meta"]["pagination"] == {
        "page": 1,
        "pageSize": 20,
        "total": 3,
        "totalPages": 1,
        "next": None,
        "previous": None,
    }

    first = api.get("/api/v1/uploads", {"pageSize": 2})
    assert [u["id"] for u in assert_ok(first)] == newest_first[:2]
    assert first.json()["meta"]["pagination"] == {
        "page": 1,
        "pageSize": 2,
        "total": 3,
        "totalPages": 2,
        "next": "http://testserver/api/v1/uploads?page=2&pageSize=2",
        "previous": None,
    }
    second = api.get("/api/v1/uploads", {"pageSize": 2, "page": 2})
    assert [u["id"] for u in assert_ok(second)] == newest_first[2:]
    assert second.json()["meta"]["pagination"] == {
        "page": 2,
        "pageSize": 2,
        "total": 3,
        "totalPages": 2,
        "next": None,
        "previous": "http://testserver/api/v1/uploads?pageSize=2",
    }

    assert [u["id"] for u in assert_ok(api.get("/api/v1/uploads", {"status": "completed"}))] == [
        done["id"]
    ]
    assert [
        u["id"] for u in assert_ok(api.get("/api/v1/uploads", {"status": "pending"}))
    ] == newest_first[:2]
    assert [u["id"] for u in assert_ok(api.get("/api/v1/uploads", {"type": "document"}))] == [
        document["id"]
    ]
    both = api.get("/api/v1/uploads", {"type": "avatar", "status": "pending"})
    assert [u["id"] for u in assert_ok(both)] == [pending["id"]]
    assert assert_ok(api.get("/api/v1/uploads", {"type": "nothing-such"})) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": "deleted"}, "status"),
        ({"page": "0"}, "page"),
        ({"pageSize": "1000"}, "pageSize"),
        ({"sort": "owner"}, "sort"),
    ],
)
def test_list_refuses_a_bad_query(api: APIClient, query: dict[str, str], field: str) -> None:
    error = assert_error(api.get("/api/v1/uploads", query), 400, "validation.failed")
    assert [d["field"] for d in error["details"]] == [field]


def test_deleted_uploads_are_not_listed(api: APIClient, presign: Callable[..., Any]) -> None:
    kept = assert_ok(presign(size=10), 201)
    gone = assert_ok(presign(size=10), 201)
    assert_ok(api.delete(f"/api/v1/uploads/{gone['id']}"))

    response = api.get("/api/v1/uploads")
    assert [u["id"] for u in assert_ok(response)] == [kept["id"]]
    assert response.json()["meta"]["pagination"]["total"] == 1


# --- delete ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["pending, nothing stored", "pending, stored", "completed"])
def test_delete_removes_the_object_and_marks_the_row(
    api: APIClient,
    presign: Callable[..., Any],
    uploaded: Callable[..., dict[str, Any]],
    completed: Callable[..., dict[str, Any]],
    state: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    if state == "completed":
        upload = completed()
        assert api.get(upload["publicUrl"]).status_code == 200
    elif state == "pending, stored":
        upload = uploaded()
    else:
        upload = assert_ok(presign(size=10), 201)

    with django_capture_on_commit_callbacks(execute=True):  # the object goes after commit
        deleted = assert_ok(api.delete(f"/api/v1/uploads/{upload['id']}"))
    assert deleted["id"] == upload["id"] and deleted["status"] == "deleted"
    assert not storages["default"].exists(upload["key"])
    assert Upload.objects.get(pk=upload["id"]).status == "deleted"

    assert_error(api.get(f"/api/v1/uploads/{upload['id']}"), 404, "upload.not_found")
    assert_error(api.delete(f"/api/v1/uploads/{upload['id']}"), 404, "upload.not_found")
    assert_error(api.post(f"/api/v1/uploads/{upload['id']}/complete"), 404, "upload.not_found")
    if state == "completed":
        assert_error(api.get(upload["publicUrl"]), 404, "not_found")


# --- download --------------------------------------------------------------------------


def test_private_document_downloads_as_an_attachment(
    api: APIClient, completed: Callable[..., dict[str, Any]]
) -> None:
    upload = completed(
        PDF, type="document", contentType="application/pdf", fileName="Q3 report.pdf"
    )
    assert upload["publicUrl"] is None

    data = assert_ok(api.get(f"/api/v1/uploads/{upload['id']}/download"))
    assert set(data) == {"url", "expiresIn"}
    assert data["expiresIn"] == 300
    assert data["url"].startswith("http://testserver/uploads/local/get/")

    served = APIClient().get(data["url"])  # a signed URL needs no credentials
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == PDF
    assert served["Content-Type"] == "application/pdf"
    assert served["Content-Disposition"].startswith("attachment")
    assert "Q3 report.pdf" in served["Content-Disposition"]
    assert served["X-Content-Type-Options"] == "nosniff"


def test_an_avatar_downloads_inline(
    api: APIClient, completed: Callable[..., dict[str, Any]], png: bytes
) -> None:
    upload = completed(fileName="me.png")
    data = assert_ok(api.get(f"/api/v1/uploads/{upload['id']}/download"))

    served = APIClient().get(data["url"])
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == png
    assert served["Content-Type"] == "image/png"
    assert "attachment" not in served.get("Content-Disposition", "")


def test_a_pending_upload_cannot_be_downloaded(
    api: APIClient, uploaded: Callable[..., dict[str, Any]]
) -> None:
    pending = uploaded()
    error = assert_error(
        api.get(f"/api/v1/uploads/{pending['id']}/download"), 409, "upload.invalid_state"
    )
    assert error["i18nVars"] == {"status": "pending"}
    assert Upload.objects.get(pk=pending["id"]).status == "pending"


def test_a_tampered_download_url_is_refused(
    api: APIClient, completed: Callable[..., dict[str, Any]]
) -> None:
    upload = completed(PDF, type="document", contentType="application/pdf")
    url = assert_ok(api.get(f"/api/v1/uploads/{upload['id']}/download"))["url"]
    flipped = url[:-1] + ("A" if url[-1] != "A" else "B")

    response = APIClient().get(flipped)
    assert_error(response, 403, "upload.signature_invalid")
    assert PDF not in response.content


# --- envelope and headers --------------------------------------------------------------


def test_a_sane_request_id_is_echoed(api: APIClient) -> None:
    rid = "web-7f3a:checkout.42"
    ok = api.get("/api/v1/uploads", HTTP_X_REQUEST_ID=rid)
    assert ok["X-Request-ID"] == rid
    assert ok.json()["meta"]["requestId"] == rid

    missing = api.get(f"/api/v1/uploads/{uuid.uuid4()}", HTTP_X_REQUEST_ID=rid)
    assert missing["X-Request-ID"] == rid
    assert assert_error(missing, 404, "upload.not_found")["correlationId"] == rid


@pytest.mark.parametrize(
    "sent",
    [
        "x" * 500,
        "has spaces in it",
        "abcdefgh\n",
        "abcd\nefgh",
        "short",
        "<script>alert(1)</script>",
        "émoji-ünïcode",
    ],
)
def test_an_insane_request_id_is_replaced(api: APIClient, sent: str) -> None:
    response = api.get("/api/v1/uploads", HTTP_X_REQUEST_ID=sent)
    assert response.status_code == 200
    rid = response["X-Request-ID"]
    assert GENERATED_ID.fullmatch(rid)
    assert response.json()["meta"]["requestId"] == rid


def test_every_answer_carries_a_request_id(api: APIClient) -> None:
    answers = [
        api.get("/api/v1/uploads"),
        APIClient().get("/api/v1/uploads"),  # 401
        api.get(f"/api/v1/uploads/{uuid.uuid4()}"),  # 404
        api.get("/api/v1/no-such-thing"),  # 404 from the URL resolver
        api.put("/api/v1/uploads/presign", {}, format="json"),  # 405
        api.post("/api/v1/uploads/presign", "{", content_type="application/json"),  # 400
        APIClient().get("/uploads/local/get/not-a-token"),  # 403 from the local signer
        APIClient().get("/"),
    ]
    ids = [a.get("X-Request-ID") for a in answers]
    assert all(rid and GENERATED_ID.fullmatch(rid) for rid in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("accept", "query", "suffix"),
    [
        (None, "", None),
        ("*/*", "", None),
        ("application/json", "", None),
        ("application/json; indent=4", "", None),
        ("text/html", "", None),
        ("text/html, */*;q=0.1", "", None),
        ("application/*", "", None),
        (None, "format=json", None),
        (None, "format=xml", None),
        ("*/*", "page=1", None),
        (None, "", "json"),
        (None, "", "xml"),
    ],
)
def test_the_app_views_choose_a_renderer_as_drf_does(
    accept: str | None, query: str, suffix: str | None
) -> None:
    """The app's views skip DRF's negotiation for the common Accept headers: the renderer
    and media type (or the refusal) must be what DRF's own negotiation gives."""
    extra = {"HTTP_ACCEPT": accept} if accept is not None else {}
    request = Request(APIRequestFactory().post(f"/api/v1/uploads/presign?{query}", **extra))
    renderers = [JSONRenderer()]

    def chosen(negotiation: DefaultContentNegotiation) -> Any:
        try:
            renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
        except Exception as exc:
            return type(exc)
        return renderer, media_type

    assert chosen(JSONFirstNegotiation()) == chosen(DefaultContentNegotiation())


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "avatar", "size": 5}',
        b'["a", 1, 2.5, null, true]',
        '{"fileName": "résumé \u2028"}'.encode(),
        b'{"a": "\xc3"}',  # cut in a character
        b'{"a": 1} \xc3',
        b'\xef\xbb\xbf{"a": 1}',  # a BOM
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"{",
        b"",
        b"  ",
        b'{"a": 1} {"b": 2}',
        b'"\\ud800"',
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "utf-16"])
def test_the_json_parser_answers_as_drfs_does(body: bytes, encoding: str) -> None:
    """A body parsed directly gives DRF's data; any other, DRF's own error message."""
    from rest_framework import parsers

    def parsed(parser: parsers.BaseParser) -> Any:
        try:
            return parser.parse(io.BytesIO(body), "application/json", {"encoding": encoding})
        except Exception as exc:
            return type(exc), str(exc)

    assert parsed(JSONParser()) == parsed(parsers.JSONParser())


@pytest.mark.parametrize(
    "url",
    [
        "/uploads/local/put/abc:def?x=1&y=%20&z=a+b",
        "/a/.b/..c",
        "/a/..",
        "/",
        "//evil.example/x",
        "/a/./b",
        "/a/../b",
        "/x?next=/../",
        "/a b/é?q=ü",
        "relative/path",
        "https://bucket.example/key?X-Amz-Signature=1",
        None,
        "",
    ],
)
@pytest.mark.parametrize(("host", "secure"), [("testserver", False), ("API.Example:8443", True)])
def test_urls_are_made_absolute_as_django_makes_them(
    settings: Any, url: str | None, host: str, secure: bool
) -> None:
    from uploads.api.serializers import absolute

    settings.ALLOWED_HOSTS = ["testserver", "api.example"]
    request = Request(APIRequestFactory().get("/", HTTP_HOST=host, secure=secure))
    for _ in range(2):  # the origin found, then kept
        expected = request.build_absolute_uri(url) if url else url
        assert absolute(request, url) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"success": True, "data": {"a": [1, 2.5, None, True], "b": "é\u2028\u2029</script>"}},
        [],
        "text",
        None,
        {"when": timezone.now(), "id": uuid.uuid4(), "big": 10**30},
        {"nan": float("nan")},
    ],
)
@pytest.mark.parametrize(
    ("media_type", "context"),
    [
        ("application/json", {}),
        ("application/json", {"indent": 2}),
        ("application/json; indent=4", {}),
        (None, None),
    ],
)
def test_the_json_renderer_renders_as_drfs_does(data: Any, media_type: Any, context: Any) -> None:
    from rest_framework import renderers

    from uploads.api.renderers import JSONRenderer

    def rendered(renderer: renderers.BaseRenderer) -> Any:
        try:
            return renderer.render(data, media_type, context)
        except Exception as exc:
            return type(exc), str(exc)

    assert rendered(JSONRenderer()) == rendered(renderers.JSONRenderer())


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "text/plain", "", "APPLICATION/JSON"],
)
def test_the_app_views_choose_a_parser_as_drf_does(content_type: str) -> None:
    request = Request(
        APIRequestFactory().generic("POST", "/", b"{}", content_type=content_type),
        parsers=[JSONParser()],
    )
    parsers = [JSONParser()]
    assert JSONFirstNegotiation().select_parser(
        request, parsers
    ) is DefaultContentNegotiation().select_parser(request, parsers)


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v1/uploads/x/y/z", "/api/nothing"])
def test_an_unknown_api_path_is_an_envelope(api: APIClient, path: str) -> None:
    assert_error(api.get(path), 404, "not_found")


def test_a_wrong_method_is_an_envelope(api: APIClient) -> None:
    for method, path in [
        ("put", "/api/v1/uploads/presign"),
        ("get", "/api/v1/uploads/presign"),
        ("post", "/api/v1/uploads"),
        ("patch", f"/api/v1/uploads/{uuid.uuid4()}"),
        ("get", "/api/v1/auth/token"),
    ]:
        response = getattr(api, method)(path, {}, format="json")
        assert_error(response, 405, "method_not_allowed")
    assert not Upload.objects.exists()


def test_an_unhandled_error_is_a_logged_envelope_without_internals(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:  # fault injection
        raise RuntimeError("secret internals at /srv/app/settings.py")

    monkeypatch.setattr(services, "presign_upload", broken)
    with caplog.at_level(logging.ERROR, logger="uploads.api"):
        response = api.post(
            "/api/v1/uploads/presign",
            {"type": "avatar", "contentType": "image/png", "size": 10},
            format="json",
            HTTP_X_REQUEST_ID="trace-500-abcdef",
        )

    error = assert_error(response, 500, "server.error")
    assert error["correlationId"] == "trace-500-abcdef"
    text = response.content.decode()
    for leak in ("Traceback", "RuntimeError", "secret internals", "settings.py"):
        assert leak not in text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name == "uploads.api"]
    assert len(logged) == 1
    assert "trace-500-abcdef" in logged[0].getMessage()
    assert logged[0].exc_info and isinstance(logged[0].exc_info[1], RuntimeError)
    assert not Upload.objects.exists()


# --- query budget of complete ----------------------------------------------------------


def test_complete_stays_within_its_query_budget(
    api: APIClient, uploaded: Callable[..., dict[str, Any]], django_assert_max_num_queries: Any
) -> None:
    data = uploaded()
    # The answer's variants: the type's declarations (avatar: thumb) and the upload's records.
    with django_assert_max_num_queries(6 + 2):
        response = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert assert_ok(response)["status"] == "completed"
    with django_assert_max_num_queries(5 + 2):  # completing again reads, changes nothing
        assert (
            assert_ok(api.post(f"/api/v1/uploads/{data['id']}/complete"))["status"] == "completed"
        )


# --- upload types ----------------------------------------------------------------------


def test_upload_types_lists_the_active_ones(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    types = assert_ok(api.get("/api/v1/uploads/types"))
    assert [t["type"] for t in types] == ["avatar", "document", "media"]
    avatar = types[0]
    contract = {"type", "label", "allowedContentTypes", "maxSize", "expiresIn", "method"}
    assert contract <= set(avatar)
    assert {k: avatar[k] for k in contract} == {
        "type": "avatar",
        "label": "Avatar",
        "allowedContentTypes": ["image/jpeg", "image/png", "image/webp"],
        "maxSize": 5 * 1024 * 1024,
        "expiresIn": 300,
        "method": "PUT",
    }

    media = UploadPolicy.objects.get(name="media")
    media.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        media.save()
    assert [t["type"] for t in assert_ok(api.get("/api/v1/uploads/types"))] == [
        "avatar",
        "document",
    ]


# --- OpenAPI ---------------------------------------------------------------------------


def test_openapi_schema_lists_the_upload_paths(db: Any) -> None:
    response = APIClient().get("/api/v1/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/uploads/presign",
        "/api/v1/uploads",
        "/api/v1/uploads/types",
        "/api/v1/uploads/{upload_id}",
        "/api/v1/uploads/{upload_id}/complete",
        "/api/v1/uploads/{upload_id}/download",
        "/api/v1/auth/token",
    } <= set(schema["paths"])
    assert {"post"} <= set(schema["paths"]["/api/v1/uploads/presign"])
    assert {"get", "delete"} <= set(schema["paths"]["/api/v1/uploads/{upload_id}"])


def test_api_docs_page_is_served(db: Any) -> None:
    response = APIClient().get("/api/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()


def test_a_public_upload_is_served_at_its_public_url_only_once_completed(
    api: APIClient, uploaded: Callable[..., dict[str, Any]]
) -> None:
    pending = uploaded(make_png(2, 2))
    assert_error(APIClient().get(pending["publicUrl"]), 404, "not_found")
    assert_ok(api.post(f"/api/v1/uploads/{pending['id']}/complete"))
    assert APIClient().get(pending["publicUrl"]).status_code == 200


@pytest.mark.django_db
def test_upload_representation_matches_the_declared_fields(uploaded: Any, api: APIClient) -> None:
    """UploadSerializer builds its output by hand for speed; DRF's own field-by-field path over
    the declared fields (which the OpenAPI schema shows) must give exactly the same."""
    from rest_framework import serializers
    from rest_framework.test import APIRequestFactory

    from uploads.api.serializers import UploadSerializer
    from uploads.models import Upload

    pending = uploaded()
    completed = uploaded()
    api.post(f"/api/v1/uploads/{completed['id']}/complete")
    request = APIRequestFactory().get("/")
    for upload_id in (pending["id"], completed["id"]):
        upload = Upload.objects.select_related("policy").get(pk=upload_id)
        serializer = UploadSerializer(upload, context={"request": request})
        assert serializer.data == serializers.Serializer.to_representation(serializer, upload)


@pytest.mark.django_db
def test_head_needs_the_scope_that_get_needs(scoped_client: Callable[..., APIClient]) -> None:
    """Django answers HEAD with the GET handler: it must not skip the scope check."""
    lacking, holding = scoped_client("media:read"), scoped_client("uploads:read")
    assert lacking.head("/api/v1/uploads").status_code == 403
    assert holding.head("/api/v1/uploads").status_code == 200


@pytest.mark.django_db
def test_a_page_past_the_last_is_empty(api: APIClient) -> None:
    response = api.get("/api/v1/uploads?page=9")
    assert assert_ok(response) == []
    assert response.json()["meta"]["pagination"]["totalPages"] == 1
