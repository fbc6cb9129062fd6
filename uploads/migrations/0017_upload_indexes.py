"""Two indexes fewer on uploads, which every presign's INSERT writes: the owner's own index
(upload_owner_recent starts with the owner), and on PostgreSQL the key's second index, for
LIKE, which no query makes (the unique constraint's index serves the key's lookups). The
quota's index holds every column presign's count reads, so the count reads no table row."""

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
        migrations.RemoveIndex(model_name="upload", name="upload_owner_pending"),
        migrations.AddIndex(
            model_name="upload",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["owner", "status", "expires_at", "size", "max_size"],
                name="upload_owner_pending",
            ),
        ),
    ]
