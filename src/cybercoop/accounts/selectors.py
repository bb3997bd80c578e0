"""Reads of accounts."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from django.db.models import Q, QuerySet

from cybercoop.accounts import rules
from cybercoop.accounts.models import ApiToken, Notification, User


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """The user's own API tokens, newest first (never anyone else's)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def user_for_token(*, raw: str, now: dt.datetime) -> User | None:
    """The active user a presented token belongs to, or None if it is malformed, unknown, revoked or expired."""
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
    return token.user if hmac.compare_digest(digest, token.digest) else None


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
