"""Run inside a fresh project (tests/test_host_project.py): a user uploads through the API,
then attaches uploads through the README's ModelForm, the admin and the README's serializer,
and opens the README's page showing a cover and a gallery.
Prints what happened as JSON. Uses only what the installed wheel brings.

    python host_project_flow.py <png file>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import django

django.setup()

from catalog.forms import ArticleForm  # noqa: E402
from catalog.models import Article  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from uploads.acting import acting_as  # noqa: E402
from uploads.models import Upload, UploadPolicy, VariantSpec  # noqa: E402

setup_test_environment()  # the test client's "testserver" host
PNG = Path(sys.argv[1]).read_bytes()
User = get_user_model()
report: dict[str, Any] = {}

# The operator declares the README's thumb variant on the media type (the admin's Variants).
VariantSpec.objects.create(
    policy=UploadPolicy.objects.get(name="media"),
    name="thumb",
    width=4,
    height=4,
    fit="crop",
    format="webp",
)


def upload(client: Client, name: str, *, complete: bool = True) -> dict[str, Any]:
    """Presign, send the bytes as the answer says, complete (unless told not to)."""
    body = {"type": "media", "contentType": "image/png", "size": len(PNG), "fileName": name}
    answer = client.post("/api/v1/uploads/presign", body, content_type="application/json")
    assert answer.status_code == 201, answer.content
    data = answer.json()["data"]
    headers = {k: v for k, v in data["headers"].items() if k != "Content-Length"}
    sent = client.generic(
        data["method"], data["uploadUrl"], PNG, content_type=headers.pop("Content-Type")
    )
    assert sent.status_code == 200, sent.content
    if complete:
        done = client.post(f"/api/v1/uploads/{data['id']}/complete")
        assert done.status_code == 200, done.content
        data = done.json()["data"]
    return dict(data)


def stored(upload_id: str) -> bool:
    key = Upload.objects.get(pk=upload_id).key
    return (Path(settings.MEDIA_ROOT) / key).is_file()


alice = User.objects.create_superuser("alice", "alice@example.com", "pw-alice-1")
bob = User.objects.create_user("bob", "bob@example.com", "pw-bob-1")
client = Client()
client.force_login(alice)

# A ModelForm: the upload's signed id in, the Upload out. Outside a request, acting_as says
# who posts it (the value was issued to Alice).
first = upload(client, "first.png")
form = ArticleForm(
    {"title": "By form", "cover": first["fieldValue"]}, instance=Article(author=alice)
)
report["nobody_known_refused"] = not form.is_valid()
with acting_as(alice):
    form = ArticleForm(
        {"title": "By form", "cover": first["fieldValue"]}, instance=Article(author=alice)
    )
    report["form_valid"] = form.is_valid()
    article = form.save()
    report["form_cover"] = str(article.cover_id) == first["id"]
    report["form_renders_widget"] = "data-uploads-widget" in str(form["cover"])
    report["form_media"] = "upload_widget.js" in str(form.media)
    report["forged_value_refused"] = not ArticleForm(
        {"title": "x", "cover": first["id"]}, instance=Article(author=alice)
    ).is_valid()
with acting_as(bob):
    report["other_posters_value_refused"] = not ArticleForm(
        {"title": "x", "cover": first["fieldValue"]}, instance=Article(author=bob)
    ).is_valid()

# Replacing the cover releases the first upload and its file.
second = upload(client, "second.png")
with acting_as(alice):
    form = ArticleForm({"title": "By form", "cover": second["fieldValue"]}, instance=article)
    assert form.is_valid(), form.errors
    form.save()
report["replaced_released"] = Upload.objects.get(pk=first["id"]).status == "deleted" and not stored(
    first["id"]
)

# A gallery through the same form: several uploads, kept in the order posted; one left out
# later is released.
pictures = [upload(client, "g1.png"), upload(client, "g2.png"), upload(client, "g3.png")]
with acting_as(alice):
    values = [p["fieldValue"] for p in pictures]
    form = ArticleForm(
        {"title": "By form", "cover": second["fieldValue"], "gallery": values[::-1]},
        instance=article,
    )
    report["gallery_form_valid"] = form.is_valid()
    form.save()
    report["form_gallery"] = [u.file.file_name for u in article.gallery] == [
        "g3.png",
        "g2.png",
        "g1.png",
    ]
    form = ArticleForm(
        {"title": "By form", "cover": second["fieldValue"], "gallery": [values[2], values[1]]},
        instance=article,
    )
    assert form.is_valid(), form.errors
    form.save()
report["gallery_removal_released"] = Upload.objects.get(pk=pictures[0]["id"]).status == "deleted"

# The admin's add page, with no formfield_overrides.
page = client.get("/admin/catalog/article/add/").content.decode()
report["admin_widget"] = "data-uploads-widget" in page and 'type="module"' in page
report["admin_gallery_widget"] = "data-uploads-list-widget" in page
third = upload(client, "third.png")
answer = client.post(
    "/admin/catalog/article/add/",
    {"author": alice.pk, "title": "By admin", "cover": third["fieldValue"]},
)
report["admin_saved"] = (
    answer.status_code == 302
    and Article.objects.filter(title="By admin", cover_id=third["id"]).exists()
)

# The README's serializer, beside the uploads API; a pending upload is completed by it.
pending = upload(client, "fourth.png", complete=False)
pending_picture = upload(client, "fifth.png", complete=False)
answer = client.post(
    "/api/v1/articles",
    {"title": "By API", "cover": pending["id"], "gallery": [pending_picture["id"]]},
    content_type="application/json",
)
report["api_status"] = answer.status_code
report["api_cover_status"] = answer.json()["cover"]["status"] if answer.status_code == 201 else None
report["api_gallery"] = (
    [(p["id"], p["status"]) for p in answer.json()["gallery"]]
    == [(pending_picture["id"], "completed")]
    if answer.status_code == 201
    else None
)
report["api_cover_url"] = answer.status_code == 201 and answer.json()["cover"]["url"] == (
    f"http://testserver{Upload.objects.get(pk=pending['id']).url}"
)

other = Client()
other.force_login(bob)
answer = other.post(
    "/api/v1/articles", {"title": "Not mine", "cover": third["id"]}, content_type="application/json"
)
report["other_users_upload"] = [answer.status_code, answer.json()["error"]["code"]]
report["in_use_delete"] = client.delete(f"/api/v1/uploads/{third['id']}").status_code

# The README's page shows the form's article with its cover, served from its URL.
cover_url = Upload.objects.get(pk=second["id"]).url
page = client.get(f"/articles/{article.pk}").content.decode()
report["page_shows_cover"] = bool(cover_url) and f'<img src="{cover_url}" alt="second.png">' in page
shown = [
    page.find(
        f'<img src="{Upload.objects.get(pk=p["id"]).url}" alt="{p["fileName"]}" class="gallery">'
    )
    for p in (pictures[2], pictures[1])
]
report["page_shows_gallery"] = -1 < shown[0] < shown[1]
served = client.get(cover_url or "/")
report["page_cover_served"] = (
    served.status_code == 200 and b"".join(served.streaming_content) == PNG
)

# ...and its thumbnail, the thumb variant made once the upload completed, served as well.
thumb = Upload.objects.get(pk=second["id"]).variant("thumb")
report["page_shows_thumb"] = bool(thumb.url) and (
    f'<img src="{thumb.url}" width="4" height="4" alt="">' in page
)
served = client.get(thumb.url or "/")
report["page_thumb_served"] = served.status_code == 200 and b"".join(
    served.streaming_content
).startswith(b"RIFF")

print(json.dumps(report))
