"""Sign-in, language, sign-out and the token screen, through real requests."""

import pytest
from django.urls import reverse

from cybercoop.accounts.models import ApiToken
from cybercoop.audit.models import AuditEntry
from tests.accounts.factories import PASSWORD

SIGN_IN = "/accounts/sign-in/"


def _sign_in(client, username, password=PASSWORD):
    return client.post(SIGN_IN, {"username": username, "password": password})


@pytest.mark.rule("P13")
@pytest.mark.django_db
def test_the_sign_in_page_is_in_russian_whatever_the_browser_asks(client):
    r = client.get(SIGN_IN, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert r.status_code == 200
    html = r.content.decode()
    assert '<html lang="ru">' in html
    assert "Вход" in html or "Войти" in html
    assert r["Content-Language"] == "ru"


def test_home_requires_sign_in(client, db):
    r = client.get("/")
    assert r.status_code == 302
    assert r["Location"].startswith(SIGN_IN)


def test_signing_in_shows_the_users_body_party_and_role(client, kz_officer):
    r = _sign_in(client, "kz.officer")
    assert r.status_code == 302
    home = client.get("/").content.decode()
    assert "Министерство внутренних дел Республики Казахстан" in home
    assert "Республика Казахстан" in home
    assert "Сотрудник" in home
    assert AuditEntry.objects.filter(action="accounts:session:signed_in", actor=kz_officer).count() == 1


def test_wrong_credentials_get_a_clear_message_and_an_audit_entry(client, kz_officer):
    r = _sign_in(client, "kz.officer", "not the password")
    assert r.status_code == 200
    assert "Неверное имя пользователя или пароль" in r.content.decode()
    assert "_auth_user_id" not in client.session
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id) == ("accounts:session:sign_in_failed", str(kz_officer.pk))
    assert "not the password" not in str(entry.data)


def test_an_empty_form_is_refused_field_by_field_without_an_audit_entry(client, db):
    r = client.post(SIGN_IN, {"username": "", "password": ""})
    html = r.content.decode()
    assert "Введите имя пользователя." in html
    assert "Введите пароль." in html
    assert AuditEntry.objects.count() == 0


def test_a_user_name_with_a_nul_character_is_refused_cleanly(client, kz_officer):
    r = client.post(SIGN_IN, {"username": "kz.officer\x00", "password": "x"})
    assert r.status_code == 200
    assert "Нулевые символы недопустимы." in r.content.decode()
    assert AuditEntry.objects.count() == 0


def test_repeated_failures_lock_the_account_out(client, kz_officer, settings):
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "kz.officer", "wrong")
    r = _sign_in(client, "kz.officer")  # even the right password is refused now
    assert r.status_code == 429
    assert "Слишком много неудачных попыток" in r.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="accounts:session:locked_out").exists()


def test_the_language_switch_persists_on_the_user(client, kz_officer):
    client.force_login(kz_officer)
    r = client.post("/accounts/language/", {"language": "kk", "next": "/"})
    assert r.status_code == 302
    kz_officer.refresh_from_db()
    assert kz_officer.language == "kk"
    # A new session (another browser) gets the user's language at once.
    other = client.__class__()
    other.force_login(kz_officer)
    html = other.get("/").content.decode()
    assert '<html lang="kk">' in html
    assert "Құзыретті орган" in html


def test_an_anonymous_visitor_can_switch_the_sign_in_page_to_english(client, db):
    client.post("/accounts/language/", {"language": "en", "next": SIGN_IN})
    html = client.get(SIGN_IN).content.decode()
    assert '<html lang="en">' in html
    assert "Sign in" in html


def test_an_unknown_language_code_is_refused_and_changes_nothing(client, kz_officer):
    client.force_login(kz_officer)
    r = client.post("/accounts/language/", {"language": "xx"})
    assert r.status_code == 400
    assert "«xx»" in r.content.decode() or "“xx”" in r.content.decode()
    kz_officer.refresh_from_db()
    assert kz_officer.language == "ru"
    assert AuditEntry.objects.count() == 0


def test_the_language_switch_does_not_redirect_elsewhere(client, db):
    r = client.post("/accounts/language/", {"language": "kk", "next": "https://evil.example/"})
    assert r["Location"] == "/"


def test_sign_out_needs_post_and_is_audited(client, kz_officer):
    client.force_login(kz_officer)
    assert client.get("/accounts/sign-out/").status_code == 405
    r = client.post("/accounts/sign-out/")
    assert r.status_code == 302
    assert client.get("/").status_code == 302
    assert AuditEntry.objects.filter(action="accounts:session:signed_out").count() == 1


def test_a_new_token_is_shown_once_and_can_be_revoked(client, kz_officer):
    client.force_login(kz_officer)
    r = client.post("/accounts/tokens/", {"name": "reporting script", "valid_days": ""})
    html = r.content.decode()
    token = ApiToken.objects.get(user=kz_officer)
    assert f"cc_{token.prefix}_" in html
    again = client.get("/accounts/tokens/").content.decode()
    assert "reporting script" in again
    assert html.split('data-testid="new-token">')[1].split("<")[0] not in again
    client.post(reverse("accounts:revoke_token", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_bad_token_request_is_refused_field_by_field(client, kz_officer):
    client.force_login(kz_officer)
    r = client.post("/accounts/tokens/", {"name": "", "valid_days": "1000"})
    assert r.status_code == 422
    html = r.content.decode()
    assert "Укажите название токена" in html
    assert "от 1 до 366 дней" in html
    assert not ApiToken.objects.exists()


def test_another_users_token_cannot_be_revoked(client, kz_officer, ru_officer):
    from cybercoop.accounts import services

    token, _raw = services.issue_api_token(user=ru_officer, name="theirs")
    client.force_login(kz_officer)
    r = client.post(reverse("accounts:revoke_token", args=[token.pk]))
    assert r.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
