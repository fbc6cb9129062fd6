"""The whole flow through HTTP on the local signer: presign, PUT, complete, read."""

from __future__ import annotations

import re

from django.core.files.storage import storages

from tests.conftest import sha256_b64
from tests.helpers import without_field_values
from uploads.keys import staging_key


def test_presign_put_complete_get(api, presign, put, png, user):
    answer = presign(size=len(png), fileName="C:\\photos\\me.png", sha256=sha256_b64(png))
    assert answer.status_code == 201
    body = answer.json()
    data = body["data"]
    assert body["success"] is True
    assert re.fullmatch(rf"avatars/{user.pk}/{data['id']}\.png", data["key"])
    assert data["status"] == "pending"
    assert data["method"] == "PUT"
    assert data["headers"] == {"Content-Type": "image/png", "Content-Length": str(len(png))}
    assert data["uploadUrl"].startswith("http://testserver/uploads/local/put/")
    assert data["expiresIn"] == 300 and data["maxSize"] == 5 * 1024 * 1024
    assert data["fileName"] == "me.png"
    assert body["meta"]["rateLimit"]["limit"] == 30
    assert answer["X-RateLimit-Remaining"] == "29"

    stored = put(data, png)
    assert stored.status_code == 200, stored.content
    assert storages["default"].exists(staging_key(data["key"]))  # where the URL writes

    done = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert done.status_code == 200, done.content
    upload = done.json()["data"]
    assert upload["status"] == "completed"
    assert upload["size"] == len(png)
    assert upload["sha256"] == sha256_b64(png)
    assert upload["contentType"] == "image/png"
    assert upload["publicUrl"] == f"http://testserver/uploads/files/{data['key']}"

    served = api.get(upload["publicUrl"])
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == png
    assert served["Content-Type"] == "image/png"

    again = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert again.status_code == 200
    # fieldValue is signed with the second it was issued in: compared without it.
    assert without_field_values(again.json()["data"]) == without_field_values(upload)
