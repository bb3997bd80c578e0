"""The auditor's screens and API."""

import datetime as dt
import json

import pytest

from cybercoop.accounts import services as accounts
from cybercoop.audit import services
from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction


@pytest.fixture
def log(kz_officer, ru_officer, clock):
    services.record(action=AuditAction.SIGNED_IN, actor=kz_officer)
    clock.advance(dt.timedelta(days=1))
    services.record(action=AuditAction.SIGNED_IN, actor=ru_officer)
    clock.advance(dt.timedelta(days=1))
    services.record(action=AuditAction.SIGNED_OUT, actor=kz_officer)
    services.record(action=AuditAction.SIGN_IN_FAILED, data={"username": "ghost"})


@pytest.mark.parametrize("persona", ["kz_officer", "kz_head", "kz_deputy", "outsider"])
def test_only_auditors_open_the_log(client, log, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/audit/").status_code == 403


def test_an_auditor_sees_their_partys_entries_and_node_wide_ones(client, log, kz_auditor):
    client.force_login(kz_auditor)
    r = client.get("/audit/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "kz.officer" in html
    assert "ru.officer" not in html  # another Party's entries are not the Kazakh auditor's business
    assert "ghost" in html


def test_filters_narrow_the_log(client, log, kz_auditor):
    client.force_login(kz_auditor)
    html = client.get("/audit/", {"action": "accounts:session:signed_out"}).content.decode()
    rows = html.split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 1
    html = client.get("/audit/", {"since": "2026-11-25", "actor": "kz.officer"}).content.decode()
    rows = html.split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 1


def test_the_log_filters_by_body(client, log, kz_auditor, kz_body):
    from tests.registry.factories import BodyFactory

    other = BodyFactory(party=kz_body.party, code="KZ-NSC")
    services.record(action=AuditAction.SIGNED_IN, body=other)
    client.force_login(kz_auditor)
    html = client.get("/audit/", {"body": "kz-nsc", "action": "accounts:session:signed_in"}).content.decode()
    rows = html.split("<tbody>")[1].split("</tbody>")[0]
    assert rows.count("<tr>") == 1
    assert "KZ-NSC" in rows


def test_bad_filters_are_refused_field_by_field(client, log, kz_auditor):
    client.force_login(kz_auditor)
    r = client.get("/audit/", {"since": "yesterday", "action": "audit:everything:deleted"})
    assert r.status_code == 400
    html = r.content.decode()
    assert html.count('class="error"') == 2


def test_reading_the_log_is_itself_audited(client, log, kz_auditor):
    client.force_login(kz_auditor)
    client.get("/audit/")
    assert AuditEntry.objects.filter(action="audit:log:viewed", actor=kz_auditor).count() == 1


def test_the_auditor_can_verify_the_chain_from_the_screen(client, log, kz_auditor):
    client.force_login(kz_auditor)
    r = client.post("/audit/verify/")
    assert r.status_code == 200
    assert 'data-testid="verify-result"' in r.content.decode()
    assert AuditEntry.objects.filter(action="audit:chain:verified").get().data["ok"] is True


def test_the_api_lists_filtered_entries_for_auditors_only(client, log, kz_auditor, kz_officer):
    _token, raw = accounts.issue_api_token(user=kz_officer, name="x")
    assert client.get("/api/v1/audit/entries", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 403
    _token, raw = accounts.issue_api_token(user=kz_auditor, name="x")
    r = client.get(
        "/api/v1/audit/entries", {"action": "accounts:session:signed_in"}, HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["actor"] for i in items] == ["kz.officer"]
    r = client.get("/api/v1/audit/entries", {"action": "nonsense"}, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "action"


def test_the_api_verifies_the_chain(client, log, kz_auditor):
    _token, raw = accounts.issue_api_token(user=kz_auditor, name="x", scope="act")
    r = client.post("/api/v1/audit/verify", HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = r.json()
    assert body["ok"] is True
    assert body["checked"] == 5  # four entries of the log, and the token issued
    assert json.dumps(body)
