"""Tables that are only ever appended to: the audit log, the depositary's records, designation notices.

The model refuses updates and deletes, and a migration operation (`protect_table`) makes the database
refuse them too: a trigger on PostgreSQL (row UPDATE and DELETE) and on SQLite (UPDATE and DELETE).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove a row of an append-only table."""


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model._meta.label} rows are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model._meta.label} rows are append-only")


class AppendOnlyModel(models.Model):
    """A model whose rows, once inserted, never change."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.label} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self._meta.label} rows are append-only")


def _postgres_up(table: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION cybercoop_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION cybercoop_append_only();
"""


def sqlite_triggers(table: str) -> list[str]:
    """The SQLite statements that protect `table` (also used by tests that put them back)."""
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'rows of {table} are append-only'); END;",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'rows of {table} are append-only'); END;",
    ]


def protect_table(table: str) -> migrations.RunPython:
    """A migration operation that makes the database itself refuse UPDATE and DELETE on `table`.

    TRUNCATE, an owner's maintenance statement on PostgreSQL, is not covered: production grants the
    application's role no TRUNCATE and does not make it the tables' owner.
    """

    def install(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(_postgres_up(table), params=None)  # the body holds a literal %
        elif schema_editor.connection.vendor == "sqlite":
            for statement in sqlite_triggers(table):
                schema_editor.execute(statement)

    def remove(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        elif schema_editor.connection.vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete;")

    return migrations.RunPython(install, remove)
