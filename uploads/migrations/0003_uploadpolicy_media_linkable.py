from django.db import migrations, models


def mark_media(apps, schema_editor):
    """The shipped "media" type is the one media items link to."""
    apps.get_model("uploads", "UploadPolicy").objects.filter(name="media").update(
        media_linkable=True
    )


class Migration(migrations.Migration):
    dependencies = [("uploads", "0002_default_policies")]
    operations = [
        migrations.AddField(
            model_name="uploadpolicy",
            name="media_linkable",
            field=models.BooleanField(
                default=False,
                help_text="Completed uploads of this type may be linked as media items.",
                verbose_name="media-linkable",
            ),
        ),
        migrations.RunPython(mark_media, migrations.RunPython.noop),
    ]
