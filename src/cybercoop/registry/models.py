"""Parties and competent bodies."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from cybercoop.registry import rules


class Localized(models.Model):
    """Names kept in each interface language; Russian is the fallback (P13)."""

    name_ru = models.CharField(_("name (Russian)"), max_length=300)
    name_kk = models.CharField(_("name (Kazakh)"), max_length=300, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=300, blank=True)

    class Meta:
        abstract = True

    @property
    def name(self) -> str:
        """The name in the active language, or in Russian."""
        return getattr(self, f"name_{get_language() or 'ru'}", "") or self.name_ru


def _check_time_zone(value: str) -> None:
    if not rules.is_time_zone(value):
        raise ValidationError(_("“%(value)s” is not a time zone."), params={"value": value})


class Party(Localized):
    """A Party to the Protocol (a state), or the CSTO as the organisation its Secretariat belongs to."""

    code = models.CharField(_("code"), max_length=8, unique=True, help_text=_("ISO 3166 code, or CSTO"))
    kind = models.CharField(_("kind"), max_length=16, choices=rules.PartyKind.choices)
    time_zone = models.CharField(_("time zone"), max_length=64, validators=[_check_time_zone])

    class Meta:
        verbose_name = _("Party")
        verbose_name_plural = _("Parties")
        ordering = ["name_ru"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Body(Localized):
    """An authorised competent body (P1, P4.2) of a Party; every user belongs to exactly one."""

    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="bodies", verbose_name=_("Party"))
    code = models.CharField(_("code"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=24, choices=rules.BodyKind.choices)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[_check_time_zone],
        help_text=_("Leave empty to use the Party's time zone."),
    )

    class Meta:
        verbose_name = _("competent body")
        verbose_name_plural = _("competent bodies")
        ordering = ["party__name_ru", "name_ru"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The body's local time zone, in which its deadlines are shown."""
        return zoneinfo.ZoneInfo(self.time_zone or self.party.time_zone)
