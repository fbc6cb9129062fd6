"""Two indexes fewer on uploads, which every presign's INSERT writes: the owner's own index
(upload_owner_recent starts with the owner), and on PostgreSQL the key's second index, for
LIKE, which no query makes (the unique constraint's index serves the key's lookups)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0016_multipart_in_place"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The new constraint first: the key is never without one.
        migrations.AddConstraint(
            model_name="upload",
            constraint=models.UniqueConstraint(fields=("key",), name="upload_unique_key"),
        ),
        migrations.AlterField(
            model_name="upload",
            name="key",
            field=models.CharField(max_length=1024),
        ),
        migrations.AlterField(
            model_name="upload",
            name="owner",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="uploads",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
