"""The database itself refuses to change or delete an audit entry.

PostgreSQL: a row trigger on UPDATE and DELETE (TRUNCATE, an owner's maintenance statement, is not
covered; production grants the application role no TRUNCATE). SQLite: triggers on UPDATE and DELETE.
"""

from django.db import migrations

TABLE = "audit_auditentry"

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only';
END $$;
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();
"""
POSTGRES_DOWN = f"""
DROP TRIGGER IF EXISTS audit_entry_append_only ON {TABLE};
DROP FUNCTION IF EXISTS audit_entry_append_only();
"""
SQLITE_UP = [
    f"CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;",
    f"CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_entry_no_update;",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete;",
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
