"""The second factor for signing (P6.5): one TOTP device per user (django-otp), enrolled with a QR code and confirmed
with a first code; a code opens one action only (django-otp remembers the last time step used).

Here for now; issue 7 (a second factor at sign-in) may move it to `accounts`.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput

DEVICE_NAME = "CyberCoop"
CODE_REFUSED = _("The code was not accepted.")


@dataclass(frozen=True)
class Enrolment:
    """What a user needs to add the device to an authenticator app: the secret, the otpauth URL and its QR code."""

    secret: str
    url: str
    qr_svg: str

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return "Enrolment(…)"


def has_second_factor(user: Any) -> bool:
    """True if `user` has a confirmed TOTP device."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def _enrolment(device: TOTPDevice) -> Enrolment:
    url = device.config_url
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage)
    return Enrolment(
        secret=base64.b32encode(device.bin_key).decode("ascii"),
        url=url,
        qr_svg=image.to_string(encoding="unicode"),
    )


@transaction.atomic
def start_enrolment(user: Any) -> Enrolment:
    """Create a new, unconfirmed TOTP device for `user` (replacing an earlier unconfirmed one) and show it."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return _enrolment(device)


def pending_enrolment(user: Any) -> Enrolment | None:
    """The unconfirmed device `user` is enrolling, if any (to show its QR code again)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return _enrolment(device) if device is not None else None


def _normalised(code: str) -> str:
    return "".join(str(code).split())


def _refuse(message: Any, field: str = "code") -> InvalidInput:
    return InvalidInput(CODE_REFUSED, errors={field: [message]})


def _was_used(device: TOTPDevice, code: str) -> bool:
    """True if `code` is a right code of a time step already spent (a replay, not a typo)."""
    try:
        token = int(code)
    except ValueError:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return bool(totp.verify(token, device.tolerance)) and totp.t() <= device.last_t


def _check(device: TOTPDevice, code: str, *, field: str = "code") -> InvalidInput | None:
    """None if `code` is fresh and right for `device` (and spend it); otherwise the error to raise."""
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        return _refuse(_("Too many wrong codes: wait a minute, then use a new code."), field)
    if device.verify_token(code):
        return None
    if _was_used(device, code):
        return _refuse(_("This code has already been used: wait for the next one."), field)
    return _refuse(_("The code is wrong."), field)


def confirm_enrolment(user: Any, code: str, *, current_code: str = "") -> None:
    """Confirm `user`'s pending device with its first code; it replaces their earlier device, whose current code
    is then required too (a stolen session must not swap the second factor)."""
    code = _normalised(code)
    with transaction.atomic():
        pending = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-pk").first()
        if pending is None:
            raise _refuse(_("There is no enrolment to confirm: start again."))
        previous = list(TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True))
        error = None
        if previous and not _normalised(current_code):
            error = _refuse(_("To replace your authenticator, give a code from the current one too."), "current_code")
        elif previous:
            error = _check(previous[0], _normalised(current_code), field="current_code")
        if error is None:
            error = _check(pending, code)
        if error is None:
            TOTPDevice.objects.filter(pk__in=[device.pk for device in previous]).delete()
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            audit.record(
                action=AuditAction.SECOND_FACTOR_ENROLLED,
                actor=user,
                target=("otp_totp.totpdevice", str(pending.pk)),
                data={"replaced": len(previous)},
            )
            return
    # Raised after the block has committed: the failed attempt stays counted for throttling.
    raise error


@dataclass(frozen=True)
class FreshCode:
    """Proof that `user_id` gave a right, unused code at `at`: what a signature made a moment later takes, so
    that the code can be checked (and a wrong one counted) before the caller's transaction begins."""

    user_id: int
    at: dt.datetime


# How long a proof of a fresh code opens a signature: the time to render and sign after the code was checked.
FRESH_FOR = dt.timedelta(minutes=2)


def is_fresh(proof: FreshCode, user: Any) -> bool:
    """Is `proof` `user`'s, and recent enough to sign now?"""
    return proof.user_id == user.pk and dt.timedelta(0) <= clock.now() - proof.at <= FRESH_FOR


def verify_fresh_code(user: Any, code: str) -> FreshCode:
    """Accept a TOTP code of `user`'s confirmed device once and return the proof of it; raise InvalidInput
    (field "code") otherwise.

    The device row is locked, so one code cannot open two signatures at once. The failed attempt is committed
    before the error is raised (django-otp's throttling), unless the caller holds an outer transaction: a
    workflow that signs inside its own transaction checks the code first, outside it, and passes the proof.
    """
    code = _normalised(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("-pk").first()
        if device is None:
            error: InvalidInput | None = _refuse(
                _("You have no second factor: enrol an authenticator app first, on the “Second factor” page.")
            )
        else:
            error = _check(device, code)
        if error is None:
            return FreshCode(user_id=user.pk, at=clock.now())
    raise error
