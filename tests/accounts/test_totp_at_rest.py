"""The second factor's TOTP secrets sealed at rest (issue 7): the database keeps no usable secret, the node's secrets
key opens it, and a device that does not open here accepts no code and says so; the migration seals the devices
enrolled before."""

from __future__ import annotations

import base64
import importlib
import json
import logging
import stat
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils.translation import gettext
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from cybercoop.accounts import selectors, services, totp_secrets
from cybercoop.accounts.models import SealedTOTPDevice
from cybercoop.audit.models import AuditEntry
from cybercoop.core import sealed_secrets
from cybercoop.core.errors import InvalidInput
from cybercoop.documents import otp
from tests.accounts.factories import PASSWORD
from tests.accounts.second_factor import Authenticator, code_of

SIGN_IN = "/accounts/sign-in/"
CODE_STEP = "/accounts/sign-in/code/"
UNREADABLE = "The authenticator of this account cannot be read on this node"
MIGRATION = "cybercoop.accounts.migrations.0004_sealedtotpdevice"


pytestmark = pytest.mark.usefixtures("secrets_key")  # the node's secrets key in the test's folder (conftest)


def _stored_key(device) -> str:
    """The `key` column as the database holds it (what a dump or a backup would show)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice WHERE id = %s", [device.pk])
        return str(cursor.fetchone()[0])


def _spellings(secret: bytes) -> list[str]:
    """The ways a secret could be written down in a column, a log or an audit entry."""
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b32encode(secret).decode(),
        base64.b32encode(secret).decode().rstrip("="),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
    ]


def _in_english(user) -> None:
    user.language = "en"
    user.save(update_fields=["language"])


def _password(client, username):
    return client.post(SIGN_IN, {"username": username, "password": PASSWORD})


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _sealed_elsewhere(user, settings, tmp_path) -> Authenticator:
    """`user`'s authenticator sealed under another node's secrets key, this node's own key existing meanwhile."""
    here = settings.SECRETS_KEY_FILE
    sealed_secrets.node_key(create=True)
    settings.SECRETS_KEY_FILE = tmp_path / "another node" / "secrets.key"
    app = Authenticator(user)
    app.secret = app.device.bin_key  # what the user's app holds, read while the other key is there
    settings.SECRETS_KEY_FILE = here
    return app


# --- what the database keeps -------------------------------------------------------------------------------------


def test_the_stored_key_holds_neither_the_secret_nor_its_hex_or_base32(kz_head):
    enrolment = services.start_enrolment(user=kz_head)
    secret = base64.b32decode(enrolment.secret)
    device = SealedTOTPDevice.objects.get(user=kz_head)
    stored = _stored_key(device)
    assert stored.startswith("s1:")
    assert len(stored) <= totp_secrets.KEY_COLUMN_CHARS
    for spelling in _spellings(secret):
        assert spelling not in stored
    assert secret not in stored.encode()
    # The node's key opens it, and only for that user's device: the enrolment shows the same secret again.
    assert device.bin_key == secret
    assert selectors.pending_enrolment(user=kz_head).secret == enrolment.secret


def test_the_same_secret_sealed_twice_is_stored_twice_differently(kz_head, kz_deputy):
    secret = bytes(range(20))
    first = SealedTOTPDevice.objects.create(user=kz_head, name="a", key=secret.hex())
    second = SealedTOTPDevice.objects.create(user=kz_head, name="b", key=secret.hex())
    assert _stored_key(first) != _stored_key(second)  # a fresh nonce each time
    assert first.bin_key == second.bin_key == secret


def test_the_key_file_is_created_on_first_use_with_mode_0600(kz_head, secrets_key):
    assert not secrets_key.exists()
    Authenticator(kz_head)
    assert stat.S_IMODE(secrets_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_key.parent.stat().st_mode) == 0o700
    assert len(base64.urlsafe_b64decode(secrets_key.read_text().strip())) == 32


def test_reading_never_creates_a_key(kz_head, secrets_key):
    app = Authenticator(kz_head)
    secrets_key.unlink()
    assert not app.device.is_readable()
    assert not secrets_key.exists()  # a new key would open nothing sealed under the lost one


def test_a_secret_that_would_not_fit_the_column_is_refused(kz_head):
    assert totp_secrets.MAX_SECRET_BYTES == 23
    assert sealed_secrets.sealed_length(20) == 76  # django-otp's default secret
    assert len(totp_secrets.seal_key(bytes(23), user_id=kz_head.pk)) == totp_secrets.KEY_COLUMN_CHARS
    with pytest.raises(ValueError, match="does not fit"):
        totp_secrets.seal_key(bytes(24), user_id=kz_head.pk)


# --- codes are checked with the opened secret --------------------------------------------------------------------


def test_sign_in_accepts_the_right_code_and_refuses_a_wrong_one(client, kz_head):
    app = Authenticator(kz_head)
    _password(client, "kz.head")
    r = client.post(CODE_STEP, {"code": app.wrong_code()})
    assert r.status_code == 422
    assert "Неверный код." in r.text
    assert not _signed_in(client)
    SealedTOTPDevice.objects.filter(pk=app.device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    r = client.post(CODE_STEP, {"code": app.code()})
    assert (r.status_code, r["Location"]) == (302, "/")
    assert _signed_in(client)


@pytest.mark.rule("P6.5")
def test_signing_accepts_the_right_code_and_refuses_a_wrong_one(kz_head):
    app = Authenticator(kz_head)
    with pytest.raises(InvalidInput) as refused:
        otp.verify_fresh_code(kz_head, app.wrong_code())
    assert refused.value.errors["code"] == ["Неверный код."]
    SealedTOTPDevice.objects.filter(pk=app.device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    assert otp.verify_fresh_code(kz_head, app.code()).user_id == kz_head.pk


def test_enrolment_confirms_with_the_code_of_the_secret_shown(kz_officer):
    enrolment = services.start_enrolment(user=kz_officer)
    device = services.confirm_enrolment(user=kz_officer, code=code_of(enrolment.secret))
    assert isinstance(device, SealedTOTPDevice)
    assert device.confirmed
    assert _stored_key(device).startswith("s1:")


# --- a device that does not open on this node -----------------------------------------------------------------


def test_a_device_sealed_under_another_key_gives_the_clear_error_and_no_sign_in(
    client, kz_head, settings, tmp_path, caplog
):
    _in_english(kz_head)
    app = _sealed_elsewhere(kz_head, settings, tmp_path)
    caplog.set_level(logging.INFO)
    _password(client, "kz.head")
    right = f"{TOTP(app.secret, 30, 0, 6, 0).token():06d}"
    r = client.post(CODE_STEP, {"code": right})
    assert r.status_code == 422  # a refusal the user can act on, not a 500
    assert UNREADABLE in r.text
    assert "ask the node&#x27;s administrator to reset" in r.text
    assert not _signed_in(client)
    app.device.refresh_from_db()
    assert app.device.last_t == -1  # the right code was not spent either
    assert f"the TOTP device {app.device.pk} of user {kz_head.pk} cannot be read on this node" in caplog.text
    assert "sealed under key" in caplog.text
    audit_text = json.dumps([entry.data for entry in AuditEntry.objects.all()])
    for spelling in _spellings(app.secret):
        assert spelling not in caplog.text
        assert spelling not in audit_text


def test_a_changed_sealed_value_gives_the_clear_error(kz_head):
    app = Authenticator(kz_head)
    code = app.code()
    stored = _stored_key(app.device)
    flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
    SealedTOTPDevice.objects.filter(pk=app.device.pk).update(key=flipped)
    with pytest.raises(InvalidInput) as refused:
        services.verify_second_factor(user=kz_head, code=code)
    assert refused.value.errors["code"] == [services.DEVICE_UNREADABLE]


def test_a_sealed_key_copied_onto_another_users_device_does_not_open(kz_head, kz_deputy):
    mine = Authenticator(kz_deputy)
    theirs = Authenticator(kz_head)
    SealedTOTPDevice.objects.filter(pk=theirs.device.pk).update(key=_stored_key(mine.device))
    theirs.device.refresh_from_db()
    assert not theirs.device.is_readable()
    code = f"{TOTP(mine.device.bin_key, 30, 0, 6, 0).token():06d}"
    with pytest.raises(InvalidInput):
        services.verify_second_factor(user=kz_head, code=code)


def test_a_secret_planted_in_hex_opens_nothing(kz_head):
    app = Authenticator(kz_head)
    planted = bytes(range(20))
    SealedTOTPDevice.objects.filter(pk=app.device.pk).update(key=planted.hex())  # around the proxy
    with pytest.raises(InvalidInput) as refused:
        services.verify_second_factor(user=kz_head, code=f"{TOTP(planted, 30, 0, 6, 0).token():06d}")
    assert refused.value.errors["code"] == [services.DEVICE_UNREADABLE]


def test_replacing_an_unreadable_authenticator_needs_a_reset(kz_head, settings, tmp_path):
    app = _sealed_elsewhere(kz_head, settings, tmp_path)
    enrolment = services.start_enrolment(user=kz_head)  # the new one is sealed under this node's key
    with pytest.raises(InvalidInput) as refused:
        services.confirm_enrolment(
            user=kz_head,
            code=code_of(enrolment.secret),
            current_code=f"{TOTP(app.secret, 30, 0, 6, 0).token():06d}",
        )
    assert refused.value.errors["current_code"] == [services.DEVICE_UNREADABLE]
    services.reset_second_factor(user=kz_head, reason="the node's secrets key was lost")
    enrolment = services.start_enrolment(user=kz_head)
    assert services.confirm_enrolment(user=kz_head, code=code_of(enrolment.secret)).confirmed


def test_a_pending_enrolment_that_does_not_open_counts_as_none(kz_officer, settings, tmp_path):
    here = settings.SECRETS_KEY_FILE
    settings.SECRETS_KEY_FILE = tmp_path / "another node" / "secrets.key"
    enrolment = services.start_enrolment(user=kz_officer)
    settings.SECRETS_KEY_FILE = here
    sealed_secrets.node_key(create=True)
    assert selectors.pending_enrolment(user=kz_officer) is None
    with pytest.raises(InvalidInput) as refused:
        services.confirm_enrolment(user=kz_officer, code=code_of(enrolment.secret))
    assert refused.value.errors["code"] == [gettext("There is no enrolment to confirm: start again.")]


# --- the migration seals the devices enrolled before ------------------------------------------------------------


def _migration_apps():
    return MigrationLoader(connection).project_state(("accounts", "0004_sealedtotpdevice")).apps


def test_the_migration_seals_a_clear_device_and_its_codes_still_sign_in(client, kz_head):
    migration = importlib.import_module(MIGRATION)
    clear = TOTPDevice.objects.create(user=kz_head, name="enrolled before", confirmed=True)  # django-otp's own: hex
    secret = bytes.fromhex(clear.key)
    assert _stored_key(clear) == secret.hex()

    migration.seal_clear_keys(_migration_apps(), SimpleNamespace(connection=connection))
    stored = _stored_key(clear)
    assert stored.startswith("s1:")
    for spelling in _spellings(secret):
        assert spelling not in stored
    migration.seal_clear_keys(_migration_apps(), SimpleNamespace(connection=connection))
    assert _stored_key(clear) == stored  # sealed once: running it again changes nothing

    _password(client, "kz.head")
    r = client.post(CODE_STEP, {"code": f"{TOTP(secret, 30, 0, 6, 0).token():06d}"})
    assert (r.status_code, r["Location"]) == (302, "/")


def test_the_migration_runs_backwards_to_the_secret_in_hex(kz_head):
    migration = importlib.import_module(MIGRATION)
    app = Authenticator(kz_head)
    secret = app.device.bin_key
    migration.open_sealed_keys(_migration_apps(), SimpleNamespace(connection=connection))
    assert _stored_key(app.device) == secret.hex()
    assert TOTPDevice.objects.get(pk=app.device.pk).bin_key == secret  # django-otp reads it as before


def test_the_migration_stops_at_a_key_it_cannot_seal(kz_head):
    migration = importlib.import_module(MIGRATION)
    broken = TOTPDevice.objects.create(user=kz_head, name="broken", confirmed=True)
    TOTPDevice.objects.filter(pk=broken.pk).update(key="not hex")
    with pytest.raises(RuntimeError, match=f"TOTP device {broken.pk}: its key is neither sealed nor hex"):
        migration.seal_clear_keys(_migration_apps(), SimpleNamespace(connection=connection))


def test_the_migration_has_nothing_to_seal_without_devices_and_creates_no_key(db, secrets_key):
    migration = importlib.import_module(MIGRATION)
    migration.seal_clear_keys(_migration_apps(), SimpleNamespace(connection=connection))
    assert not secrets_key.exists()
