"""Reads of accounts."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db.models import Q, QuerySet

from cybercoop.accounts import rules
from cybercoop.accounts.models import ApiToken, Notification, SealedTOTPDevice, User


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """The user's own API tokens, newest first (never anyone else's)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def user_for_token(*, raw: str, now: dt.datetime) -> User | None:
    """The active user a presented token belongs to, or None if it is malformed, unknown, revoked or expired."""
    token = token_for(raw=raw, now=now)
    return token.user if token is not None else None


def token_for(*, raw: str, now: dt.datetime) -> ApiToken | None:
    """The valid token presented (with its active user), or None if it is malformed, unknown, revoked or expired."""
    prefix = rules.parse_token(raw)
    if prefix is None:
        return None
    token = (
        ApiToken.objects.select_related("user__body__party")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    # Constant-time comparison: the prefix is public, the digest is not.
    digest = hashlib.sha256(raw.strip().encode()).hexdigest()
    return token if hmac.compare_digest(digest, token.digest) else None


def get_user(*, username: str) -> User | None:
    """A user by user name, or None."""
    return User.objects.select_related("body__party").filter(username=username).first()


def users(**filters: Any) -> QuerySet[User]:
    """Users with their body and Party loaded."""
    return User.objects.select_related("body__party").filter(**filters)


def notifications_of(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's own notifications, newest first (never anyone else's)."""
    notifications = Notification.objects.filter(recipient=user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-created_at", "-pk")


def unread_count(*, user: User) -> int:
    """How many of the user's notifications are unread (the header's counter)."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


# --- the second factor: one TOTP device per user (django-otp), at sign-in and for signing ---------------------------
# Its secret is sealed at rest (models.SealedTOTPDevice): every read goes through the proxy, whose `bin_key` opens it.


def second_factor_device(*, user: Any) -> Any:
    """The user's confirmed TOTP device (the newest, should there be two), or None."""
    return SealedTOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def has_second_factor(*, user: Any) -> bool:
    """True if `user` has a confirmed TOTP device."""
    return bool(SealedTOTPDevice.objects.filter(user=user, confirmed=True).exists())


def second_factor_required(*, user: Any) -> bool:
    """True if `user` must have an authenticator (CYBERCOOP_SECOND_FACTOR and their role)."""
    return rules.second_factor_required(role=user.role, policy=settings.SECOND_FACTOR)


def sign_in_step(*, user: Any) -> rules.SignInStep | None:
    """What `user`'s sign-in needs after the password: a code, enrolment, or nothing."""
    return rules.sign_in_step(role=user.role, policy=settings.SECOND_FACTOR, has_device=has_second_factor(user=user))


def enrolment_of(device: Any) -> rules.Enrolment:
    """The secret of `device`, its otpauth URL and the URL's QR code (SVG), for an authenticator app."""
    url = str(device.config_url)
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage)
    return rules.Enrolment(
        secret=base64.b32encode(device.bin_key).decode("ascii"),
        url=url,
        qr_svg=image.to_string(encoding="unicode"),
    )


def pending_enrolment(*, user: Any) -> rules.Enrolment | None:
    """The unconfirmed device `user` is enrolling, if any (to show its QR code again). One whose secret does not open
    on this node counts as none: the user starts again."""
    device = SealedTOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return enrolment_of(device) if device is not None and device.is_readable() else None
