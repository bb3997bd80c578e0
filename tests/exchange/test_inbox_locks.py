"""A batch of arriving envelopes and a user acting at the same moment, on PostgreSQL (row locks, real deadlocks).

A local act locks its case, then the audit chain's head. A batch applies its messages one after the other; if it
locked each message's case only when it reached it, it would hold the chain's head from its first message while it
waited for the case of the next, and a user acting on that case would wait for the chain's head: a deadlock, which
PostgreSQL breaks by aborting one of the two. The batch takes its cases first, before it applies anything."""

from __future__ import annotations

import os

import pytest

from cybercoop.assistance.models import Case
from cybercoop.assistance.rules import Kind
from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.exchange.federation import inbox
from tests.assistance.factories import REQUEST_FIELDS
from tests.exchange.federation import next_message, seal, wire_message
from tests.locks import act_meanwhile

# Before any fixture writes: SQLite takes no row locks, and the flush after a test without a transaction meets the
# append-only triggers there.
pytestmark = [
    pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="PostgreSQL only: SQLite takes no row locks"),
    pytest.mark.django_db(transaction=True),
]

REQUEST_BODY = {name: value for name, value in REQUEST_FIELDS.items() if name != "marking"}


def _from_kz(federation, *messages):
    return [seal(m, sender=federation.keys["kz"], recipient=federation.public("ru")) for m in messages]


def _raised(message):
    return next_message(
        message,
        kind=Kind.MARKING,
        body={"marking": "confidential", "previous": "official", "reason": "Новые сведения."},
    )


def test_a_batch_takes_its_cases_before_it_applies_any_so_a_user_acting_meanwhile_goes_through(federation):
    federation.become("ru")
    first, second = (
        wire_message(kind=Kind.REQUEST, body=REQUEST_BODY),
        wire_message(kind=Kind.REQUEST, body=REQUEST_BODY),
    )
    assert [r["status"] for r in inbox.receive_batch(_from_kz(federation, first, second))] == ["accepted"] * 2

    user, outcome = act_meanwhile(
        lambda: Case.objects.select_for_update().get(pk=second["conversation"]),  # as every act on a case begins
        lambda: audit.record(action=AuditAction.CASE_VIEWED, target=("assistance.case", second["conversation"])),
    )
    results = inbox.receive_batch(_from_kz(federation, _raised(first), _raised(second)))
    user.join(30)

    assert outcome == {"waited": True, "done": True}, "the batch did not wait for the user's case, or deadlocked"
    assert [r["status"] for r in results] == ["accepted", "accepted"]
    assert set(Case.objects.values_list("marking", flat=True)) == {"confidential"}
