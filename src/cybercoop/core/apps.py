"""Core: what every domain stands on (clock, request context, errors, permissions, rule catalogue)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "cybercoop.core"
    label = "core"
    verbose_name = _("Core")
