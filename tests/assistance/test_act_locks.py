"""An act and another transaction that refers to the act's bodies, at the same moment, on PostgreSQL.

PostgreSQL checks a foreign key (Django makes them deferred) when the transaction commits, by taking a key-share lock
on the row it names: a body, for every audit entry and message. A transaction that appended to the audit chain holds
the chain's head until it commits, so it takes those key-share locks while holding the head. An act that locked its
case with a plain FOR UPDATE, and the case's bodies with it (the rows it reads with the case), then waited for the
chain's head: a deadlock, which PostgreSQL breaks by aborting one of the two. It stopped the four-node demo's play in
CI ("deadlock detected … while locking tuple … in relation audit_audithead", the other session at COMMIT). An act
locks the case's own row only, and FOR NO KEY UPDATE, which a key-share lock does not wait for."""

from __future__ import annotations

import os
import re

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cybercoop.assistance import services
from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from tests.assistance.factories import draft
from tests.locks import act_meanwhile

# Before any fixture writes: SQLite takes no row locks, and the flush after a test without a transaction meets the
# append-only triggers there.
pytestmark = [
    pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="PostgreSQL only: SQLite takes no row locks"),
    pytest.mark.django_db(transaction=True),
]


def test_an_act_goes_through_while_a_transaction_that_refers_to_its_body_commits(protocol, kz_officer, ru_body):
    case = draft(kz_officer, ru_body, protocol, urgent=True)
    other, outcome = act_meanwhile(
        # Holds the chain's head; the entry refers to the requesting body, checked when this commits…
        lambda: audit.record(action=AuditAction.CASE_VIEWED, body=kz_officer.body),
        lambda: None,  # …once the act waits for the head, having locked its case and numbered it in its body
    )
    sent = services.send_urgent(actor=kz_officer, case=case)
    other.join(30)

    assert outcome == {"waited": True, "done": True}, "the act did not wait for the chain's head, or deadlocked"
    assert sent.outgoing_number.startswith(f"{kz_officer.body.code}-")


def _referred_to() -> set[str]:
    """The tables some foreign key names: a key-share lock on their rows is taken by every commit that refers to one."""
    return {
        field.related_model._meta.db_table
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.many_to_one or field.one_to_one
        if field.concrete and field.related_model is not None
    }


def _tables(sql: str) -> set[str]:
    locked = re.search(r" FOR (?:NO KEY )?UPDATE OF (.*)$", sql)
    names = re.findall(r'(?:FROM|JOIN) "(\w+)"', sql)
    if locked:  # only the tables named after OF
        aliases = set(re.findall(r'"(\w+)"', locked.group(1)))
        names = [n for n in names if n in aliases]
    return set(names)


def test_an_act_takes_no_lock_that_a_reference_to_a_row_waits_for(protocol, kz_officer, ru_body):
    case = draft(kz_officer, ru_body, protocol, urgent=True)
    with CaptureQueriesContext(connection) as queries:
        services.send_urgent(actor=kz_officer, case=case)

    locking = [q["sql"] for q in queries.captured_queries if re.search(r" FOR (NO KEY )?UPDATE", q["sql"])]
    assert any(' FROM "assistance_case"' in sql for sql in locking), "the act no longer locks its case"
    referred = _referred_to()
    key_locks = [
        sorted(_tables(sql) & referred) for sql in locking if "FOR NO KEY UPDATE" not in sql and _tables(sql) & referred
    ]
    assert not key_locks, f"rows locked FOR UPDATE that other rows refer to: {key_locks}"
