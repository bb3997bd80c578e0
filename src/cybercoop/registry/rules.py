"""Kinds and checks of the registry, without the database."""

from __future__ import annotations

import zoneinfo

from django.db import models
from django.utils.translation import gettext_lazy as _


class PartyKind(models.TextChoices):
    """A Party is a state; the CSTO Secretariat is an organisation with its own bodies (P4.2, P19)."""

    STATE = "state", _("State")
    ORGANISATION = "organisation", _("International organisation")


class BodyKind(models.TextChoices):
    """Kinds of authorised competent body (P1, R5, R7)."""

    LAW_ENFORCEMENT = "law_enforcement", _("Law enforcement")
    SECURITY_SERVICE = "security_service", _("Security service")
    PROSECUTION = "prosecution", _("Prosecution")
    JUDICIARY = "judiciary", _("Judiciary")
    SECRETARIAT = "secretariat", _("Secretariat")


def is_time_zone(name: str) -> bool:
    """True for an IANA time zone name (Asia/Almaty, Europe/Moscow …)."""
    return name in zoneinfo.available_timezones()
