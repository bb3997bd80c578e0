"""Assistance: requests for assistance between competent bodies, their workflow and legal clocks (P6.1–P9.2, P12)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistanceConfig(AppConfig):
    name = "cybercoop.assistance"
    label = "assistance"
    verbose_name = _("Requests for assistance")

    def ready(self) -> None:
        from cybercoop.assistance import handlers, views
        from cybercoop.core import home

        handlers.install()
        home.register_panel(views.home_panel)
