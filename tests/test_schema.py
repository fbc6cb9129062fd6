"""The OpenAPI schema tells the truth: real answers of every endpoint, successes and errors,
made through the test client, validate against the schema /api/v1/schema serves, with no
field the schema leaves out; and the schema describes what a reader needs (tags, summaries,
the error codes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from accounts.apikeys import create_api_key
from tests.conftest import make_png, sha256_b64
from tests.helpers import MP4, PRESIGN, assert_ok, complete
from tests.test_multipart import PART, VIDEO, send_parts, sign
from uploads.signers.local import LocalSigner

#: Every operation the API has, as the schema names it.
OPERATIONS = {
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/token/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/uploads/types"),
    ("post", "/api/v1/uploads/presign"),
    ("get", "/api/v1/uploads"),
    ("get", "/api/v1/uploads/{upload_id}"),
    ("delete", "/api/v1/uploads/{upload_id}"),
    ("post", "/api/v1/uploads/{upload_id}/complete"),
    ("get", "/api/v1/uploads/{upload_id}/parts"),
    ("post", "/api/v1/uploads/{upload_id}/parts"),
    ("get", "/api/v1/uploads/{upload_id}/download"),
    ("get", "/api/v1/users/me"),
    ("patch", "/api/v1/users/me/avatar"),
    ("delete", "/api/v1/users/me/avatar"),
    ("get", "/api/v1/media"),
    ("post", "/api/v1/media"),
    ("get", "/api/v1/media/{item_id}"),
    ("patch", "/api/v1/media/{item_id}"),
    ("delete", "/api/v1/media/{item_id}"),
}


class SmallPartsSigner(LocalSigner):
    part_limits = (1024, 5 * 1024**3, 10_000)


def closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to others: an answer
    with a field the schema does not name fails, as a drift must."""
    if isinstance(schema, dict):
        schema = {key: closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def spec(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/v1/schema", {"format": "json"})
    assert response.status_code == 200
    return dict(response.json())


Check = Callable[..., Any]


@pytest.fixture
def checked(spec: dict[str, Any]) -> Iterator[Check]:
    """``checked(response, method, template)``: asserts the answer's status is documented for
    the operation, its body validates against that status's schema, and an error's code is
    one the status lists; returns the body."""
    components = closed(spec["components"])

    def check(response: Any, method: str, template: str) -> Any:
        operation = spec["paths"][template][method]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method.upper()} {template} answered {status}, not documented: {response.content!r}"
        )
        content = operation["responses"][status]["content"]
        assert response["Content-Type"] in content
        body = response.json()
        schema = {**closed(content[response["Content-Type"]]["schema"]), "components": components}
        errors = sorted(
            Draft202012Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path)
        )
        assert not errors, "\n".join(
            f"{method.upper()} {template} {status} at {list(e.absolute_path)}: {e.message}"
            for e in errors
        )
        if not body["success"]:
            description = operation["responses"][status]["description"]
            assert f"`{body['error']['code']}`" in description, (template, status, body)
        return body

    yield check


def test_every_operation_has_a_tag_a_summary_and_its_own_description(
    spec: dict[str, Any],
) -> None:
    operations = {
        (method, path): op for path, item in spec["paths"].items() for method, op in item.items()
    }
    assert set(operations) - {("get", "/api/v1/schema")} == OPERATIONS
    assert [t["name"] for t in spec["tags"]] == ["auth", "uploads", "users", "media"]
    internal = ("UploadsAPIView", "REST_FRAMEWORK", "simplejwt", "Takes a set of user")
    for (method, path), op in operations.items():
        if path == "/api/v1/schema":
            continue
        assert len(op["tags"]) == 1 and op["tags"][0] in {"auth", "uploads", "users", "media"}
        assert op["summary"] and op["description"], (method, path)
        assert not any(word in op["description"] for word in internal), (method, path)
        errors = {int(s) for s in op["responses"] if int(s) >= 400}
        assert {500}.issubset(errors) and (401 in errors), (method, path)
    assert spec["paths"]["/api/v1/uploads/{upload_id}/complete"]["post"]["responses"].keys() >= {
        "200",
        "202",
        "409",
        "410",
        "422",
        "503",
    }
    for path in (
        "/api/v1/uploads/{upload_id}",
        "/api/v1/users/me/avatar",
        "/api/v1/media/{item_id}",
    ):
        assert "204" not in spec["paths"][path]["delete"]["responses"]
        assert "200" in spec["paths"][path]["delete"]["responses"]


def test_auth_answers_match_the_schema(checked: Check, user: Any) -> None:
    user.set_password("pw-for-schema-test")
    user.save()
    client = APIClient()
    token = "/api/v1/auth/token"
    pair = checked(
        client.post(
            token, {"username": user.username, "password": "pw-for-schema-test"}, format="json"
        ),
        "post",
        token,
    )["data"]
    checked(
        client.post(token, {"username": user.username, "password": "wrong"}, format="json"),
        "post",
        token,
    )
    checked(client.post(token, {"username": user.username}, format="json"), "post", token)
    checked(client.post(token, "x=1", content_type="text/plain"), "post", token)
    refresh = "/api/v1/auth/token/refresh"
    renewed = checked(
        client.post(refresh, {"refresh": pair["refresh"]}, format="json"), "post", refresh
    )["data"]
    checked(client.post(refresh, {"refresh": "nonsense"}, format="json"), "post", refresh)
    logout = "/api/v1/auth/logout"
    checked(client.post(logout, {"refresh": renewed["refresh"]}, format="json"), "post", logout)
    checked(client.post(logout, {"refresh": renewed["refresh"]}, format="json"), "post", logout)


def test_upload_answers_match_the_schema(
    checked: Check, api: APIClient, user: Any, uploaded: Callable[..., Any], png: bytes
) -> None:
    types = "/api/v1/uploads/types"
    checked(api.get(types), "get", types)
    checked(APIClient().get(types), "get", types)

    created = checked(
        api.post(
            PRESIGN,
            {
                "type": "avatar",
                "contentType": "image/png",
                "size": len(png),
                "sha256": sha256_b64(png),
            },
            format="json",
        ),
        "post",
        PRESIGN,
    )["data"]
    checked(
        api.post(PRESIGN, {"type": "nope", "contentType": "image/png"}, format="json"),
        "post",
        PRESIGN,
    )
    checked(api.post(PRESIGN, {"type": 5, "extra": 1}, format="json"), "post", PRESIGN)
    checked(
        api.post(PRESIGN, "type=avatar", content_type="application/x-www-form-urlencoded"),
        "post",
        PRESIGN,
    )
    reader = APIClient()
    reader.credentials(
        HTTP_AUTHORIZATION=f"Bearer {create_api_key(user, 'reader', ['uploads:read'])[1]}"
    )
    checked(
        reader.post(PRESIGN, {"type": "avatar", "contentType": "image/png"}, format="json"),
        "post",
        PRESIGN,
    )

    one = "/api/v1/uploads/{upload_id}"
    completion = "/api/v1/uploads/{upload_id}/complete"
    download = "/api/v1/uploads/{upload_id}/download"
    checked(api.get(f"/api/v1/uploads/{created['id']}/download"), "get", download)
    checked(complete(api, created["id"]), "post", completion)  # nothing sent yet: 409
    data = uploaded()
    checked(complete(api, data["id"]), "post", completion)
    # The same file again: deduplicated, 200.
    again = api.post(
        PRESIGN,
        {"type": "avatar", "contentType": "image/png", "size": len(png), "sha256": sha256_b64(png)},
        format="json",
    )
    checked(again, "post", PRESIGN)
    checked(api.get(f"/api/v1/uploads/{data['id']}"), "get", one)
    checked(api.get(f"/api/v1/uploads/{data['id']}/download"), "get", download)
    checked(api.get("/api/v1/uploads/not-an-id"), "get", one)
    checked(
        api.get("/api/v1/uploads", {"status": "completed", "pageSize": 1}), "get", "/api/v1/uploads"
    )
    checked(api.get("/api/v1/uploads", {"status": "nope"}), "get", "/api/v1/uploads")

    lying = uploaded(body=MP4, contentType="image/png", size=len(MP4))
    checked(complete(api, lying["id"]), "post", completion)  # 422

    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": data["id"]}, format="json"))
    checked(api.delete(f"/api/v1/uploads/{data['id']}"), "delete", one)  # in use: 409
    checked(api.delete(f"/api/v1/uploads/{created['id']}"), "delete", one)


def test_background_complete_matches_the_schema(
    checked: Check, settings: Any, api: APIClient, uploaded: Callable[..., Any]
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_IN_BACKGROUND_ABOVE": 10}
    data = uploaded(body=make_png(8, 8))
    body = checked(complete(api, data["id"]), "post", "/api/v1/uploads/{upload_id}/complete")
    assert body["data"]["status"] == "verifying"


def test_multipart_answers_match_the_schema(
    checked: Check, settings: Any, edit_policy: Any, api: APIClient, uploaded: Callable[..., Any]
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "SIGNERS": {"default": f"{__name__}.SmallPartsSigner"}}
    edit_policy("media", part_size=PART, multipart_threshold=PART)
    parts = "/api/v1/uploads/{upload_id}/parts"
    response = api.post(
        PRESIGN, {"type": "media", "contentType": "video/mp4", "size": len(VIDEO)}, format="json"
    )
    answer = checked(response, "post", PRESIGN)["data"]
    assert answer["multipart"]["partCount"] == 4
    checked(sign(api, answer["id"], [1, 2]), "post", parts)
    checked(sign(api, answer["id"], [1, 1]), "post", parts)
    send_parts(api, answer["id"], [1, 2])
    checked(api.get(f"/api/v1/uploads/{answer['id']}/parts"), "get", parts)
    checked(complete(api, answer["id"]), "post", "/api/v1/uploads/{upload_id}/complete")  # 409
    single = uploaded()
    checked(api.get(f"/api/v1/uploads/{single['id']}/parts"), "get", parts)
    checked(sign(api, single["id"], [1]), "post", parts)


def test_user_and_media_answers_match_the_schema(
    checked: Check, api: APIClient, user: Any, uploaded: Callable[..., Any]
) -> None:
    me, avatar = "/api/v1/users/me", "/api/v1/users/me/avatar"
    checked(api.get(me), "get", me)
    pending = uploaded(body=make_png(6, 6))
    checked(api.patch(avatar, {"upload": pending["id"]}, format="json"), "patch", avatar)
    checked(api.get(me), "get", me)
    checked(
        api.patch(avatar, {"upload": pending["id"], "key": "x"}, format="json"), "patch", avatar
    )
    checked(api.patch(avatar, {"upload": "0" * 32}, format="json"), "patch", avatar)
    checked(api.delete(avatar), "delete", avatar)
    checked(APIClient().get(me), "get", me)

    items, item = "/api/v1/media", "/api/v1/media/{item_id}"
    photo = uploaded(body=make_png(7, 7), type="media")
    created = checked(
        api.post(items, {"upload": photo["id"], "title": "A photo"}, format="json"), "post", items
    )["data"]
    wrong_type = uploaded(body=make_png(9, 9))
    checked(api.post(items, {"upload": wrong_type["id"]}, format="json"), "post", items)
    checked(api.get(items), "get", items)
    checked(api.get(items, {"page": 0}), "get", items)
    checked(api.get(f"/api/v1/media/{created['id']}"), "get", item)
    checked(api.get("/api/v1/media/missing"), "get", item)
    checked(
        api.patch(f"/api/v1/media/{created['id']}", {"title": "Renamed"}, format="json"),
        "patch",
        item,
    )
    checked(api.patch(f"/api/v1/media/{created['id']}", {"title": 5}, format="json"), "patch", item)
    checked(api.delete(f"/api/v1/media/{created['id']}"), "delete", item)
    checked(api.delete(f"/api/v1/media/{created['id']}"), "delete", item)


def request_schema(spec: dict[str, Any], method: str, template: str) -> Draft202012Validator:
    body = spec["paths"][template][method]["requestBody"]
    assert body.get("required") is True, (method, template)
    schema = body["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": spec["components"]})


def agrees(validator: Draft202012Validator, response: Any, body: Any) -> tuple[bool, bool]:
    """(the schema accepts ``body``, the server's validation accepted it)."""
    return validator.is_valid(body), not (
        response.status_code == 400 and response.json()["error"]["code"] == "validation.failed"
    )


SHA = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="


@pytest.mark.parametrize(
    "body",
    [
        {"type": "avatar", "contentType": "image/png", "size": 68, "sha256": SHA},
        {"type": "avatar", "contentType": "image/png", "size": 68.0, "sha256": SHA},
        {"type": "document", "contentType": "application/pdf", "size": 68, "sha256": ""},
    ],
)
def test_presign_bodies_the_schema_accepts_the_server_accepts(
    spec: dict[str, Any], api: APIClient, body: dict[str, Any]
) -> None:
    assert request_schema(spec, "post", PRESIGN).is_valid(body)
    assert_ok(api.post(PRESIGN, body, format="json"), 201)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "", "contentType": "image/png"},
        {"type": "  ", "contentType": "image/png"},
        {"type": "avatar", "contentType": ""},
        {"type": "avatar", "contentType": "image/png", "extra": 1},
    ],
)
def test_presign_bodies_the_schema_refuses_fail_validation(
    spec: dict[str, Any], api: APIClient, body: dict[str, Any]
) -> None:
    validator = request_schema(spec, "post", PRESIGN)
    assert agrees(validator, api.post(PRESIGN, body, format="json"), body) == (False, False)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "avatar", "contentType": "image/png", "size": 68, "sha256": {}}, "pattern"),
        ({"type": "avatar", "contentType": "image/png", "size": 68, "sha256": "abc"}, "pattern"),
        ({"type": "avatar", "contentType": "image/png", "size": 0}, "minimum"),
        ({"type": "avatar", "contentType": "image/png", "size": 1.5}, "type"),
    ],
)
def test_presign_values_the_schema_refuses_the_server_refuses_with_its_code(
    spec: dict[str, Any], api: APIClient, body: dict[str, Any], code: str
) -> None:
    errors = list(request_schema(spec, "post", PRESIGN).iter_errors(body))
    assert errors and errors[0].validator in (code, "type"), errors
    response = api.post(PRESIGN, body, format="json")
    field = "sha256" if "sha256" in body else "size"
    assert response.status_code == 400
    expected = "upload.invalid_checksum" if field == "sha256" else "upload.invalid_size"
    assert response.json()["error"]["code"] == expected


def test_token_logout_avatar_media_and_parts_bodies_agree_with_the_server(
    spec: dict[str, Any], api: APIClient, user: Any
) -> None:
    cases: list[tuple[str, str, str, Any]] = [
        ("post", "/api/v1/auth/token", "/api/v1/auth/token", {"username": "", "password": "x"}),
        ("post", "/api/v1/auth/token", "/api/v1/auth/token", {"username": "a", "password": " "}),
        ("post", "/api/v1/auth/token/refresh", "/api/v1/auth/token/refresh", {"refresh": ""}),
        ("post", "/api/v1/auth/logout", "/api/v1/auth/logout", {"refresh": " "}),
        ("patch", "/api/v1/users/me/avatar", "/api/v1/users/me/avatar", {}),
        (
            "patch",
            "/api/v1/users/me/avatar",
            "/api/v1/users/me/avatar",
            {"upload": "a", "key": "b"},
        ),
        ("patch", "/api/v1/users/me/avatar", "/api/v1/users/me/avatar", {"upload": ""}),
        ("post", "/api/v1/media", "/api/v1/media", {"upload": ""}),
        ("post", "/api/v1/auth/logout", "/api/v1/auth/logout", {"refresh": "a\x00b"}),
    ]
    for method, path, template, body in cases:
        response = getattr(api, method)(path, body, format="json")
        schema_ok, server_ok = agrees(request_schema(spec, method, template), response, body)
        assert (schema_ok, server_ok) == (False, False), (method, path, body, response.content)


def test_a_media_patch_must_carry_its_title(
    spec: dict[str, Any], api: APIClient, user: Any
) -> None:
    validator = request_schema(spec, "patch", "/api/v1/media/{item_id}")
    assert not validator.is_valid({}) and validator.is_valid({"title": ""})
    assert not validator.is_valid({"title": "a\x00"})  # DRF refuses NUL characters


def test_part_numbers_are_unique_and_whole(spec: dict[str, Any]) -> None:
    validator = request_schema(spec, "post", "/api/v1/uploads/{upload_id}/parts")
    assert validator.is_valid({"partNumbers": [1, 2]})
    assert not validator.is_valid({"partNumbers": [1, 1]})
    assert not validator.is_valid({"partNumbers": [1.5]})
    assert not validator.is_valid({"partNumbers": [1], "extra": True})
