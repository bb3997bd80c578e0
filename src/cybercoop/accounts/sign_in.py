"""The sign-in's second step (issue 7): between a right password and the code of the user's authenticator, the
session holds who is signing in but is signed in as nobody; only the code (or a first enrolment) signs it in.

Shared by the sign-in views and `middleware.SecondFactorMiddleware`; the writes go through `services`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, login
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django_otp import login as otp_login

from cybercoop.accounts import rules, selectors, services
from cybercoop.core import clock

PENDING_KEY = "cybercoop_pending_sign_in"
# How the session was signed in: with a password only, or with a code too. A session signed in with a password
# only is sent back to the second step once its user needs one (SecondFactorMiddleware).
SIGNED_IN_WITH_KEY = "cybercoop_signed_in_with"
PASSWORD_ONLY = "password"  # noqa: S105 - how a session signed in, not a secret
WITH_SECOND_FACTOR = "second_factor"
# The time between the password and the code (or the first code of an authenticator being enrolled).
PENDING_FOR = dt.timedelta(minutes=10)

STEP_URLS = {rules.SignInStep.CODE: "accounts:sign_in_code", rules.SignInStep.ENROL: "accounts:sign_in_enrol"}


@dataclass(frozen=True)
class Pending:
    """A sign-in whose password was right, waiting for the second factor."""

    user: Any
    backend: str
    next_url: str


def step_url(step: rules.SignInStep) -> str:
    """The page of a sign-in step."""
    return reverse(STEP_URLS[step])


def begin(request: HttpRequest, *, user: Any, backend: str, next_url: str) -> None:
    """Remember that `user` gave the right password; nobody is signed in yet."""
    # A new session key, as login() does: a session id planted before the password is worth nothing after it.
    request.session.cycle_key()
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": backend,
        # A password changed meanwhile voids the pending sign-in, as it voids sessions.
        "hash": user.get_session_auth_hash(),
        "at": clock.now().isoformat(),
        "next": next_url,
    }


def pending(request: HttpRequest) -> Pending | None:
    """The sign-in waiting for its second factor in this session, if there is one and it is still valid."""
    data = request.session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    user = selectors.users(pk=data.get("user"), is_active=True).first()
    try:
        started = dt.datetime.fromisoformat(str(data.get("at")))
    except ValueError:
        started = None
    if (
        user is None
        or started is None
        or not dt.timedelta(0) <= clock.now() - started <= PENDING_FOR
        or not constant_time_compare(str(data.get("hash", "")), user.get_session_auth_hash())
    ):
        clear(request)
        return None
    return Pending(user=user, backend=str(data.get("backend", "")), next_url=str(data.get("next", "")))


def clear(request: HttpRequest) -> None:
    """Forget the pending sign-in."""
    session = getattr(request, "session", None)
    if session is not None:
        session.pop(PENDING_KEY, None)


def complete(request: HttpRequest, *, user: Any, backend: str, device: Any = None) -> None:
    """Sign `user` in (with the TOTP `device` that accepted their code, if any) and audit it."""
    clear(request)
    login(request, user, backend=backend)
    if device is not None:
        otp_login(request, device)
    request.session[SIGNED_IN_WITH_KEY] = WITH_SECOND_FACTOR if device is not None else PASSWORD_ONLY
    services.record_sign_in(user=user, second_factor=device is not None)


def mark_verified(request: HttpRequest, device: Any) -> None:
    """The signed-in user just gave a code of `device` (enrolling it): the session now counts as verified."""
    otp_login(request, device)
    request.session[SIGNED_IN_WITH_KEY] = WITH_SECOND_FACTOR


def restart(request: HttpRequest, *, next_url: str) -> rules.SignInStep | None:
    """Send a session signed in with a password only back to the second step, if its user now needs one (they
    enrolled an authenticator in another session, or their role or CYBERCOOP_SECOND_FACTOR changed)."""
    user = request.user
    step = selectors.sign_in_step(user=user)
    if step is None:
        return None
    backend = str(request.session.get(BACKEND_SESSION_KEY, ""))
    request.session.flush()
    request.user = AnonymousUser()
    begin(request, user=user, backend=backend, next_url=next_url)
    return step


def is_fully_verified(request: HttpRequest) -> bool:
    """True if the session's user gave every factor their account needs: a code, when they have an authenticator
    or must have one (what issuing an API token asks)."""
    user = request.user
    if not user.is_authenticated:
        return False
    is_verified = getattr(user, "is_verified", None)
    if callable(is_verified) and is_verified():
        return True
    return selectors.sign_in_step(user=user) is None
