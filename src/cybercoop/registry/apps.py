"""Registry: the Parties, their competent bodies and (with the registry issue) instruments and designations."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "cybercoop.registry"
    label = "registry"
    verbose_name = _("Registry")

    def ready(self) -> None:
        from cybercoop.registry import permissions

        permissions.install()
