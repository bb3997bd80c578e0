"""Test-only ways around the protections of append-only tables, to play the attacker with database access."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection
from django.db.models import QuerySet

from cybercoop.core.append_only import sqlite_triggers


@contextlib.contextmanager
def triggers_disabled(table: str = "audit_auditentry") -> Iterator[None]:
    """Lift the append-only triggers inside the test's transaction (rolled back with it)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Replica mode skips user triggers for this transaction (the test database's user is a superuser).
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute(f"DROP TRIGGER {table}_no_update")
            cursor.execute(f"DROP TRIGGER {table}_no_delete")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL session_replication_role = origin")
            else:
                for statement in sqlite_triggers(table):
                    cursor.execute(statement)


def raw(sql: str, params: list | tuple = ()) -> None:
    """Run SQL behind the application's back."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def force_update(pk: int, **values) -> None:
    """UPDATE one audit entry with the ORM's plain queryset (the model's own refuses); triggers must be off."""
    from cybercoop.audit.models import AuditEntry

    QuerySet(AuditEntry).filter(pk=pk).update(**values)
