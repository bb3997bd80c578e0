
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('registry', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditHead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('last_seq', models.PositiveBigIntegerField(default=0, verbose_name='last number')),
                ('last_hash', models.CharField(default='0000000000000000000000000000000000000000000000000000000000000000', max_length=64, verbose_name='last hash')),
            ],
            options={
                'verbose_name': 'audit log head',
                'verbose_name_plural': 'audit log head',
            },
        ),
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveBigIntegerField(unique=True, verbose_name='number')),
                ('at', models.DateTimeField(verbose_name='time')),
                ('actor_label', models.CharField(blank=True, max_length=150, verbose_name='user name')),
                ('body_label', models.CharField(blank=True, max_length=32, verbose_name='body code')),
                ('action', models.CharField(db_index=True, max_length=64, verbose_name='action')),
                ('object_type', models.CharField(blank=True, max_length=64, verbose_name='object type')),
                ('object_id', models.CharField(blank=True, max_length=64, verbose_name='object')),
                ('data', models.JSONField(blank=True, default=dict, verbose_name='details')),
                ('request_id', models.CharField(blank=True, max_length=64, verbose_name='HTTP request ID')),
                ('prev_hash', models.CharField(max_length=64, verbose_name='previous hash')),
                ('hash', models.CharField(max_length=64, verbose_name='hash')),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user')),
                ('body', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.body', verbose_name='competent body')),
            ],
            options={
                'verbose_name': 'audit entry',
                'verbose_name_plural': 'audit entries',
                'ordering': ['-seq'],
                'indexes': [models.Index(fields=['at'], name='audit_audit_at_bd7d43_idx'), models.Index(fields=['object_type', 'object_id'], name='audit_audit_object__3eefc4_idx')],
            },
        ),
    ]
