"""The worker's reminders and a user acting at the same moment, on PostgreSQL (row locks, real deadlocks).

An act on a case appends to the audit chain, then updates the case's clocks. The worker reminds of deadlines:
it locks the due clocks and audits each reminder. Had it locked the clocks first and then waited for the chain's
head, an act holding the head and updating one of those clocks would wait for it: a deadlock, which PostgreSQL
breaks by aborting one of the two (reproduced here without the fix). The worker takes the chain's
head first, then the clocks, skipping those an act holds."""

from __future__ import annotations

import datetime as dt
import os
import threading

import pytest
from django.db import connection

from cybercoop.assistance import selectors, services
from cybercoop.assistance.models import Clock
from cybercoop.audit import services as audit
from tests.assistance.factories import draft
from tests.locks import act_meanwhile

# Before any fixture writes: SQLite takes no row locks, and the flush after a test without a transaction meets the
# append-only triggers there.
pytestmark = [
    pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="PostgreSQL only: SQLite takes no row locks"),
    pytest.mark.django_db(transaction=True),
]


def test_the_worker_takes_the_audit_chain_before_the_clocks_so_an_act_meanwhile_goes_through(
    protocol, kz_officer, ru_body, clock
):
    case = services.send_urgent(actor=kz_officer, case=draft(kz_officer, ru_body, protocol, urgent=True))
    clock.advance(dt.timedelta(hours=49))  # 23 hours before the urgent request's confirmation is due: a reminder
    [due] = selectors.due_clocks(now=clock.now(), remind_before=services.REMIND_BEFORE, limit=10)
    assert due.case_id == case.pk
    user, outcome = act_meanwhile(
        audit.lock_log,  # as an act appends to the chain…
        lambda: Clock.objects.filter(pk=due.pk).update(last_error=""),  # …then updates the case's clocks
    )
    handled = services.process_due_clocks()
    user.join(30)

    assert outcome == {"waited": True, "done": True}, "the worker did not wait for the chain's head, or deadlocked"
    assert handled == 1
    due.refresh_from_db()
    assert due.reminded_before_at is not None


def _reminded_seen_from_another_session() -> int:
    """How many clocks another session sees reminded: what the worker has committed so far."""
    seen = []

    def count() -> None:
        try:
            seen.append(Clock.objects.filter(reminded_before_at__isnull=False).count())
        finally:
            connection.close()

    reader = threading.Thread(target=count)
    reader.start()
    reader.join(20)
    return seen[0]


def test_each_reminder_is_a_transaction_of_its_own_so_an_act_waits_for_one_at_most(
    protocol, kz_officer, ru_body, clock, monkeypatch
):
    for _ in range(3):
        services.send_urgent(actor=kz_officer, case=draft(kz_officer, ru_body, protocol, urgent=True))
    clock.advance(dt.timedelta(hours=49))  # the three confirmations due within 24 hours: three reminders
    seen = []
    notify = services.notify_deadline

    def watched(**kwargs):
        seen.append(_reminded_seen_from_another_session())  # while the worker holds this reminder's locks
        notify(**kwargs)

    monkeypatch.setattr(services, "notify_deadline", watched)

    assert services.process_due_clocks() == 3
    assert seen == [0, 1, 2], "the reminders before this one were not committed: the batch held its locks"
