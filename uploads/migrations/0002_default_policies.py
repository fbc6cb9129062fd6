from django.db import migrations

MB = 1024 * 1024
IMAGES = ["image/jpeg", "image/png", "image/webp"]

DEFAULTS = [
    {
        "name": "avatar",
        "label": "Avatar",
        "allowed_content_types": IMAGES,
        "max_size": 5 * MB,
        "key_prefix": "avatars",
        "is_public": True,
    },
    {
        "name": "media",
        "label": "Media",
        "allowed_content_types": [*IMAGES, "image/gif", "video/mp4"],
        "max_size": 50 * MB,
        "key_prefix": "media",
        "is_public": True,
    },
    {
        "name": "document",
        "label": "Document",
        "allowed_content_types": ["application/pdf", "image/jpeg", "image/png"],
        "max_size": 10 * MB,
        "key_prefix": "documents",
        "is_public": False,
    },
]


def create(apps, schema_editor):
    UploadPolicy = apps.get_model("uploads", "UploadPolicy")
    for fields in DEFAULTS:
        UploadPolicy.objects.get_or_create(
            name=fields["name"], defaults={**fields, "expires_in": 300, "storage": "default"}
        )


def remove(apps, schema_editor):
    apps.get_model("uploads", "UploadPolicy").objects.filter(
        name__in=[d["name"] for d in DEFAULTS], uploads__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("uploads", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
