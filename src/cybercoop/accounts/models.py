"""Users and their API tokens."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from cybercoop.accounts import rules, totp_secrets
from cybercoop.core.permissions import check_object_rule, object_rule

logger = logging.getLogger(__name__)


class UserManager(BaseUserManager["User"]):
    def create_user(self, username: str, password: str | None = None, **fields: Any) -> User:
        """Low-level creation for migrations and tests' factories; the service is `accounts.services.create_user`."""
        user = self.model(username=username, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser):
    """A person who works in one competent body, with one role there.

    There is no superuser: every permission comes from the role (`accounts.rules.ROLE_PERMISSIONS`).
    """

    username = models.CharField(_("user name"), max_length=150, unique=True, validators=[UnicodeUsernameValidator()])
    full_name = models.CharField(_("full name"), max_length=200)
    position = models.CharField(_("position"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    body = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="users", verbose_name=_("competent body")
    )
    role = models.CharField(_("role"), max_length=16, choices=rules.Role.choices)
    language = models.CharField(
        _("interface language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    # Need to know (P10.1): an officer sees only the cases assigned to them. An officer who receives incoming
    # requests (the body's desk) is assigned every request that arrives for the body; the head and the deputies
    # see every case of the body and assign the others.
    receives_incoming = models.BooleanField(
        _("receives incoming requests"),
        default=False,
        help_text=_("Every request that arrives for the body is assigned to this officer."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=rules.Role.values), name="accounts_user_role_known"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def party(self) -> Any:
        return self.body.party

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """The one permission check (accounts.rules): the role, then the object's own rule."""
        if not self.is_active or not rules.role_has_permission(self.role, perm):
            return False
        check = object_rule(perm) if obj is not None else None
        return check is None or check_object_rule(check, self, obj)

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return False


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the token itself is shown once, at issue."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=8, unique=True)
    digest = models.CharField(_("digest"), max_length=64)
    scope = models.CharField(_("scope"), max_length=8, choices=rules.TokenScope.choices, default=rules.TokenScope.READ)
    created_at = models.DateTimeField(_("issued"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (cc_{self.prefix}_…)"


class Notification(models.Model):
    """A message to one user inside the application (and, when they have an address, by e-mail).

    The subject and body are stored already in the recipient's language, as they were when it was
    sent; `url` is a link inside this site (a path), or empty.
    """

    recipient = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("recipient")
    )
    subject = models.CharField(_("subject"), max_length=rules.NOTIFICATION_SUBJECT_MAX)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=rules.NOTIFICATION_URL_MAX, blank=True)
    created_at = models.DateTimeField(_("created"))
    # "read" as in "has been read", not the imperative.
    read_at = models.DateTimeField(pgettext_lazy("notification", "read"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="accounts_notification_unread")]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class SealedTOTPDevice(TOTPDevice):
    """A TOTP device of the second factor (django-otp) whose secret is sealed at rest (issue 7): its `key` column holds
    `totp_secrets.seal_key(…)`, never the secret in hex, and `bin_key` opens it with the node's secrets key.

    Every device CyberCoop creates or reads is one of these (the same table, `otp_totp_totpdevice`). Saving seals a
    secret still in hex (a new device's random default, a demo's fixed key) before it reaches the database. A key
    that does not open here (another node's secrets key, a changed value, a secret left in hex) accepts no code.
    """

    class Meta:
        proxy = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if not totp_secrets.is_sealed(self.key) and (update_fields is None or "key" in update_fields):
            self.key = totp_secrets.seal_key(bytes.fromhex(self.key), user_id=self.user_id)
        super().save(*args, **kwargs)

    @property
    def bin_key(self) -> bytes:
        """The secret, opened with the node's secrets key (what django-otp's `verify_token` and `config_url` read);
        `totp_secrets.SecretUnreadable` if it does not open."""
        return totp_secrets.open_key(self.key, user_id=self.user_id)

    def is_readable(self) -> bool:
        """True if this node's secrets key opens the secret; otherwise logs why (never the secret) and False."""
        try:
            totp_secrets.open_key(self.key, user_id=self.user_id)
        except totp_secrets.SecretUnreadable as error:
            logger.error("the TOTP device %s of user %s cannot be read on this node: %s", self.pk, self.user_id, error)
            return False
        return True
