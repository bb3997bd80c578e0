"""The second factor at sign-in (issue 7): after the password, a code of the user's authenticator; heads and deputies
enrol one first; wrong codes are throttled, audited and lock out; one device serves sign-in and signing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django_otp import DEVICE_ID_SESSION_KEY

from cybercoop.accounts import sign_in
from cybercoop.accounts.models import ApiToken, SealedTOTPDevice
from cybercoop.audit.models import AuditEntry
from cybercoop.documents import otp
from tests.accounts.factories import PASSWORD
from tests.accounts.second_factor import Authenticator, code_of, sign_in_verified, wrong_code

SIGN_IN = "/accounts/sign-in/"
CODE_STEP = "/accounts/sign-in/code/"
ENROL_STEP = "/accounts/sign-in/enrol/"


def _password(client, username, **extra):
    return client.post(SIGN_IN, {"username": username, "password": PASSWORD, **extra})


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _no_throttle(authenticator: Authenticator) -> None:
    """Forget django-otp's back-off after a wrong code (it makes the next attempt wait a second or more)."""
    SealedTOTPDevice.objects.filter(pk=authenticator.device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )


# --- a user with an authenticator gives its code ----------------------------------------------------------------


def test_a_right_password_of_a_user_with_an_authenticator_asks_for_a_code_and_signs_in_nobody(client, kz_head):
    Authenticator(kz_head)
    r = _password(client, "kz.head")
    assert (r.status_code, r["Location"]) == (302, CODE_STEP)
    assert not _signed_in(client)
    assert client.get("/").status_code == 302  # every page still asks to sign in
    assert not AuditEntry.objects.filter(action="accounts:session:signed_in").exists()
    page = client.get(CODE_STEP)
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.text
    assert kz_head.full_name in page.text


def test_the_right_code_signs_in_verified_and_goes_where_the_user_was_going(client, kz_head):
    app = Authenticator(kz_head)
    _password(client, "kz.head", next="/registry/")
    r = client.post(CODE_STEP, {"code": app.code()})
    assert (r.status_code, r["Location"]) == (302, "/registry/")
    assert _signed_in(client)
    assert client.session[DEVICE_ID_SESSION_KEY] == app.device.persistent_id
    assert client.session[sign_in.SIGNED_IN_WITH_KEY] == sign_in.WITH_SECOND_FACTOR
    assert client.get("/").status_code == 200
    entry = AuditEntry.objects.get(action="accounts:session:signed_in")
    assert (entry.actor, entry.data) == (kz_head, {"second_factor": "totp"})


def test_a_wrong_code_is_refused_audited_and_throttled(client, kz_head):
    app = Authenticator(kz_head)
    _password(client, "kz.head")
    wrong = app.wrong_code()
    r = client.post(CODE_STEP, {"code": wrong})
    assert r.status_code == 422
    assert "Неверный код." in r.text
    assert not _signed_in(client)
    entry = AuditEntry.objects.get(action="accounts:session:sign_in_failed")
    assert entry.data == {"username": "kz.head", "stage": "second_factor"}
    assert entry.object_id == str(kz_head.pk)
    app.device.refresh_from_db()
    assert app.device.throttling_failure_count == 1  # django-otp's back-off, committed
    attempt = AccessAttempt.objects.get(username="kz.head")  # django-axes counts it towards the lockout
    assert attempt.failures_since_start == 1
    assert wrong not in attempt.post_data  # and keeps no code
    # Straight away, even the right code waits out the back-off.
    r = client.post(CODE_STEP, {"code": app.code()})
    assert "Слишком много неверных кодов" in r.text
    assert not _signed_in(client)


def _in_english(user) -> None:
    user.language = "en"
    user.save(update_fields=["language"])


def test_an_empty_code_is_refused_on_the_field_and_counts_for_nothing(client, kz_head):
    _in_english(kz_head)  # the step speaks the user's language
    Authenticator(kz_head)
    _password(client, "kz.head")
    r = client.post(CODE_STEP, {"code": ""})
    assert r.status_code == 422
    assert "Enter the code from your authenticator app." in r.text
    assert not AuditEntry.objects.filter(action="accounts:session:sign_in_failed").exists()


def test_a_code_is_accepted_once(client, kz_head):
    app = Authenticator(kz_head)
    code = app.code()
    _password(client, "kz.head")
    client.post(CODE_STEP, {"code": code})
    assert _signed_in(client)
    other = client.__class__()
    _password(other, "kz.head")
    r = other.post(CODE_STEP, {"code": code})
    assert "Этот код уже использован" in r.text
    assert not _signed_in(other)


def test_wrong_codes_count_towards_the_lockout_with_wrong_passwords(client, kz_head, settings):
    app = Authenticator(kz_head)
    client.post(SIGN_IN, {"username": "kz.head", "password": "wrong"})  # one failure already
    _password(client, "kz.head")
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 2):
        _no_throttle(app)
        assert client.post(CODE_STEP, {"code": app.wrong_code()}).status_code == 422
    _no_throttle(app)
    r = client.post(CODE_STEP, {"code": app.wrong_code()})  # the limit
    assert r.status_code == 429
    assert "Слишком много неудачных попыток" in r.text
    assert AuditEntry.objects.filter(action="accounts:session:locked_out", data__stage="second_factor").exists()
    # The waiting sign-in is over, and the right password and code are refused until the lockout ends.
    assert sign_in.PENDING_KEY not in client.session
    assert client.get(CODE_STEP)["Location"] == SIGN_IN
    assert _password(client, "kz.head").status_code == 429
    assert not _signed_in(client)


def test_a_sign_in_waiting_for_its_code_expires(client, kz_head, clock):
    app = Authenticator(kz_head)
    _password(client, "kz.head")
    clock.advance(sign_in.PENDING_FOR + dt.timedelta(seconds=1))
    r = client.post(CODE_STEP, {"code": app.code()})
    assert (r.status_code, r["Location"]) == (302, SIGN_IN)
    assert not _signed_in(client)


def test_a_changed_password_voids_a_sign_in_waiting_for_its_code(client, kz_head):
    app = Authenticator(kz_head)
    _password(client, "kz.head")
    kz_head.set_password("another password, long enough")
    kz_head.save()
    r = client.post(CODE_STEP, {"code": app.code()})
    assert r["Location"] == SIGN_IN
    assert not _signed_in(client)


def test_the_sign_in_page_sends_a_waiting_sign_in_back_to_its_code(client, kz_head):
    Authenticator(kz_head)
    _password(client, "kz.head")
    r = client.get("/registry/", follow=True)
    assert r.redirect_chain[-1][0] == CODE_STEP
    # Giving up: the "cancel" button signs out, which forgets the waiting sign-in.
    client.post("/accounts/sign-out/")
    assert client.get(SIGN_IN).status_code == 200
    assert client.get(CODE_STEP)["Location"] == SIGN_IN


def test_the_steps_need_a_right_password_first(client, db):
    assert client.get(CODE_STEP)["Location"] == SIGN_IN
    assert client.post(ENROL_STEP, {"action": "start"})["Location"] == SIGN_IN
    assert not SealedTOTPDevice.objects.exists()


def test_an_officer_who_enrolled_of_their_own_will_gives_codes_too(client, kz_officer):
    Authenticator(kz_officer)
    assert _password(client, "kz.officer")["Location"] == CODE_STEP


# --- heads and deputies must have an authenticator ---------------------------------------------------------------


@pytest.mark.rule("P6.5")
@pytest.mark.parametrize("persona", ["kz_head", "kz_deputy"])
def test_a_signer_without_an_authenticator_enrols_one_before_anything_else(client, persona, request):
    user = request.getfixturevalue(persona)
    r = _password(client, user.username, next="/registry/")
    assert r["Location"] == ENROL_STEP
    assert not _signed_in(client)
    assert client.get("/registry/", follow=True).redirect_chain[-1][0] == ENROL_STEP
    page = client.get(ENROL_STEP)
    assert 'data-testid="second-factor-status"' in page.text
    assert 'data-testid="second-factor-qr"' not in page.text

    client.post(ENROL_STEP, {"action": "start"})
    enrolment = otp.pending_enrolment(user)
    assert enrolment is not None
    page = client.get(ENROL_STEP)
    assert enrolment.secret in page.text
    r = client.post(ENROL_STEP, {"action": "confirm", "code": wrong_code(code_of(enrolment.secret))})
    assert r.status_code == 422
    assert not _signed_in(client)
    SealedTOTPDevice.objects.filter(user=user).update(throttling_failure_count=0)

    r = client.post(ENROL_STEP, {"action": "confirm", "code": code_of(enrolment.secret)})
    assert (r.status_code, r["Location"]) == (302, "/registry/")
    assert _signed_in(client)
    device = SealedTOTPDevice.objects.get(user=user)
    assert device.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    actions = list(AuditEntry.objects.filter(actor=user).order_by("seq").values_list("action", flat=True))
    assert actions == ["documents:second_factor:enrolled", "accounts:session:signed_in"]
    # The same device confirms signatures: its next code opens one (documents.otp).
    assert otp.has_second_factor(user)
    otp.verify_fresh_code(user, code_of(enrolment.secret, step=1))


def test_a_lockout_meanwhile_ends_a_waiting_enrolment(client, kz_head, settings):
    _password(client, "kz.head")
    guesser = client.__class__()
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        guesser.post(SIGN_IN, {"username": "kz.head", "password": "guess"})
    r = client.post(ENROL_STEP, {"action": "start"})
    assert r.status_code == 429
    assert not SealedTOTPDevice.objects.filter(user=kz_head).exists()
    assert client.get(ENROL_STEP)["Location"] == SIGN_IN


def test_the_enrolment_step_is_only_for_those_who_need_it(client, kz_head):
    Authenticator(kz_head)
    _password(client, "kz.head")
    assert client.get(ENROL_STEP)["Location"] == CODE_STEP  # enrolled already: the code, not a new device
    assert client.post(ENROL_STEP, {"action": "start"})["Location"] == CODE_STEP
    assert SealedTOTPDevice.objects.filter(user=kz_head).count() == 1


def test_others_sign_in_with_the_password_alone_by_default(client, kz_officer, kz_registrar, kz_auditor):
    for user in (kz_officer, kz_registrar, kz_auditor):
        client.post("/accounts/sign-out/")
        r = _password(client, user.username)
        assert r["Location"] == "/", user.username
        assert _signed_in(client)
        assert client.session[sign_in.SIGNED_IN_WITH_KEY] == sign_in.PASSWORD_ONLY


def test_with_the_setting_all_every_user_must_enrol(client, kz_officer, settings):
    settings.SECOND_FACTOR = "all"
    assert _password(client, "kz.officer")["Location"] == ENROL_STEP
    assert not _signed_in(client)


# --- sessions signed in with a password only ---------------------------------------------------------------------


def test_a_password_only_session_goes_to_the_code_once_its_user_enrols_elsewhere(client, kz_officer):
    _password(client, "kz.officer")
    assert client.get("/").status_code == 200
    Authenticator(kz_officer)  # enrolled in another session
    r = client.get("/registry/")
    assert (r.status_code, r["Location"]) == (302, CODE_STEP)
    assert not _signed_in(client)
    assert client.session[sign_in.PENDING_KEY]["next"] == "/registry/"


def test_a_password_only_session_goes_to_enrolment_when_the_policy_tightens(client, kz_officer, settings):
    _password(client, "kz.officer")
    settings.SECOND_FACTOR = "all"
    assert client.get("/")["Location"] == ENROL_STEP
    assert not _signed_in(client)


def test_enrolling_on_the_account_page_verifies_the_session(client, kz_officer):
    _password(client, "kz.officer")
    client.post("/accounts/second-factor/", {"action": "start"})
    enrolment = otp.pending_enrolment(kz_officer)
    r = client.post("/accounts/second-factor/", {"action": "confirm", "code": code_of(enrolment.secret)}, follow=True)
    assert r.status_code == 200
    assert "Аутентификатор подключён." in r.text
    assert client.session[sign_in.SIGNED_IN_WITH_KEY] == sign_in.WITH_SECOND_FACTOR
    assert client.get("/").status_code == 200  # not sent back to a code step


def test_force_login_is_left_alone_for_unit_tests(client, kz_head):
    Authenticator(kz_head)
    client.force_login(kz_head)
    assert client.get("/").status_code == 200


def test_the_account_page_says_when_an_authenticator_is_required(client, kz_head, kz_officer):
    client.force_login(kz_head)
    assert 'data-testid="second-factor-required"' in client.get("/accounts/second-factor/").text
    client.force_login(kz_officer)
    page = client.get("/accounts/second-factor/")
    assert page.status_code == 200
    assert 'data-testid="second-factor-required"' not in page.text


def test_the_documents_enrolment_page_is_the_same_page(client, kz_officer):
    client.force_login(kz_officer)
    r = client.post("/documents/second-factor/", {"action": "start"})
    assert r["Location"] == "/accounts/second-factor/"
    assert otp.pending_enrolment(kz_officer) is not None


# --- API tokens need a fully verified session -------------------------------------------------------------------


def test_a_session_without_the_code_its_account_needs_issues_no_token(client, kz_head):
    _in_english(kz_head)
    client.force_login(kz_head)  # a session that gave no code, though a head must
    r = client.post("/accounts/tokens/", {"name": "script", "valid_days": ""})
    assert r.status_code == 422
    assert "Issuing a token needs a sign-in with the code of your authenticator" in r.text
    r = client.post("/api/v1/me/tokens", json.dumps({"name": "script"}), "application/json")
    assert r.status_code == 403
    assert not ApiToken.objects.exists()


def test_a_verified_session_issues_tokens(client, kz_head):
    app = Authenticator(kz_head)
    sign_in_verified(client, kz_head, app.device)
    r = client.post("/accounts/tokens/", {"name": "script", "valid_days": ""})
    assert r.status_code == 200
    assert ApiToken.objects.filter(user=kz_head).count() == 1


def test_a_token_issues_tokens_without_a_session(client, kz_head):
    from cybercoop.accounts import services

    _token, raw = services.issue_api_token(user=kz_head, name="first", scope="act")
    r = client.post(
        "/api/v1/me/tokens", json.dumps({"name": "second"}), "application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert r.status_code == 201


# --- a lost authenticator ----------------------------------------------------------------------------------------


def test_the_administrator_resets_a_lost_authenticator_and_the_head_enrols_again_at_sign_in(client, kz_head):
    Authenticator(kz_head)
    with pytest.raises(CommandError):  # a reason is required: it goes to the audit log
        call_command("reset_second_factor", kz_head.username, "--reason", "  ")
    assert SealedTOTPDevice.objects.filter(user=kz_head).exists()

    call_command("reset_second_factor", kz_head.username, "--reason", "телефон утерян")
    assert not SealedTOTPDevice.objects.filter(user=kz_head).exists()
    entry = AuditEntry.objects.filter(action="accounts:second_factor:reset").get()
    assert entry.data == {"devices_removed": 1, "reason": "телефон утерян"}
    assert (entry.object_id, entry.actor_label) == (str(kz_head.pk), "")

    r = _password(client, kz_head.username)  # a head must have one: enrolment comes before anything else
    assert r.status_code == 302
    assert r["Location"].startswith(ENROL_STEP)
    assert not _signed_in(client)
