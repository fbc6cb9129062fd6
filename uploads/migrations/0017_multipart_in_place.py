from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0015_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="upload",
            name="assembles_at_key",
            field=models.BooleanField(default=False),
        ),
    ]
