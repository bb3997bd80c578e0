"""Accounts: users, their body and role, sign-in, interface language and API tokens."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "cybercoop.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from cybercoop.accounts import services
        from cybercoop.core import keyring

        # `cybercoop keys secrets rotate|rewrap|retire` (docs/security-at-rest.md).
        keyring.register("secrets", services.SECRETS_ROTATION)
