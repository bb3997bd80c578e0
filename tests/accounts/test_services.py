"""Accounts services: users, language, sign-in events, tokens — each audited."""

import datetime as dt

import pytest

from cybercoop.accounts import selectors, services
from cybercoop.accounts.models import User
from cybercoop.audit.models import AuditEntry
from cybercoop.core.errors import DomainError, InvalidInput


def _actions():
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


def test_create_user_validates_the_password_and_audits(kz_body, kz_head):
    user = services.create_user(
        actor=kz_head,
        username="kz.new",
        full_name="Новый Сотрудник",
        body=kz_body,
        role="officer",
        password="a long and unusual passphrase 7",
    )
    assert user.check_password("a long and unusual passphrase 7")
    assert user.language == "ru"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.object_id) == ("accounts:user:created", kz_head, str(user.pk))


def test_create_user_reports_every_bad_field_and_creates_nothing(kz_body, kz_officer):
    with pytest.raises(InvalidInput) as error:
        services.create_user(
            actor=None,
            username="kz.officer",
            full_name="Кто-то",
            body=kz_body,
            role="minister",
            password="123",
            language="fr",
        )
    assert set(error.value.errors) == {"username", "role", "password", "language"}
    assert User.objects.count() == 1
    assert AuditEntry.objects.count() == 0


def test_set_language_persists_and_audits_only_a_change(kz_officer):
    services.set_language(user=kz_officer, language="kk")
    services.set_language(user=kz_officer, language="kk")
    kz_officer.refresh_from_db()
    assert kz_officer.language == "kk"
    entry = AuditEntry.objects.get()
    assert entry.data == {"from": "ru", "to": "kk"}


def test_set_language_refuses_an_unknown_code_and_changes_nothing(kz_officer):
    with pytest.raises(InvalidInput) as error:
        services.set_language(user=kz_officer, language="xx")
    assert "xx" in str(error.value.errors["language"][0])
    kz_officer.refresh_from_db()
    assert kz_officer.language == "ru"
    assert AuditEntry.objects.count() == 0


def test_failed_sign_in_is_audited_without_the_password(kz_officer):
    services.record_failed_sign_in(username="kz.officer", locked_out=False)
    services.record_failed_sign_in(username="nobody", locked_out=True)
    known, unknown = AuditEntry.objects.order_by("seq")
    assert (known.action, known.body, known.object_id) == (
        "accounts:session:sign_in_failed",
        kz_officer.body,
        str(kz_officer.pk),
    )
    assert (unknown.action, unknown.body, unknown.actor) == ("accounts:session:locked_out", None, None)
    assert unknown.data == {"username": "nobody"}


def test_an_issued_token_authenticates_its_user_until_revoked(kz_officer, clock):
    token, raw = services.issue_api_token(user=kz_officer, name="script")
    assert raw.startswith(f"cc_{token.prefix}_")
    assert raw not in token.digest
    assert selectors.user_for_token(raw=raw, now=clock.now()) == kz_officer
    services.revoke_api_token(token=token, actor=kz_officer)
    assert selectors.user_for_token(raw=raw, now=clock.now()) is None
    assert _actions() == ["accounts:api_token:issued", "accounts:api_token:revoked"]


def test_a_token_expires(kz_officer, clock):
    _token, raw = services.issue_api_token(user=kz_officer, name="short", valid_days=1)
    assert selectors.user_for_token(raw=raw, now=clock.now()) == kz_officer
    assert selectors.user_for_token(raw=raw, now=clock.now() + dt.timedelta(days=1, seconds=1)) is None


def test_a_token_of_a_disabled_user_or_with_a_wrong_secret_does_not_authenticate(kz_officer, clock):
    _token, raw = services.issue_api_token(user=kz_officer, name="x")
    forged = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert selectors.user_for_token(raw=forged, now=clock.now()) is None
    kz_officer.is_active = False
    kz_officer.save()
    assert selectors.user_for_token(raw=raw, now=clock.now()) is None


def test_only_the_owner_revokes_a_token(kz_officer, ru_officer):
    token, _raw = services.issue_api_token(user=kz_officer, name="x")
    with pytest.raises(DomainError):
        services.revoke_api_token(token=token, actor=ru_officer)
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [("  ", None, "name"), ("x" * 101, None, "name"), ("ok", 0, "valid_days"), ("ok", 400, "valid_days")],
)
def test_bad_token_requests_are_refused_field_by_field(kz_officer, name, days, field):
    with pytest.raises(InvalidInput) as error:
        services.issue_api_token(user=kz_officer, name=name, valid_days=days)
    assert list(error.value.errors) == [field]
    assert not kz_officer.api_tokens.exists()
