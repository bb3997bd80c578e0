"""Demo: the seed data and the runner of `make demo` (the top layer: it may use every domain)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    name = "cybercoop.demo"
    label = "demo"
    verbose_name = _("Demonstration")
