"""API tokens are scoped (issue 7, hardening): a token reads only unless its owner chose "act"; a read-only token
that tries to change anything is refused (403, in the owner's language) and nothing changes."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command

from cybercoop.accounts import rules, selectors, services
from cybercoop.accounts.models import ApiToken
from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import InvalidInput


def _auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.mark.parametrize(
    ("scope", "method", "allowed"),
    [
        ("read", "GET", True),
        ("read", "HEAD", True),
        ("read", "POST", False),
        ("read", "DELETE", False),
        ("read", "PUT", False),
        ("act", "POST", True),
        ("act", "GET", True),
        ("bogus", "GET", False),
    ],
)
def test_what_a_scope_allows(scope, method, allowed):
    assert rules.token_allows(scope=scope, method=method) is allowed


def test_a_new_token_reads_only_unless_chosen_otherwise(kz_officer):
    token, _raw = services.issue_api_token(user=kz_officer, name="report")
    assert token.scope == "read"
    acting, _raw = services.issue_api_token(user=kz_officer, name="bot", scope="act")
    assert acting.scope == "act"
    entry = AuditEntry.objects.filter(action="accounts:api_token:issued").order_by("-pk").first()
    assert entry.data["scope"] == "act"


def test_an_unknown_scope_is_refused_field_by_field(kz_officer):
    with pytest.raises(InvalidInput) as error:
        services.issue_api_token(user=kz_officer, name="x", scope="admin")
    assert list(error.value.errors) == ["scope"]
    assert not ApiToken.objects.exists()


def test_a_read_only_token_reads_but_changes_nothing(client, kz_officer):
    _token, raw = services.issue_api_token(user=kz_officer, name="report")
    assert client.get("/api/v1/me", **_auth(raw)).status_code == 200
    before = (kz_officer.language, ApiToken.objects.count(), AuditEntry.objects.count())
    refused = client.put("/api/v1/me/language", json.dumps({"language": "en"}), "application/json", **_auth(raw))
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("Этот токен может только читать")
    minted = client.post(
        "/api/v1/me/tokens", json.dumps({"name": "a", "scope": "act"}), "application/json", **_auth(raw)
    )
    assert minted.status_code == 403  # a read-only token cannot mint one that acts
    kz_officer.refresh_from_db()
    assert (kz_officer.language, ApiToken.objects.count(), AuditEntry.objects.count()) == before


def test_a_token_that_acts_may_issue_a_read_only_one_through_the_api(client, kz_officer):
    _token, raw = services.issue_api_token(user=kz_officer, name="bot", scope="act")
    answer = client.post("/api/v1/me/tokens", json.dumps({"name": "report"}), "application/json", **_auth(raw))
    assert answer.status_code == 201
    assert answer.json()["scope"] == "read"
    listed = client.get("/api/v1/me/tokens", **_auth(raw)).json()
    assert sorted(t["scope"] for t in listed) == ["act", "read"]


def test_the_page_offers_read_only_first_and_shows_each_tokens_scope(client, kz_officer):
    client.force_login(kz_officer)
    page = client.get("/accounts/tokens/").content.decode()
    assert re.search(r'<input type="radio" name="scope" value="read"[^>]*\bchecked\b', page)
    client.post("/accounts/tokens/", {"name": "export", "scope": "act"})
    assert ApiToken.objects.get(name="export").scope == "act"
    assert 'data-testid="token-scope"' in client.get("/accounts/tokens/").content.decode()


def test_the_command_line_issues_a_read_only_token_unless_asked(kz_officer, clock):
    out = io.StringIO()
    call_command("create_api_token", "kz.officer", stdout=out)
    assert selectors.token_for(raw=out.getvalue().strip(), now=clock.now()).scope == "read"
    out = io.StringIO()
    call_command("create_api_token", "kz.officer", "--name", "bot", "--scope", "act", stdout=out)
    assert selectors.token_for(raw=out.getvalue().strip(), now=clock.now()).scope == "act"
