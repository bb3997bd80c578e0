"""Every change to accounts: creation, language, sign-in events, the second factor, API tokens and notifications."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django_otp.oath import TOTP

from cybercoop.accounts import rules, selectors, tasks, totp_secrets
from cybercoop.accounts.models import ApiToken, Notification, SealedTOTPDevice, User
from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock, sealed_secrets
from cybercoop.core.errors import DomainError, InvalidInput
from cybercoop.core.keyring import Rotation, reseal_rows


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
    receives_incoming: bool = False,
) -> User:
    """Create a user of `body` with `role`; the password must pass the configured validators. An officer who
    `receives_incoming` is assigned every request that arrives for the body (need to know, P10.1)."""
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
        receives_incoming=receives_incoming and role == rules.Role.OFFICER,
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
def record_sign_in(*, user: User, second_factor: bool = False) -> None:
    """A user signed in: with a password, and with a code of their authenticator when `second_factor`."""
    audit.record(
        action=AuditAction.SIGNED_IN, actor=user, target=user, data={"second_factor": "totp"} if second_factor else None
    )


@transaction.atomic
def record_sign_out(*, user: User) -> None:
    """A user signed out."""
    audit.record(action=AuditAction.SIGNED_OUT, actor=user, target=user)


@transaction.atomic
def record_failed_sign_in(*, username: str, locked_out: bool, stage: str = "password") -> None:
    """A sign-in failed (wrong credentials, or refused during a lockout) at `stage`, "password" or "second_factor"
    (a wrong code after a right password); the password and the code are never kept."""
    known = selectors.get_user(username=username)
    data = {"username": username[:150]}
    if stage != "password":
        data["stage"] = stage
    audit.record(
        action=AuditAction.LOCKED_OUT if locked_out else AuditAction.SIGN_IN_FAILED,
        actor=None,
        body=known.body if known is not None else None,
        target=known,
        data=data,
    )


# --- the second factor: one TOTP device per user (django-otp) -------------------------------------------------------
# The same device opens a sign-in (issue 7) and confirms a signature (documents.otp, P6.5), so one authenticator app
# serves both. A code is accepted once: django-otp remembers the last time step used, and throttles wrong codes.
# Its secret is sealed at rest with the node's secrets key (models.SealedTOTPDevice, docs/security-at-rest.md).

DEVICE_NAME = "CyberCoop"
CODE_REFUSED = _("The code was not accepted.")
DEVICE_UNREADABLE = _(
    "The authenticator of this account cannot be read on this node: ask the node's administrator to reset your "
    "second factor, then enrol your authenticator again."
)


@transaction.atomic
def start_enrolment(*, user: Any) -> rules.Enrolment:
    """Create a new, unconfirmed TOTP device for `user` (replacing an earlier unconfirmed one) and show it.

    Not audited: nothing changes for the user until the device is confirmed (`confirm_enrolment`)."""
    SealedTOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = SealedTOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return selectors.enrolment_of(device)


def _normalised(code: str) -> str:
    return "".join(str(code).split())


def _refuse(message: Any, field: str = "code") -> InvalidInput:
    return InvalidInput(CODE_REFUSED, errors={field: [message]})


def _was_used(device: Any, code: str) -> bool:
    """True if `code` is a right code of a time step already spent (a replay, not a typo)."""
    try:
        token = int(code)
    except ValueError:
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return bool(totp.verify(token, device.tolerance)) and totp.t() <= device.last_t


def _check(device: SealedTOTPDevice, code: str, *, field: str = "code") -> InvalidInput | None:
    """None if `code` is fresh and right for `device` (and spend it); otherwise the error to raise."""
    if not device.is_readable():  # sealed under another node's key, or damaged: no code can be right
        return _refuse(DEVICE_UNREADABLE, field)
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        return _refuse(_("Too many wrong codes: wait a minute, then use a new code."), field)
    if device.verify_token(code):
        return None
    if _was_used(device, code):
        return _refuse(_("This code has already been used: wait for the next one."), field)
    return _refuse(_("The code is wrong."), field)


def confirm_enrolment(*, user: Any, code: str, current_code: str = "") -> Any:
    """Confirm `user`'s pending device with its first code and return it; it replaces their earlier device, whose
    current code is then required too (a stolen session must not swap the second factor).

    Not one atomic block on purpose: a wrong code is committed (django-otp's throttling) before it is refused."""
    code = _normalised(code)
    with transaction.atomic():
        pending = (
            SealedTOTPDevice.objects.select_for_update(no_key=True)
            .filter(user=user, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if pending is None or not pending.is_readable():
            raise _refuse(_("There is no enrolment to confirm: start again."))
        previous = list(SealedTOTPDevice.objects.select_for_update(no_key=True).filter(user=user, confirmed=True))
        error = None
        if previous and not _normalised(current_code):
            error = _refuse(_("To replace your authenticator, give a code from the current one too."), "current_code")
        elif previous:
            error = _check(previous[0], _normalised(current_code), field="current_code")
        if error is None:
            error = _check(pending, code)
        if error is None:
            SealedTOTPDevice.objects.filter(pk__in=[device.pk for device in previous]).delete()
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            audit.record(
                action=AuditAction.SECOND_FACTOR_ENROLLED,
                actor=user,
                target=("otp_totp.totpdevice", str(pending.pk)),
                data={"replaced": len(previous)},
            )
            return pending
    # Raised after the block has committed: the failed attempt stays counted for throttling.
    raise error


@transaction.atomic
def reset_second_factor(*, user: Any, reason: str) -> int:
    """The node's administrator removes `user`'s authenticator (a lost or stolen phone): the user enrols a new one
    at their next sign-in (a head or deputy must, before anything else). Audited with the reason; returns how
    many devices were removed. Refused without a reason."""
    reason = " ".join(str(reason).split())
    if not reason:
        raise InvalidInput(
            _("The second factor could not be reset."), errors={"reason": [_("Say why (lost phone, …).")]}
        )
    removed, _details = SealedTOTPDevice.objects.filter(user=user).delete()
    audit.record(
        action=AuditAction.SECOND_FACTOR_RESET,
        actor=None,
        target=user,
        data={"devices_removed": removed, "reason": reason[:500]},
    )
    return int(removed)


def verify_second_factor(*, user: Any, code: str) -> Any:
    """Accept a code of `user`'s confirmed device once and return the device; raise InvalidInput (field "code")
    otherwise.

    The device row is locked, so one code cannot open two sign-ins or signatures at once. The failed attempt is
    committed before the error is raised (django-otp's throttling), unless the caller holds an outer transaction.
    Not audited here: the sign-in records its outcome (`record_sign_in`, `record_failed_sign_in`), and a signature
    records the document it signs."""
    code = _normalised(code)
    with transaction.atomic():
        device = (
            SealedTOTPDevice.objects.select_for_update(no_key=True)
            .filter(user=user, confirmed=True)
            .order_by("-pk")
            .first()
        )
        if device is None:
            error: InvalidInput | None = _refuse(
                _("You have no second factor: enrol an authenticator app first, on the “Second factor” page.")
            )
        else:
            error = _check(device, code)
        if error is None:
            return device
    raise error


_TOKEN_ALPHABET = string.ascii_letters + string.digits


@transaction.atomic
def issue_api_token(
    *, user: User, name: str, valid_days: int | None = None, scope: str = rules.TokenScope.READ
) -> tuple[ApiToken, str]:
    """Issue a personal API token; returns the row and the token, which is not stored and shown once. It reads
    only unless `scope` is "act" (least privilege)."""
    name = name.strip()
    errors: dict[str, list[Any]] = {}
    if scope not in rules.TokenScope.values:
        errors["scope"] = [_("Choose what the token may do.")]
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
        scope=scope,
        created_at=now,
        expires_at=now + dt.timedelta(days=valid_days) if valid_days else None,
    )
    audit.record(action=AuditAction.API_TOKEN_ISSUED, actor=user, target=token, data={"name": name, "scope": scope})
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


# --- the secrets key: rotation (`cybercoop keys secrets …`, docs/security-at-rest.md) -------------------------------


def _reseal_secrets(keys: dict[str, bytes], current: str, batch: int) -> tuple[int, list[str]]:
    """Seal again under the key `current` every TOTP secret under another one, each device locked while it is done (a
    sign-in with it waits a moment); a secret that does not open is left (its device accepts no code, as before)."""

    def reseal(device: SealedTOTPDevice) -> None:
        device.key = totp_secrets.reseal_key(device.key, user_id=device.user_id, keys=keys, to=current)
        device.save(update_fields=["key"])

    rows = SealedTOTPDevice.objects.filter(key__startswith="s1:").exclude(key__startswith=f"s1:{current}:")
    return reseal_rows(rows, reseal, unreadable=totp_secrets.SecretUnreadable, batch=batch)


def secrets_by_key() -> dict[str, int]:
    """How many TOTP secrets each secrets key id holds ("" for any not sealed)."""
    return dict(
        Counter(sealed_secrets.key_id_of(key) for key in SealedTOTPDevice.objects.values_list("key", flat=True))
    )


SECRETS_ROTATION = Rotation(
    key=sealed_secrets.KEY,
    reseal=_reseal_secrets,
    in_use=secrets_by_key,
    record=audit.key_steps(
        rotated=AuditAction.SECRETS_KEY_ROTATED,
        rewrapped=AuditAction.SECRETS_REWRAPPED,
        retired=AuditAction.SECRETS_KEYS_RETIRED,
    ),
)


# --- notifications ----------------------------------------------------------------------------------


def _active_once(recipients: Iterable[User]) -> list[User]:
    """Active recipients, each once, in the order given."""
    seen: set[int] = set()
    active = []
    for user in recipients:
        if user.is_active and user.pk not in seen:
            seen.add(user.pk)
            active.append(user)
    return active


def _subject_line(subject: str) -> str:
    """One line (an e-mail header cannot hold a line break), cut to the column's length."""
    line = " ".join(subject.split())
    if len(line) > rules.NOTIFICATION_SUBJECT_MAX:
        line = line[: rules.NOTIFICATION_SUBJECT_MAX - 1] + "…"
    return line


def _deliver(*, letters: list[tuple[User, str, str]], url: str, email: bool) -> list[Notification]:
    """Store one notification per (recipient, subject, body), queue e-mail after commit, audit once."""
    # A programming error, not a user's: links in notifications are short paths on this site.
    if url and not rules.is_local_url(url):
        raise ValueError("a notification's url must be a path on this site, such as /registry/")
    if len(url) > rules.NOTIFICATION_URL_MAX:
        raise ValueError(f"a notification's url may be at most {rules.NOTIFICATION_URL_MAX} characters")
    now = clock.now()
    notifications = Notification.objects.bulk_create(
        [
            Notification(recipient=user, subject=_subject_line(subject), body=body, url=url, created_at=now)
            for user, subject, body in letters
        ]
    )
    # Metadata only: who was told and where the link points, never the subject or the text. One entry per body of
    # the recipients, in that body's name: an auditor sees their own Party's entries only, and who else was told
    # (and the case the link names) is not theirs to see (P10.1).
    by_body: dict[Any, list[tuple[Notification, User]]] = {}
    emailed: dict[Any, int] = {}
    for notification, (user, _subject, _body) in zip(notifications, letters, strict=True):
        by_body.setdefault(user.body_id, []).append((notification, user))
        if email and user.email:
            # After commit: a rolled-back action must not have told anyone anything. Robust: the
            # action has committed, so a failure to queue the copy is logged, not raised.
            transaction.on_commit(
                partial(tasks.send_email.enqueue, user.email, notification.subject, notification.body),
                robust=True,
            )
            emailed[user.body_id] = emailed.get(user.body_id, 0) + 1
    for body_id, told in by_body.items():
        audit.record(
            action=AuditAction.NOTIFICATION_SENT,
            actor=None,
            body=told[0][1].body,
            target=told[0][0] if len(told) == 1 else None,
            data={
                "count": len(told),
                "recipients": [user.username for _notification, user in told],
                "url": url,
                "emails": emailed.get(body_id, 0),
            },
        )
    return notifications


@transaction.atomic
def notify(
    *, recipients: Iterable[User], subject: str, body: str, url: str = "", email: bool = True
) -> list[Notification]:
    """Tell users something in the application and, when `email` and they have an address, by e-mail.

    `subject` and `body` are stored as given, so they must already be in the recipients' language
    (see `notify_translated`). Inactive recipients are skipped; `url` is a path on this site or empty.
    The e-mails are queued only once the caller's transaction commits.
    """
    active = _active_once(recipients)
    return _deliver(letters=[(user, str(subject), str(body)) for user in active], url=url, email=email)


def _render(text: str | Promise, params: Mapping[str, Any] | None) -> str:
    """The text in the active language, with its %(name)s parameters (themselves translated) filled in."""
    rendered = str(text)
    if params:
        rendered = rendered % {
            key: str(value) if isinstance(value, Promise) else value for key, value in params.items()
        }
    return rendered


@transaction.atomic
def notify_translated(
    *,
    recipients: Iterable[User],
    subject: str | Promise,
    body: str | Promise,
    url: str = "",
    params: Mapping[str, Any] | None = None,
    email: bool = True,
) -> list[Notification]:
    """Like `notify`, with the subject and body rendered in each recipient's own language.

    Pass translatable text (`gettext_lazy`) with `%(name)s` placeholders and the values in `params`;
    lazy values in `params` are translated too. One audit entry covers every recipient.
    """
    letters = []
    for user in _active_once(recipients):
        with translation.override(user.language):
            letters.append((user, _render(subject, params), _render(body, params)))
    return _deliver(letters=letters, url=url, email=email)


@transaction.atomic
def mark_read(*, user: User, notification: Notification) -> Notification:
    """Mark one of the user's own notifications as read (reading is not audited)."""
    if notification.recipient_id != user.pk:
        raise DomainError(_("This notification is not addressed to you."))
    if notification.read_at is None:
        notification.read_at = clock.now()
        notification.save(update_fields=["read_at"])
    return notification


@transaction.atomic
def mark_all_read(*, user: User) -> int:
    """Mark every unread notification of the user as read; returns how many there were."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=clock.now())
