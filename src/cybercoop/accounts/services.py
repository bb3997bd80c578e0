"""Every change to accounts: creation, language, sign-in events and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from cybercoop.accounts import rules, selectors
from cybercoop.accounts.models import ApiToken, User
from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.core.errors import DomainError, InvalidInput


def supported_languages() -> list[str]:
    """The codes of the interface languages."""
    return [code for code, _name in settings.LANGUAGES]


def check_language(language: str) -> str:
    """The language code if supported, else an error naming the choices."""
    if language not in supported_languages():
        raise InvalidInput(
            _("Unknown language."),
            errors={
                "language": [
                    _("“%(code)s” is not an interface language. Choose one of: %(choices)s.")
                    % {"code": language[:16], "choices": ", ".join(supported_languages())}
                ]
            },
        )
    return language


@transaction.atomic
def create_user(
    *,
    actor: User | None,
    username: str,
    full_name: str,
    body: Any,
    role: str,
    password: str | None,
    language: str = "ru",
    position: str = "",
    email: str = "",
) -> User:
    """Create a user of `body` with `role`; the password must pass the configured validators."""
    errors: dict[str, list[Any]] = {}
    if role not in rules.Role.values:
        errors["role"] = [_("Unknown role.")]
    if User.objects.filter(username=username).exists():
        errors["username"] = [_("A user with this user name already exists.")]
    if language not in supported_languages():
        errors["language"] = [_("Unknown language.")]
    user = User(
        username=username,
        full_name=full_name,
        body=body,
        role=role,
        language=language,
        position=position,
        email=email,
    )
    if password is not None:
        try:
            password_validation.validate_password(password, user)
        except ValidationError as error:
            errors["password"] = list(error.messages)
    if errors:
        raise InvalidInput(_("The user could not be created."), errors=errors)
    user.set_password(password)
    user.save()
    audit.record(
        action=AuditAction.USER_CREATED,
        actor=actor,
        body=body,
        target=user,
        data={"username": username, "role": role},
    )
    return user


@transaction.atomic
def set_language(*, user: User, language: str) -> User:
    """Change the user's interface language (kept across sessions)."""
    check_language(language)
    if user.language != language:
        previous, user.language = user.language, language
        user.save(update_fields=["language"])
        audit.record(
            action=AuditAction.USER_LANGUAGE_CHANGED,
            actor=user,
            target=user,
            data={"from": previous, "to": language},
        )
    return user


@transaction.atomic
def record_sign_in(*, user: User) -> None:
    """A user signed in."""
    audit.record(action=AuditAction.SIGNED_IN, actor=user, target=user)


@transaction.atomic
def record_sign_out(*, user: User) -> None:
    """A user signed out."""
    audit.record(action=AuditAction.SIGNED_OUT, actor=user, target=user)


@transaction.atomic
def record_failed_sign_in(*, username: str, locked_out: bool) -> None:
    """A sign-in failed (wrong credentials, or refused during a lockout); the password is never kept."""
    known = selectors.get_user(username=username)
    audit.record(
        action=AuditAction.LOCKED_OUT if locked_out else AuditAction.SIGN_IN_FAILED,
        actor=None,
        body=known.body if known is not None else None,
        target=known,
        data={"username": username[:150]},
    )


_TOKEN_ALPHABET = string.ascii_letters + string.digits


@transaction.atomic
def issue_api_token(*, user: User, name: str, valid_days: int | None = None) -> tuple[ApiToken, str]:
    """Issue a personal API token; returns the row and the token, which is not stored and shown once."""
    name = name.strip()
    errors: dict[str, list[Any]] = {}
    if not name:
        errors["name"] = [_("Give the token a name, so you can recognise it later.")]
    elif len(name) > 100:
        errors["name"] = [_("At most 100 characters.")]
    if valid_days is not None and not 1 <= valid_days <= 366:
        errors["valid_days"] = [_("A token may be valid from 1 to 366 days.")]
    if errors:
        raise InvalidInput(_("The token could not be issued."), errors=errors)
    while True:
        prefix = "".join(secrets.choice(_TOKEN_ALPHABET) for _i in range(8))
        if not ApiToken.objects.filter(prefix=prefix).exists():
            break
    raw = f"cc_{prefix}_{secrets.token_urlsafe(32)}"
    now = clock.now()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        digest=hashlib.sha256(raw.encode()).hexdigest(),
        created_at=now,
        expires_at=now + dt.timedelta(days=valid_days) if valid_days else None,
    )
    audit.record(action=AuditAction.API_TOKEN_ISSUED, actor=user, target=token, data={"name": name})
    return token, raw


@transaction.atomic
def revoke_api_token(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke a token at once; only its owner may."""
    if token.user_id != actor.pk:
        raise DomainError(_("You can revoke only your own tokens."))
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
        audit.record(action=AuditAction.API_TOKEN_REVOKED, actor=actor, target=token)
    return token
