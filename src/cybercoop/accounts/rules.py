"""Roles and the one table of who may do what.

Every permission check in the system comes here, through `User.has_perm()` (views, API and tasks
alike): the role must hold the permission, and an object rule registered by the object's domain
(`core.permissions.register_object_rule`) may narrow it further.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from django.db import models
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from cybercoop.core.permissions import Permission


class Role(models.TextChoices):
    """A user's role in their body (P6.5: only the head or a deputy signs)."""

    OFFICER = "officer", _("Officer")
    HEAD = "head", _("Head of body")
    DEPUTY = "deputy", _("Deputy head")
    REGISTRAR = "registrar", _("Registrar")
    SECRETARIAT = "secretariat", _("Secretariat officer")
    AUDITOR = "auditor", _("Auditor")


_EVERYONE = frozenset(
    {
        Permission.VIEW_HOME,
        Permission.USE_API,
        Permission.MANAGE_OWN_TOKENS,
        Permission.VIEW_OWN_NOTIFICATIONS,
        Permission.VIEW_REGISTRY,
    }
)

_CASEWORK = frozenset({Permission.DRAFT_REQUEST, Permission.WORK_ON_CASE, Permission.VIEW_CASE})
# P6.5: only the head of the body or a deputy signs (approves) a request; P9.2: and a refusal.
_SIGNATORY = _CASEWORK | {Permission.APPROVE_REQUEST, Permission.REFUSE_REQUEST}
# P10.1, need to know: the head and the deputies see every case of their body and assign its officers to them.
_SIGNATORY |= {Permission.ASSIGN_CASE}

# The node's deliveries to and from other nodes (docs/federation.md, Screens): metadata only, never content. The
# registrar administers its Party's node; the Secretariat, which keeps the directory, its own node.
_NODE_ADMINISTRATION = frozenset({Permission.VIEW_DELIVERIES, Permission.RETRY_DELIVERY})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OFFICER: _EVERYONE | _CASEWORK,
    Role.HEAD: _EVERYONE | _SIGNATORY | {Permission.ACKNOWLEDGE_ANNOUNCEMENT},
    Role.DEPUTY: _EVERYONE | _SIGNATORY | {Permission.ACKNOWLEDGE_ANNOUNCEMENT},
    # P4.2: the registrar files the Party's designations and keeps its profile current.
    Role.REGISTRAR: _EVERYONE
    | {
        Permission.FILE_DESIGNATION,
        Permission.REGISTER_BODY,
        Permission.EDIT_PARTY_PROFILE,
        Permission.ACKNOWLEDGE_ANNOUNCEMENT,
        Permission.VIEW_ACKNOWLEDGEMENTS,
    }
    | _NODE_ADMINISTRATION,
    # P4.3, P16.1, P18, P19: the Secretariat is the depositary and records what the Parties notify;
    # it also keeps the federation's directory: which node serves which body, with the nodes' keys.
    Role.SECRETARIAT: _EVERYONE
    | {
        Permission.MANAGE_INSTRUMENTS,
        Permission.FILE_DESIGNATION,
        Permission.REGISTER_BODY,
        Permission.VIEW_ACKNOWLEDGEMENTS,
        Permission.MANAGE_NODES,
    }
    | _NODE_ADMINISTRATION,
    Role.AUDITOR: _EVERYONE | {Permission.VIEW_AUDIT_LOG, Permission.VERIFY_AUDIT_CHAIN},
}


def role_has_permission(role: str, permission: str) -> bool:
    """True if `role` holds `permission`; unknown roles and permissions hold nothing."""
    try:
        return Permission(permission) in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


class TokenScope(models.TextChoices):
    """What an API token may do (least privilege: a new token reads only, unless its owner chooses otherwise)."""

    READ = "read", _("Read only")
    ACT = "act", _("Read and act (everything the owner's role allows)")


# HTTP methods a read-only token may use: they change nothing.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_allows(*, scope: str, method: str) -> bool:
    """True if a token of `scope` may make a request with `method`; an unknown scope allows nothing."""
    if scope == TokenScope.ACT:
        return True
    return scope == TokenScope.READ and method.upper() in READ_METHODS


# API tokens: "cc_" + 8-character public prefix + "_" + 43-character secret.
TOKEN_PATTERN = re.compile(r"^cc_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})$")


def parse_token(raw: str) -> str | None:
    """The public prefix of a well-formed token, or None for anything else."""
    match = TOKEN_PATTERN.match(raw.strip())
    return match.group(1) if match else None


NOTIFICATION_SUBJECT_MAX = 200
NOTIFICATION_URL_MAX = 500


def is_local_url(url: str) -> bool:
    """True for a path on this site ("/registry/…"); False for anything a browser could take elsewhere.

    A notification's link is followed after a POST, so an absolute URL, a scheme-relative "//host" or
    a "javascript:" link in one must never become a redirect (an open redirect).
    """
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return False
    if any(ord(character) < 32 or ord(character) == 127 for character in url):
        return False
    return url_has_allowed_host_and_scheme(url, allowed_hosts=None)


# --- the second factor (issue 7) ------------------------------------------------------------------


class SecondFactorPolicy(StrEnum):
    """Who must give a TOTP code at sign-in (`CYBERCOOP_SECOND_FACTOR`); whoever has an authenticator gives one."""

    SIGNERS = "signers"  # the head and the deputies must (they sign, P6.5); everyone else may
    ALL = "all"  # every user must


# P6.5: the head of the body and a deputy sign; their accounts are the ones worth stealing.
SIGNER_ROLES = frozenset({Role.HEAD, Role.DEPUTY})


class SignInStep(StrEnum):
    """What a sign-in still needs after the password."""

    CODE = "code"  # a code of the user's authenticator
    ENROL = "enrol"  # the user must enrol an authenticator first (and give its first code)


def second_factor_required(*, role: str, policy: str) -> bool:
    """True if a user of `role` must have an authenticator under `policy`; an unknown policy requires one."""
    if policy == SecondFactorPolicy.SIGNERS:
        return role in SIGNER_ROLES
    return True


def sign_in_step(*, role: str, policy: str, has_device: bool) -> SignInStep | None:
    """The step a sign-in needs after a right password: a code if the user has an authenticator, enrolment if
    they must have one and have none, else nothing."""
    if has_device:
        return SignInStep.CODE
    if second_factor_required(role=role, policy=policy):
        return SignInStep.ENROL
    return None


@dataclass(frozen=True)
class Enrolment:
    """What a user needs to add the device to an authenticator app: the secret, the otpauth URL and its QR code."""

    secret: str
    url: str
    qr_svg: str

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return "Enrolment(…)"
