"""What every page shows of accounts: the count of the viewer's unread notifications."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from cybercoop.accounts import selectors
from cybercoop.core.permissions import Permission


def notifications(request: HttpRequest) -> dict[str, Any]:
    """`unread_notifications` for the header: a number for a signed-in user, else None (no link)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm(Permission.VIEW_OWN_NOTIFICATIONS):
        return {"unread_notifications": None}
    return {"unread_notifications": selectors.unread_count(user=user)}
