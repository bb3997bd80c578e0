"""Assistance: requests for assistance between competent bodies, their workflow and legal clocks (P6–P9, P12)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistanceConfig(AppConfig):
    name = "cybercoop.assistance"
    label = "assistance"
    verbose_name = _("Requests for assistance")

    def ready(self) -> None:
        from cybercoop.assistance import handlers

        handlers.install()
