"""What every page shows: the node banner and the viewer's permissions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

import cybercoop
from cybercoop.core.permissions import Permission


class PermissionLookup:
    """`{% if can.VIEW_AUDIT_LOG %}` in templates, through the one permission check."""

    def __init__(self, user: Any) -> None:
        self._user = user

    def __getitem__(self, name: str) -> bool:
        if self._user is None:
            return False
        try:
            return bool(self._user.has_perm(Permission[name]))
        except KeyError:
            return False


def node(request: HttpRequest) -> dict[str, Any]:
    """The node banner and the permission lookup."""
    return {
        "node_name": settings.NODE_NAME,
        "demo_nodes": settings.DEMO_NODES,
        "is_demo": settings.IS_DEMO,
        "version": cybercoop.__version__,
        "can": PermissionLookup(getattr(request, "user", None)),
    }
