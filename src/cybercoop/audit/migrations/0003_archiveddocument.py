"""The archive of official documents (issue 6): its table, which the database itself refuses to change."""

import cybercoop.audit.models
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from cybercoop.core.append_only import protect_table


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_append_only_triggers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ArchivedDocument',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('sha256', models.CharField(max_length=64, unique=True, validators=[cybercoop.audit.models._sha256_hex], verbose_name='SHA-256')),
                ('size_bytes', models.PositiveBigIntegerField(verbose_name='size (bytes)')),
                ('media_type', models.CharField(max_length=100, verbose_name='type')),
                ('file', models.FileField(upload_to=cybercoop.audit.models._archive_upload_to, verbose_name='file')),
                ('kind', models.CharField(db_index=True, max_length=32, verbose_name='kind')),
                ('name', models.CharField(max_length=200, verbose_name='file name')),
                ('reference', models.CharField(blank=True, max_length=200, verbose_name='reference')),
                ('body_code', models.CharField(blank=True, max_length=32, verbose_name='body code')),
                ('object_type', models.CharField(blank=True, max_length=64, verbose_name='object type')),
                ('object_id', models.CharField(blank=True, max_length=64, verbose_name='object')),
                ('archived_at', models.DateTimeField(verbose_name='archived')),
                ('archived_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='archived by')),
            ],
            options={
                'verbose_name': 'archived document',
                'verbose_name_plural': 'archived documents',
                'ordering': ['archived_at', 'pk'],
                'indexes': [models.Index(fields=['object_type', 'object_id'], name='audit_archi_object__ac496d_idx')],
            },
        ),
        protect_table("audit_archiveddocument"),
    ]
