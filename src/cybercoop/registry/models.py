"""Parties and competent bodies."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from cybercoop.core.append_only import AppendOnlyModel
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


class Node(models.Model):
    """A deployment of CyberCoop on the federation (EXCHANGE.md): where the messages of the bodies it serves
    go, and the public keys its envelopes are signed with and encrypted to.

    The Secretariat registers nodes; every other node mirrors them from the signed directory. A withdrawn
    node is kept (messages it signed stay attributable) but no longer trusted or addressed.
    """

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    base_url = models.URLField(_("base URL"), help_text=_("Where the node's federation endpoint is reached."))
    signing_jwk = models.JSONField(_("signing key (JWK)"))
    encryption_jwk = models.JSONField(_("encryption key (JWK)"))
    software_version = models.CharField(_("software version"), max_length=50, blank=True)
    protocol_version = models.PositiveSmallIntegerField(_("protocol version"), default=1)
    registered_at = models.DateTimeField(_("registered"))
    updated_at = models.DateTimeField(_("updated"))
    withdrawn_at = models.DateTimeField(
        _("withdrawn"),
        null=True,
        blank=True,
        help_text=_("Set when the Secretariat withdraws the node: its keys are no longer trusted."),
    )

    class Meta:
        verbose_name = _("node")
        verbose_name_plural = _("nodes")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name or self.code


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
    node = models.ForeignKey(
        Node,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bodies",
        verbose_name=_("node"),
        help_text=_("The node that serves this body; empty: this node (a single-node deployment)."),
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


def _sha256_hex(value: str) -> None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValidationError(_("Not a SHA-256 digest."))


class Instrument(Localized):
    """A treaty the Parties cooperate under: the Protocol, another agreement (P14, R4), or an amendment (P15).

    Its parameters are the rules' numbers, kept per instrument so another treaty can set its own.
    """

    code = models.SlugField(_("code"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=rules.InstrumentKind.choices)
    amends = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="amendments",
        verbose_name=_("amends"),
    )
    adopted_on = models.DateField(_("opened for signature on"))
    place = models.CharField(_("place of signature"), max_length=100, blank=True)
    execution_term_days = models.PositiveSmallIntegerField(_("execution term (days)"), default=30)  # P7.2
    forward_term_days = models.PositiveSmallIntegerField(_("forwarding term (days)"), default=3)  # P7.4
    urgent_confirmation_hours = models.PositiveSmallIntegerField(
        _("urgent confirmation term (hours)"), default=72
    )  # P6.4
    notifications_required = models.PositiveSmallIntegerField(
        _("notifications for entry into force"), default=4
    )  # P16.1
    withdrawal_notice_months = models.PositiveSmallIntegerField(_("withdrawal notice (months)"), default=6)  # P18
    original = models.FileField(_("original text"), upload_to="instruments/originals/", blank=True)
    original_sha256 = models.CharField(_("SHA-256 of the original"), max_length=64, blank=True)
    original_uploaded_at = models.DateTimeField(_("original stored"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("instrument")
        verbose_name_plural = _("instruments")
        ordering = ["adopted_on", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(notifications_required__gte=1), name="registry_instrument_notifications_positive"
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="amendment") & models.Q(amends__isnull=False))
                | (~models.Q(kind="amendment") & models.Q(amends__isnull=True)),
                name="registry_instrument_amendment_links_base",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class InstrumentEvent(AppendOnlyModel):
    """What the depositary received from a Party: a signature, a notification of completed domestic
    procedures (P16.1), or a withdrawal notice (P18). Never changed once recorded."""

    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="events", verbose_name=_("instrument")
    )
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="+", verbose_name=_("Party"))
    kind = models.CharField(_("event"), max_length=24, choices=rules.EventKind.choices)
    on = models.DateField(_("date"))
    effective_on = models.DateField(_("takes effect on"), null=True, blank=True)
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    recorded_at = models.DateTimeField(_("recorded"))
    recorded_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta:
        verbose_name = _("depositary record")
        verbose_name_plural = _("depositary records")
        ordering = ["on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "party", "kind"], name="registry_event_once_per_party"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument.code} {self.party.code} {self.kind} {self.on}"

    def fact(self) -> rules.TreatyEvent:
        return rules.TreatyEvent(party=self.party.code, kind=self.kind, on=self.on, effective_on=self.effective_on)


class CertifiedCopy(AppendOnlyModel):
    """A certified copy of an instrument's original sent to a signatory (P19): to whom, when, which file."""

    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="certified_copies", verbose_name=_("instrument")
    )
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="+", verbose_name=_("sent to"))
    sent_on = models.DateField(_("sent on"))
    file = models.FileField(_("file"), upload_to="instruments/copies/")
    sha256 = models.CharField(_("SHA-256"), max_length=64, validators=[_sha256_hex])
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    recorded_at = models.DateTimeField(_("recorded"))
    recorded_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta:
        verbose_name = _("certified copy")
        verbose_name_plural = _("certified copies")
        ordering = ["sent_on", "pk"]

    def __str__(self) -> str:
        return f"{self.instrument.code} → {self.party.code} {self.sent_on}"


class DesignationNotice(AppendOnlyModel):
    """A Party's notice designating, replacing or withdrawing an authorised competent body (P4.2)."""

    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="designations", verbose_name=_("instrument")
    )
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="designations", verbose_name=_("Party"))
    kind = models.CharField(_("notice"), max_length=16, choices=rules.DesignationKind.choices)
    body = models.ForeignKey(Body, on_delete=models.PROTECT, related_name="designations", verbose_name=_("body"))
    replaces = models.ForeignKey(
        Body, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("replaces")
    )
    effective_on = models.DateField(_("takes effect on"))
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    filed_at = models.DateTimeField(_("filed"))
    filed_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("filed by")
    )

    class Meta:
        verbose_name = _("designation notice")
        verbose_name_plural = _("designation notices")
        ordering = ["effective_on", "pk"]

    def __str__(self) -> str:
        return f"{self.party.code} {self.kind} {self.body.code} {self.effective_on}"

    def fact(self) -> rules.DesignationFact:
        return rules.DesignationFact(
            kind=self.kind,
            body=self.body.code,
            effective_on=self.effective_on,
            replaces=self.replaces.code if self.replaces_id else None,
        )


class Acknowledgement(models.Model):
    """The announcement of a designation notice to one Party (P4.3) and that Party's acknowledgement."""

    notice = models.ForeignKey(
        DesignationNotice, on_delete=models.PROTECT, related_name="acknowledgements", verbose_name=_("notice")
    )
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="+", verbose_name=_("Party"))
    announced_at = models.DateTimeField(_("announced"))
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )

    class Meta:
        verbose_name = _("acknowledgement")
        verbose_name_plural = _("acknowledgements")
        ordering = ["announced_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["notice", "party"], name="registry_one_announcement_per_party"),
        ]

    def __str__(self) -> str:
        return f"{self.notice} → {self.party.code}"


class PartyProfile(models.Model):
    """What a Party's bodies require of an incoming request, kept current by that Party's registrar."""

    party = models.OneToOneField(Party, on_delete=models.PROTECT, related_name="profile", verbose_name=_("Party"))
    accepted_languages = models.JSONField(
        _("languages accepted besides Russian"), default=list, blank=True
    )  # P13: Russian always
    signature_required = models.BooleanField(_("electronic signature required"), default=True)
    dual_criminality_required = models.BooleanField(_("dual criminality required"), default=False)
    evidence_use_limits = models.TextField(_("limits on the use of evidence"), blank=True)
    working_days = models.JSONField(_("working days"), default=list, blank=True)  # ISO weekdays, 1 = Monday
    office_opens_at = models.TimeField(_("office opens"), default=dt.time(9, 0))
    office_closes_at = models.TimeField(_("office closes"), default=dt.time(18, 0))
    contact_name = models.CharField(_("24/7 contact point"), max_length=200, blank=True)
    contact_phone = models.CharField(_("24/7 telephone"), max_length=50, blank=True)
    contact_email = models.EmailField(_("24/7 e-mail"), blank=True)
    # The certificates (PEM) of the authorities that issue this Party's signers' certificates: the trust anchors
    # every node checks its official documents against (P6.5), published in the directory.
    signing_authorities = models.JSONField(_("certificate authorities of its signers"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated"), null=True, blank=True)
    updated_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("updated by")
    )

    class Meta:
        verbose_name = _("Party profile")
        verbose_name_plural = _("Party profiles")

    def __str__(self) -> str:
        return str(self.party)


class DirectoryCopy(AppendOnlyModel):
    """One version of the Secretariat's signed directory (EXCHANGE.md, Directory): published here, on the
    Secretariat's node, or accepted from it, on every other node. Never changed once stored; the newest
    version is the last good one, kept whatever a later fetch brings."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    issued_at = models.DateTimeField(_("issued"))
    token = models.TextField(_("signed directory (JWS)"))
    sha256 = models.CharField(
        _("SHA-256 of the content"),
        max_length=64,
        validators=[_sha256_hex],
        help_text=_("Over the RFC 8785 form of the content without its version and time of issue."),
    )
    received_at = models.DateTimeField(_("received"))
    applied_at = models.DateTimeField(
        _("applied"),
        null=True,
        blank=True,
        help_text=_("When its content was mirrored into this node's registry; empty on the node that published it."),
    )

    class Meta:
        verbose_name = _("directory copy")
        verbose_name_plural = _("directory copies")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"directory v{self.version}"
