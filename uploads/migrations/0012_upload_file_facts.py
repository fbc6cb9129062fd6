from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0011_upload_verify_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="upload",
            name="width",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="upload",
            name="height",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="upload",
            name="is_animated",
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="upload",
            name="page_count",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="upload",
            name="duration",
            field=models.FloatField(blank=True, null=True),
        ),
    ]
