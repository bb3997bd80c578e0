"""Rotating the node's secrets key (docs/security-at-rest.md, "Rotating a node key"): every TOTP secret sealed again
under a new key, the codes of each authenticator still accepted throughout, the old key kept until no secret is under
it and an hour has passed, then retired; each step in the audit log, with key ids only."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from cybercoop.accounts import services
from cybercoop.accounts.models import SealedTOTPDevice
from cybercoop.audit.models import AuditEntry
from cybercoop.core import sealed_secrets
from tests.accounts.second_factor import Authenticator

pytestmark = pytest.mark.usefixtures("secrets_key")  # the node's secrets key in the test's folder (conftest)


def _stored_key(device) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice WHERE id = %s", [device.pk])
        return str(cursor.fetchone()[0])


def _actions() -> list[str]:
    entries = AuditEntry.objects.filter(action__startswith="accounts:secrets_key:").order_by("seq")
    return list(entries.values_list("action", flat=True))


def test_rotating_seals_every_secret_again_and_each_authenticator_still_signs_in(kz_head, ru_head):
    apps = [Authenticator(kz_head), Authenticator(ru_head)]
    secrets = [app.device.bin_key for app in apps]
    before = [_stored_key(app.device) for app in apps]
    old = sealed_secrets.KEY.current_id()

    previous, current, count, unreadable = services.SECRETS_ROTATION.rotate()

    assert (previous, count, unreadable) == (old, 2, [])
    assert current == sealed_secrets.KEY.current_id() != old
    for app, secret, stored in zip(apps, secrets, before, strict=True):
        now = _stored_key(app.device)
        assert now.startswith(f"s1:{current}:")
        assert now != stored
        assert SealedTOTPDevice.objects.get(pk=app.device.pk).bin_key == secret
        assert services.verify_second_factor(user=app.device.user, code=app.code()).pk == app.device.pk
    assert _actions() == ["accounts:secrets_key:rotated", "accounts:secrets_key:rewrapped"]
    assert AuditEntry.objects.get(action="accounts:secrets_key:rotated").data == {"from": old, "to": current}


def test_a_secret_under_the_previous_key_still_signs_in_until_it_is_sealed_again(kz_head):
    app = Authenticator(kz_head)
    old, new = sealed_secrets.KEY.rotate()
    assert _stored_key(app.device).startswith(f"s1:{old}:")
    assert services.verify_second_factor(user=kz_head, code=app.code()).pk == app.device.pk

    assert services.SECRETS_ROTATION.rewrap() == (1, [])
    assert _stored_key(app.device).startswith(f"s1:{new}:")
    assert services.secrets_by_key() == {new: 1}


def test_a_secret_that_does_not_open_is_left_and_named(kz_head, ru_head):
    good, bad = Authenticator(kz_head), Authenticator(ru_head)
    old, _new = sealed_secrets.KEY.rotate()
    # kz.head's sealed secret copied onto ru.head's device: bound to another user, it does not open.
    SealedTOTPDevice.objects.filter(pk=bad.device.pk).update(key=_stored_key(good.device))

    count, unreadable = services.SECRETS_ROTATION.rewrap()

    assert (count, unreadable) == (1, [str(bad.device.pk)])
    assert _stored_key(bad.device).startswith(f"s1:{old}:")
    entry = AuditEntry.objects.get(action="accounts:secrets_key:rewrapped")
    assert (entry.data["count"], entry.data["unreadable"]) == (1, 1)


def test_a_previous_secrets_key_is_retired_once_unused_and_an_hour_old(kz_head):
    app = Authenticator(kz_head)
    old, new = sealed_secrets.KEY.rotate()

    assert services.SECRETS_ROTATION.retire(grace_seconds=0) == (
        [],
        {old: "1 of the second-factor secrets still under it: re-wrap them first"},
    )
    services.SECRETS_ROTATION.rewrap()
    assert services.SECRETS_ROTATION.retire() == ([], {old: "replaced less than 1 hour(s) ago"})
    assert services.SECRETS_ROTATION.retire(grace_seconds=0) == ([old], {})
    assert sealed_secrets.KEY.keyring().keys() == {new}
    assert services.verify_second_factor(user=kz_head, code=app.code()).pk == app.device.pk
    assert AuditEntry.objects.get(action="accounts:secrets_key:retired").data == {"keys": [old]}


def test_the_keys_command_rotates_the_secrets_key(kz_head, capsys):
    Authenticator(kz_head)
    old = sealed_secrets.KEY.current_id()
    call_command("keys", "secrets", "rotate")
    new = sealed_secrets.KEY.current_id()
    out = capsys.readouterr().out
    assert f"secrets key {old} replaced by {new}" in out
    assert "re-wrapped under the current key: 1 second-factor secrets" in out
    assert f"  current  {new}  second-factor secrets: 1" in out
    assert f"  previous {old}  second-factor secrets: 0, replaced " in out
