"""The second factor for signing (P6.5): a code of the signer's authenticator opens one signature.

The TOTP device itself belongs to accounts (`accounts.services`, `accounts.selectors`), since the same device opens a
sign-in (issue 7): one authenticator app serves both. This module keeps what signing adds, the proof of a fresh code
(`FreshCode`) that a signature made a moment later takes, and the names the documents domain has always called.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cybercoop.accounts import selectors, services
from cybercoop.accounts.rules import Enrolment
from cybercoop.core import clock

__all__ = [
    "CODE_REFUSED",
    "DEVICE_NAME",
    "FRESH_FOR",
    "Enrolment",
    "FreshCode",
    "confirm_enrolment",
    "has_second_factor",
    "is_fresh",
    "pending_enrolment",
    "start_enrolment",
    "verify_fresh_code",
]

DEVICE_NAME = services.DEVICE_NAME
CODE_REFUSED = services.CODE_REFUSED


def has_second_factor(user: Any) -> bool:
    """True if `user` has a confirmed TOTP device."""
    return selectors.has_second_factor(user=user)


def start_enrolment(user: Any) -> Enrolment:
    """Create a new, unconfirmed TOTP device for `user` (replacing an earlier unconfirmed one) and show it."""
    return services.start_enrolment(user=user)


def pending_enrolment(user: Any) -> Enrolment | None:
    """The unconfirmed device `user` is enrolling, if any (to show its QR code again)."""
    return selectors.pending_enrolment(user=user)


def confirm_enrolment(user: Any, code: str, *, current_code: str = "") -> None:
    """Confirm `user`'s pending device with its first code; it replaces their earlier device, whose current code
    is then required too (a stolen session must not swap the second factor)."""
    services.confirm_enrolment(user=user, code=code, current_code=current_code)


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

    The failed attempt is committed before the error is raised (django-otp's throttling), unless the caller holds
    an outer transaction: a workflow that signs inside its own transaction checks the code first, outside it, and
    passes the proof.
    """
    services.verify_second_factor(user=user, code=code)
    return FreshCode(user_id=user.pk, at=clock.now())
