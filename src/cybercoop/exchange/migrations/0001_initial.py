
import django.db.models.deletion

from cybercoop.core.append_only import protect_table
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('registry', '0002_instruments_designations_profiles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Message',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False, verbose_name='message id')),
                ('conversation', models.UUIDField(db_index=True, verbose_name='conversation')),
                ('kind', models.CharField(max_length=64, verbose_name='kind')),
                ('seq', models.PositiveIntegerField(verbose_name="sender's number in the conversation")),
                ('position', models.PositiveIntegerField(verbose_name='order of application on this node')),
                ('prev_hash', models.CharField(blank=True, max_length=64, verbose_name="hash of the sender's previous message")),
                ('created_at', models.DateTimeField(verbose_name='created')),
                ('instrument', models.CharField(max_length=64, verbose_name='legal basis')),
                ('marking', models.CharField(choices=[('public', 'Public'), ('official', 'Official use only'), ('confidential', 'Confidential')], max_length=16, verbose_name='marking')),
                ('purposes', models.JSONField(default=list, verbose_name='permitted purposes')),
                ('conditions', models.JSONField(default=list, verbose_name='accepted conditions')),
                ('body', models.JSONField(default=dict, verbose_name='content')),
                ('hash', models.CharField(max_length=64, verbose_name='hash')),
                ('transport', models.CharField(default='local', max_length=16, verbose_name='transport')),
                ('recipient_body', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.body', verbose_name='receiving body')),
                ('sender_body', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.body', verbose_name='sending body')),
                ('sender_user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='sent by')),
            ],
            options={
                'verbose_name': 'message',
                'verbose_name_plural': 'messages',
                'ordering': ['conversation', 'position'],
            },
        ),
        migrations.CreateModel(
            name='Attachment',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('position', models.PositiveSmallIntegerField(default=0, verbose_name='position')),
                ('name', models.CharField(max_length=120, verbose_name='file name')),
                ('media_type', models.CharField(max_length=100, verbose_name='type')),
                ('size_bytes', models.PositiveBigIntegerField(verbose_name='size (bytes)')),
                ('sha256', models.CharField(max_length=64, verbose_name='SHA-256')),
                ('file', models.FileField(upload_to='attachments/%Y/%m/', verbose_name='file')),
                ('uploaded_at', models.DateTimeField(verbose_name='uploaded')),
                ('uploaded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='uploaded by')),
                ('message', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='attachments', to='exchange.message', verbose_name='message')),
            ],
            options={
                'verbose_name': 'attachment',
                'verbose_name_plural': 'attachments',
                'ordering': ['position', 'uploaded_at'],
            },
        ),
        migrations.AddConstraint(
            model_name='message',
            constraint=models.UniqueConstraint(fields=('conversation', 'sender_body', 'seq'), name='exchange_message_seq_per_sender'),
        ),
        migrations.AddConstraint(
            model_name='message',
            constraint=models.UniqueConstraint(fields=('conversation', 'position'), name='exchange_message_position'),
        ),
        # Messages are never changed or removed once stored.
        protect_table("exchange_message"),
    ]
