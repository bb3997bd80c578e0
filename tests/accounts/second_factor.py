"""Helpers for tests of the second factor: an authenticator app that gives codes its device accepts, and a
test client signed in with a verified session (what a sign-in with a code leaves)."""

from __future__ import annotations

import base64
import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP

from cybercoop.accounts import sign_in
from cybercoop.accounts.models import SealedTOTPDevice


class Authenticator:
    """The user's authenticator app: a confirmed TOTP device (its secret sealed, as the node keeps it), and the next
    code it would accept."""

    def __init__(self, user) -> None:
        self.device = SealedTOTPDevice.objects.create(user=user, name="test", confirmed=True)

    def code(self) -> str:
        """A right code not yet used: the current time step, or the next one if the current one is spent."""
        self.device.refresh_from_db()
        totp = TOTP(self.device.bin_key, self.device.step, self.device.t0, self.device.digits, self.device.drift)
        step = max(totp.t(), self.device.last_t + 1)
        totp.time = time.time() + (step - totp.t()) * self.device.step
        return f"{totp.token():0{self.device.digits}d}"

    def wrong_code(self) -> str:
        return wrong_code(self.code())


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 1_000_000:06d}"


def code_of(secret: str, *, step: int = 0) -> str:
    """The code an app enrolled with `secret` (base32, as the enrolment page shows it) gives now, or `step`s later."""
    totp = TOTP(base64.b32decode(secret), 30, 0, 6, 0)
    totp.time = totp.time + step * 30
    return f"{totp.token():06d}"


def sign_in_verified(client, user, device) -> None:
    """`client.force_login(user)`, and the session marked as having given a code of `device`, as the sign-in's
    second step leaves it (force_login alone makes a session that has given no code)."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[sign_in.SIGNED_IN_WITH_KEY] = sign_in.WITH_SECOND_FACTOR
    session.save()
