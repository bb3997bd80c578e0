"""Audit: the append-only, hash-chained log of every state change and every read of confidential data."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "cybercoop.audit"
    label = "audit"
    verbose_name = _("Audit log")
