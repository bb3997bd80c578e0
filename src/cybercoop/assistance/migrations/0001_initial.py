
import django.db.models.deletion
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
            name='Case',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('state', models.CharField(choices=[('draft', 'Draft'), ('awaiting_approval', 'Awaiting approval'), ('discarded', 'Discarded'), ('sent', 'Sent, awaiting registration'), ('in_execution', 'In execution'), ('awaiting_information', 'Awaiting additional information'), ('awaiting_conditions_reply', 'Awaiting a reply to proposed conditions'), ('executed', 'Executed'), ('refused', 'Refused')], default='draft', max_length=32, verbose_name='state')),
                ('subject', models.CharField(max_length=300, verbose_name='subject')),
                ('scope', models.CharField(blank=True, choices=[('information_space', 'Protection of the information space from destructive influence'), ('prohibited_internet_use', 'Use of the national Internet segment for purposes prohibited by law'), ('constitutional_order', 'IT crime against the constitutional order or state security'), ('peace_and_security', 'IT crime against the peace and security of mankind'), ('it_crime', 'Crime in the field of information technologies')], max_length=32, verbose_name='scope (Article 3)')),
                ('purpose', models.TextField(blank=True, verbose_name='purpose')),
                ('grounds', models.TextField(blank=True, verbose_name='grounds')),
                ('substance', models.TextField(blank=True, verbose_name='substance of the matter')),
                ('assistance_kinds', models.JSONField(blank=True, default=list, verbose_name='assistance sought (kind)')),
                ('assistance_sought', models.TextField(blank=True, verbose_name='assistance sought')),
                ('identifiers', models.TextField(blank=True, verbose_name='identifiers of the data or persons sought')),
                ('execution_term_days', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='agreed execution term (days)')),
                ('other_information', models.TextField(blank=True, verbose_name='other useful information')),
                ('offence', models.CharField(blank=True, max_length=300, verbose_name="offence under the requesting Party's law")),
                ('dual_criminality_confirmed', models.BooleanField(default=False, verbose_name='the act is a crime under the law of both Parties')),
                ('annex_language', models.CharField(blank=True, max_length=8, verbose_name='language of an annex')),
                ('urgent', models.BooleanField(default=False, verbose_name='urgent (P6.4)')),
                ('marking', models.CharField(choices=[('public', 'Public'), ('official', 'Official use only'), ('confidential', 'Confidential')], default='official', max_length=16, verbose_name='marking')),
                ('purposes', models.JSONField(blank=True, default=list, verbose_name='permitted purposes of the information')),
                ('approved_at', models.DateTimeField(blank=True, null=True, verbose_name='approved')),
                ('return_comment', models.TextField(blank=True, verbose_name='comment on return to draft')),
                ('outgoing_number', models.CharField(blank=True, db_index=True, max_length=40, verbose_name='outgoing number')),
                ('incoming_number', models.CharField(blank=True, db_index=True, max_length=40, verbose_name='incoming number')),
                ('received_at', models.DateTimeField(blank=True, null=True, verbose_name='received')),
                ('closed_at', models.DateTimeField(blank=True, null=True, verbose_name='closed')),
                ('postponed_until', models.DateField(blank=True, null=True, verbose_name='postponed until')),
                ('urgent_confirmed_at', models.DateTimeField(blank=True, null=True, verbose_name='urgent request confirmed')),
                ('partially_refused', models.BooleanField(default=False, verbose_name='partly refused')),
                ('conditions_proposed', models.JSONField(blank=True, default=list, verbose_name='conditions proposed')),
                ('conditions_accepted', models.JSONField(blank=True, default=list, verbose_name='conditions accepted')),
                ('participation_pending', models.BooleanField(default=False, verbose_name='participation request pending')),
                ('created_at', models.DateTimeField(verbose_name='created')),
                ('updated_at', models.DateTimeField(verbose_name='updated')),
                ('approved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='approved by')),
                ('drafted_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='drafted by')),
                ('handling_body', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.body', verbose_name='body executing the request')),
                ('instrument', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.instrument', verbose_name='legal basis')),
                ('requested_body', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.body', verbose_name='requested body')),
                ('requesting_body', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.body', verbose_name='requesting body')),
                ('submitted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='submitted by')),
            ],
            options={
                'verbose_name': 'case',
                'verbose_name_plural': 'cases',
                'ordering': ['-updated_at'],
            },
        ),
        migrations.CreateModel(
            name='Clock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('execution', 'Execution'), ('forward', 'Forwarding'), ('urgent_confirmation', 'Written confirmation of an urgent request'), ('postponement', 'Postponed execution')], max_length=24, verbose_name='clock')),
                ('rule_id', models.CharField(max_length=8, verbose_name='rule')),
                ('started_by', models.UUIDField(verbose_name='started by message')),
                ('started_at', models.DateTimeField(verbose_name='started')),
                ('term', models.PositiveSmallIntegerField(verbose_name='term')),
                ('unit', models.CharField(max_length=8, verbose_name='unit')),
                ('zone', models.CharField(max_length=64, verbose_name='time zone')),
                ('until', models.DateField(blank=True, null=True, verbose_name='until')),
                ('due_at', models.DateTimeField(db_index=True, verbose_name='due')),
                ('obligatory', models.BooleanField(default=True, verbose_name='an obligation')),
                ('status', models.CharField(choices=[('running', 'Running'), ('met', 'Met'), ('superseded', 'Superseded'), ('cancelled', 'No longer needed')], max_length=16, verbose_name='status')),
                ('closed_by', models.UUIDField(blank=True, null=True, verbose_name='closed by message')),
                ('closed_at', models.DateTimeField(blank=True, null=True, verbose_name='closed')),
                ('reminded_before_at', models.DateTimeField(blank=True, null=True, verbose_name='reminded before the deadline')),
                ('reminded_due_at', models.DateTimeField(blank=True, null=True, verbose_name='reminded at the deadline')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('attempts', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                ('acting_body', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registry.body', verbose_name='body that must act')),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='clocks', to='assistance.case', verbose_name='case')),
            ],
            options={
                'verbose_name': 'clock',
                'verbose_name_plural': 'clocks',
                'ordering': ['due_at'],
            },
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(fields=['handling_body', 'state', '-updated_at'], name='case_inbox'),
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(fields=['requesting_body', 'state', '-updated_at'], name='case_outbox'),
        ),
        migrations.AddIndex(
            model_name='clock',
            index=models.Index(fields=['status', 'due_at'], name='clock_scan'),
        ),
        migrations.AddConstraint(
            model_name='clock',
            constraint=models.UniqueConstraint(fields=('case', 'kind', 'started_by'), name='assistance_clock_once_per_event'),
        ),
    ]
