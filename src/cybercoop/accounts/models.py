"""Users and their API tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cybercoop.accounts import rules
from cybercoop.core.permissions import object_rule


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
        return check is None or bool(check(self, obj))

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
