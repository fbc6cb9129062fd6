from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0009_verifying"),
    ]

    operations = [
        migrations.CreateModel(
            name="PolicyRevision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveBigIntegerField(default=0)),
            ],
            options={"verbose_name": "upload types revision"},
        ),
    ]
