
import cybercoop.registry.models
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='Party',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name_ru', models.CharField(max_length=300, verbose_name='name (Russian)')),
                ('name_kk', models.CharField(blank=True, max_length=300, verbose_name='name (Kazakh)')),
                ('name_en', models.CharField(blank=True, max_length=300, verbose_name='name (English)')),
                ('code', models.CharField(help_text='ISO 3166 code, or CSTO', max_length=8, unique=True, verbose_name='code')),
                ('kind', models.CharField(choices=[('state', 'State'), ('organisation', 'International organisation')], max_length=16, verbose_name='kind')),
                ('time_zone', models.CharField(max_length=64, validators=[cybercoop.registry.models._check_time_zone], verbose_name='time zone')),
            ],
            options={
                'verbose_name': 'Party',
                'verbose_name_plural': 'Parties',
                'ordering': ['name_ru'],
            },
        ),
        migrations.CreateModel(
            name='Body',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name_ru', models.CharField(max_length=300, verbose_name='name (Russian)')),
                ('name_kk', models.CharField(blank=True, max_length=300, verbose_name='name (Kazakh)')),
                ('name_en', models.CharField(blank=True, max_length=300, verbose_name='name (English)')),
                ('code', models.CharField(max_length=32, unique=True, verbose_name='code')),
                ('kind', models.CharField(choices=[('law_enforcement', 'Law enforcement'), ('security_service', 'Security service'), ('prosecution', 'Prosecution'), ('judiciary', 'Judiciary'), ('secretariat', 'Secretariat')], max_length=24, verbose_name='kind')),
                ('time_zone', models.CharField(blank=True, help_text="Leave empty to use the Party's time zone.", max_length=64, validators=[cybercoop.registry.models._check_time_zone], verbose_name='time zone')),
                ('party', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='bodies', to='registry.party', verbose_name='Party')),
            ],
            options={
                'verbose_name': 'competent body',
                'verbose_name_plural': 'competent bodies',
                'ordering': ['party__name_ru', 'name_ru'],
            },
        ),
    ]
