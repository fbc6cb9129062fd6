"""The demo's avatars are shown through a `thumb` variant (160 x 160, cropped, WebP)."""

from django.db import migrations

THUMB = {"width": 160, "height": 160, "fit": "crop", "format": "webp", "quality": 80}


def declare(apps, schema_editor):
    UploadPolicy = apps.get_model("uploads", "UploadPolicy")
    VariantSpec = apps.get_model("uploads", "VariantSpec")
    for policy in UploadPolicy.objects.filter(name="avatar"):
        VariantSpec.objects.get_or_create(policy=policy, name="thumb", defaults=THUMB)


def forget(apps, schema_editor):
    VariantSpec = apps.get_model("uploads", "VariantSpec")
    VariantSpec.objects.filter(policy__name="avatar", name="thumb", **THUMB).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_user_token_version"),
        ("uploads", "0013_variants"),
    ]

    operations = [migrations.RunPython(declare, forget)]
