"""The vocabulary of permissions, and the one entry point every view, API operation and task uses.

Which role holds which permission is decided in one table, `accounts.rules.ROLE_PERMISSIONS`, and
applied by `accounts.backends.RoleBackend` through Django's `user.has_perm()`. Object-level rules
("only the two bodies of a case") are registered here by the domain that owns the object, from its
`AppConfig.ready()`, so a lower domain never imports a higher one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied


class Permission(StrEnum):
    """Every permission in the system: `domain.verb_noun`."""

    VIEW_HOME = "core.view_home"
    USE_API = "accounts.use_api"
    MANAGE_OWN_TOKENS = "accounts.manage_own_tokens"
    VIEW_OWN_NOTIFICATIONS = "accounts.view_own_notifications"
    VIEW_AUDIT_LOG = "audit.view_log"
    VERIFY_AUDIT_CHAIN = "audit.verify_chain"
    VIEW_REGISTRY = "registry.view"
    MANAGE_INSTRUMENTS = "registry.manage_instruments"
    FILE_DESIGNATION = "registry.file_designation"
    REGISTER_BODY = "registry.register_body"
    EDIT_PARTY_PROFILE = "registry.edit_party_profile"
    ACKNOWLEDGE_ANNOUNCEMENT = "registry.acknowledge_announcement"
    VIEW_ACKNOWLEDGEMENTS = "registry.view_acknowledgements"
    MANAGE_NODES = "registry.manage_nodes"
    VIEW_DELIVERIES = "exchange.view_deliveries"
    RETRY_DELIVERY = "exchange.retry_delivery"
    DRAFT_REQUEST = "assistance.draft_request"
    APPROVE_REQUEST = "assistance.approve_request"
    WORK_ON_CASE = "assistance.work_on_case"
    REFUSE_REQUEST = "assistance.refuse_request"
    VIEW_CASE = "assistance.view_case"
    ASSIGN_CASE = "assistance.assign_case"


ObjectRule = Callable[[Any, Any], bool]
_object_rules: dict[str, ObjectRule] = {}


def register_object_rule(permission: Permission) -> Callable[[ObjectRule], ObjectRule]:
    """Decorator: `fn(user, obj) -> bool` further restricts `permission` on a given object."""

    def decorator(fn: ObjectRule) -> ObjectRule:
        if permission in _object_rules:
            raise ValueError(f"an object rule for {permission} is already registered")
        _object_rules[permission] = fn
        return fn

    return decorator


def object_rule(permission: str) -> ObjectRule | None:
    """The object-level rule registered for `permission`, if any."""
    return _object_rules.get(permission)


# What the object rules decided inside `decided_once`, by (rule, user, object); None outside it.
_decided: ContextVar[dict[tuple[Any, ...], bool] | None] = ContextVar("object_rules_decided", default=None)


@contextmanager
def decided_once() -> Iterator[None]:
    """Inside it, each object rule is asked once per user and object, its answer kept to the end of the block: for
    drawing a page, which asks the same rule for each action it may offer. Only around reads: a write inside could
    change the answer (an assignment) while the kept one is still given."""
    token = _decided.set({})
    try:
        yield
    finally:
        _decided.reset(token)


def check_object_rule(rule: ObjectRule, user: Any, obj: Any) -> bool:
    """`rule(user, obj)`, or its answer kept inside `decided_once`."""
    decided = _decided.get()
    if decided is None:
        return bool(rule(user, obj))
    key = (rule, user.pk, type(obj), getattr(obj, "pk", None) or id(obj))
    if key not in decided:
        decided[key] = bool(rule(user, obj))
    return decided[key]


def require(user: Any, permission: Permission, obj: Any = None) -> None:
    """Raise PermissionDenied unless `user` holds `permission` (on `obj`, when given)."""
    if not user.has_perm(permission, obj):
        raise PermissionDenied(permission)
