
import django.contrib.auth.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('registry', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='User',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('password', models.CharField(max_length=128, verbose_name='password')),
                ('last_login', models.DateTimeField(blank=True, null=True, verbose_name='last login')),
                ('username', models.CharField(max_length=150, unique=True, validators=[django.contrib.auth.validators.UnicodeUsernameValidator()], verbose_name='user name')),
                ('full_name', models.CharField(max_length=200, verbose_name='full name')),
                ('position', models.CharField(blank=True, max_length=200, verbose_name='position')),
                ('email', models.EmailField(blank=True, max_length=254, verbose_name='e-mail')),
                ('role', models.CharField(choices=[('officer', 'Officer'), ('head', 'Head of body'), ('deputy', 'Deputy head'), ('registrar', 'Registrar'), ('secretariat', 'Secretariat officer'), ('auditor', 'Auditor')], max_length=16, verbose_name='role')),
                ('language', models.CharField(choices=[('ru', 'Russian'), ('kk', 'Kazakh'), ('en', 'English')], default='ru', max_length=8, verbose_name='interface language')),
                ('is_active', models.BooleanField(default=True, verbose_name='active')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                ('body', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='users', to='registry.body', verbose_name='competent body')),
            ],
            options={
                'verbose_name': 'user',
                'verbose_name_plural': 'users',
                'ordering': ['username'],
            },
        ),
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('prefix', models.CharField(max_length=8, unique=True, verbose_name='prefix')),
                ('digest', models.CharField(max_length=64, verbose_name='digest')),
                ('created_at', models.DateTimeField(verbose_name='issued')),
                ('expires_at', models.DateTimeField(blank=True, null=True, verbose_name='expires')),
                ('revoked_at', models.DateTimeField(blank=True, null=True, verbose_name='revoked')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'API token',
                'verbose_name_plural': 'API tokens',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.CheckConstraint(condition=models.Q(('role__in', ['officer', 'head', 'deputy', 'registrar', 'secretariat', 'auditor'])), name='accounts_user_role_known'),
        ),
    ]
