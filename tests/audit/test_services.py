"""Recording entries, and the database refusing to change them."""

import datetime as dt

import pytest
from django.db import DatabaseError, transaction

from cybercoop.audit import services
from cybercoop.audit.models import AuditEntry, AuditHead
from cybercoop.audit.rules import GENESIS_HASH, AuditAction
from cybercoop.core.append_only import AppendOnlyError
from cybercoop.core.context import request_context
from tests.audit.helpers import raw


def test_record_chains_each_entry_to_the_previous_one(kz_officer, clock):
    first = services.record(action=AuditAction.SIGNED_IN, actor=kz_officer, target=kz_officer)
    clock.advance(dt.timedelta(minutes=5))
    second = services.record(action=AuditAction.SIGNED_OUT, actor=kz_officer, target=kz_officer)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert AuditHead.objects.get().last_hash == second.hash


def test_record_keeps_who_which_body_what_object_when_and_request(kz_officer, clock):
    with request_context("req-123"):
        entry = services.record(action=AuditAction.USER_LANGUAGE_CHANGED, actor=kz_officer, target=kz_officer)
    entry.refresh_from_db()
    assert entry.actor == kz_officer
    assert entry.actor_label == "kz.officer"
    assert entry.body == kz_officer.body
    assert entry.body_label == "KZ-MIA"
    assert entry.action == "accounts:user:language_changed"
    assert (entry.object_type, entry.object_id) == ("accounts.user", str(kz_officer.pk))
    assert entry.at == clock.now()
    assert entry.request_id == "req-123"


def test_a_stored_entry_still_matches_its_hash_after_a_round_trip(kz_officer, clock):
    entry = services.record(
        action=AuditAction.API_TOKEN_ISSUED, actor=kz_officer, data={"name": "Қазақ ә", "n": 3, "ok": True}
    )
    assert services.verify_chain().ok
    assert AuditEntry.objects.get(pk=entry.pk).hash == entry.hash


def test_the_model_refuses_updates_and_deletes(kz_officer):
    entry = services.record(action=AuditAction.SIGNED_IN, actor=kz_officer)
    entry.action = "x"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.update(action="x")


def test_the_database_refuses_updates_and_deletes_behind_the_models_back(kz_officer):
    services.record(action=AuditAction.SIGNED_IN, actor=kz_officer)
    with pytest.raises(DatabaseError), transaction.atomic():
        raw("UPDATE audit_auditentry SET action = 'x'")
    with pytest.raises(DatabaseError), transaction.atomic():
        raw("DELETE FROM audit_auditentry")
    assert AuditEntry.objects.get().action == "accounts:session:signed_in"


def test_verify_records_who_checked(kz_auditor):
    report = services.verify_chain(actor=kz_auditor)
    assert report.ok
    last = AuditEntry.objects.order_by("-seq").first()
    assert last.action == "audit:chain:verified"
    assert last.data == {"ok": True, "checked": 0, "problem_seq": None}


def test_nul_characters_are_stored_visibly_instead_of_failing(kz_officer):
    entry = services.record(
        action=AuditAction.SIGN_IN_FAILED, target=("accounts.user", "a\x00b"), data={"username": "x\x00y"}
    )
    entry.refresh_from_db()
    assert entry.data == {"username": "x\ufffdy"}
    assert entry.object_id == "a\ufffdb"
    assert services.verify_chain().ok
