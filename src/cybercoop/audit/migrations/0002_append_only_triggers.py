"""The database itself refuses to change or delete an audit entry (core.append_only)."""

from django.db import migrations

from cybercoop.core.append_only import protect_table


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [protect_table("audit_auditentry")]
