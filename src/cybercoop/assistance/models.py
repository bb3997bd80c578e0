"""Cases (the projection of a conversation on this node) and their legal clocks."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cybercoop.assistance import rules
from cybercoop.exchange.rules import Marking


class Case(models.Model):
    """A request for assistance and everything that followed. Before sending it is the requesting body's
    draft; after, its state is derived from the conversation's messages (`rules.derive`) and kept here
    so lists and counters stay fast. `assistance.services.recompute` rebuilds it from the messages."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(_("state"), max_length=32, choices=rules.CaseState.choices, default=rules.CaseState.DRAFT)
    requesting_body = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("requesting body")
    )
    requested_body = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("requested body")
    )
    handling_body = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("body executing the request")
    )
    instrument = models.ForeignKey(
        "registry.Instrument", on_delete=models.PROTECT, related_name="+", verbose_name=_("legal basis")
    )
    # P6.2: what a request states.
    subject = models.CharField(_("subject"), max_length=300)
    scope = models.CharField(_("scope (Article 3)"), max_length=32, choices=rules.Scope.choices, blank=True)
    purpose = models.TextField(_("purpose"), blank=True)
    grounds = models.TextField(_("grounds"), blank=True)
    substance = models.TextField(_("substance of the matter"), blank=True)
    assistance_kinds = models.JSONField(_("assistance sought (kind)"), default=list, blank=True)
    assistance_sought = models.TextField(_("assistance sought"), blank=True)
    identifiers = models.TextField(_("identifiers of the data or persons sought"), blank=True)
    execution_term_days = models.PositiveSmallIntegerField(_("agreed execution term (days)"), null=True, blank=True)
    other_information = models.TextField(_("other useful information"), blank=True)
    offence = models.CharField(_("offence under the requesting Party's law"), max_length=300, blank=True)
    dual_criminality_confirmed = models.BooleanField(
        _("the act is a crime under the law of both Parties"), default=False
    )
    annex_language = models.CharField(_("language of an annex"), max_length=8, blank=True)
    urgent = models.BooleanField(_("urgent (P6.4)"), default=False)
    marking = models.CharField(_("marking"), max_length=16, choices=Marking.choices, default=Marking.OFFICIAL)
    purposes = models.JSONField(_("permitted purposes of the information"), default=list, blank=True)
    # The people and numbers of the workflow.
    # Empty for a request received from another node: its drafter is not a user of this node.
    drafted_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("drafted by"),
    )
    submitted_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    approved_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    return_comment = models.TextField(_("comment on return to draft"), blank=True)
    outgoing_number = models.CharField(_("outgoing number"), max_length=40, blank=True, db_index=True)
    incoming_number = models.CharField(_("incoming number"), max_length=40, blank=True, db_index=True)
    # Derived from the messages (rules.derive).
    received_at = models.DateTimeField(_("received"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    postponed_until = models.DateField(_("postponed until"), null=True, blank=True)
    urgent_confirmed_at = models.DateTimeField(_("urgent request confirmed"), null=True, blank=True)
    partially_refused = models.BooleanField(_("partly refused"), default=False)
    conditions_proposed = models.JSONField(_("conditions proposed"), default=list, blank=True)
    conditions_accepted = models.JSONField(_("conditions accepted"), default=list, blank=True)
    participation_pending = models.BooleanField(_("participation request pending"), default=False)
    next_due_at = models.DateTimeField(_("next deadline"), null=True, blank=True)  # of a running obligation
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-updated_at"]
        # The lists walk a body's cases newest first and stop after a page; the deadline counters and the
        # overdue filter read only the cases that owe something (see docs/requests.md, "Performance").
        # On PostgreSQL, migration 0002 adds trigram indexes for the search.
        indexes = [
            models.Index(fields=["handling_body", "-updated_at", "id"], name="case_inbox", include=["state"]),
            models.Index(fields=["requesting_body", "-updated_at", "id"], name="case_outbox", include=["state"]),
            models.Index(
                fields=["handling_body", "next_due_at"],
                name="case_inbox_due",
                condition=Q(next_due_at__isnull=False),
                include=["state"],
            ),
            models.Index(
                fields=["requesting_body", "next_due_at"],
                name="case_outbox_due",
                condition=Q(next_due_at__isnull=False),
                include=["state"],
            ),
        ]

    def __str__(self) -> str:
        return self.outgoing_number or self.subject

    @property
    def is_closed(self) -> bool:
        return self.state in rules.CLOSED_STATES

    def side_of(self, body_id: int) -> rules.Side | None:
        """Which side a body is on: the requesting body, or the body now executing the request."""
        if body_id == self.requesting_body_id:
            return rules.Side.REQUESTING
        if body_id == self.handling_body_id and self.state not in rules.DRAFT_STATES | {rules.CaseState.DISCARDED}:
            return rules.Side.REQUESTED
        return None


class Clock(models.Model):
    """A legal clock (P6.4, P7.2, P7.4, P7.6): the event that started it, its rule, its inputs and its due
    instant, so it can be recomputed from the messages and explained to the user."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="clocks", verbose_name=_("case"))
    kind = models.CharField(_("clock"), max_length=24, choices=rules.ClockKind.choices)
    rule_id = models.CharField(_("rule"), max_length=8)
    started_by = models.UUIDField(_("started by message"))
    started_at = models.DateTimeField(_("started"))
    term = models.PositiveSmallIntegerField(_("term"))
    unit = models.CharField(_("unit"), max_length=8)
    zone = models.CharField(_("time zone"), max_length=64)
    until = models.DateField(_("until"), null=True, blank=True)
    due_at = models.DateTimeField(_("due"), db_index=True)
    acting_body = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("body that must act")
    )
    obligatory = models.BooleanField(_("an obligation"), default=True)
    status = models.CharField(_("status"), max_length=16, choices=rules.ClockStatus.choices)
    closed_by = models.UUIDField(_("closed by message"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # The worker's bookkeeping for reminders (before and at the deadline) and its last error.
    reminded_before_at = models.DateTimeField(_("reminded before the deadline"), null=True, blank=True)
    reminded_due_at = models.DateTimeField(_("reminded at the deadline"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)

    class Meta:
        verbose_name = _("clock")
        verbose_name_plural = _("clocks")
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["case", "kind", "started_by"], name="assistance_clock_once_per_event"),
        ]
        indexes = [
            # The worker's scan: only running obligations with a reminder still to send.
            models.Index(
                fields=["due_at"],
                name="clock_pending_reminder",
                condition=Q(status=rules.ClockStatus.RUNNING, obligatory=True)
                & (Q(reminded_before_at__isnull=True) | Q(reminded_due_at__isnull=True)),
            ),
            # A body's running obligations by deadline (the home page's panels).
            models.Index(
                fields=["acting_body", "due_at"],
                name="clock_obligations",
                condition=Q(status=rules.ClockStatus.RUNNING, obligatory=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.due_at:%Y-%m-%d %H:%M}"

    def spec(self) -> rules.ClockSpec:
        return rules.ClockSpec(
            kind=self.kind,
            rule_id=self.rule_id,
            started_by=str(self.started_by),
            started_at=self.started_at,
            term=self.term,
            unit=self.unit,
            zone=self.zone,
            due_at=self.due_at,
            acting_body=self.acting_body.code,
            status=self.status,
            closed_by=str(self.closed_by) if self.closed_by else None,
            closed_at=self.closed_at,
            until=self.until,
        )


class ReusedInformation(models.Model):
    """P10.2: a file another body provided in one case, used in another case of the same body with that body's
    consent. Its purposes and conditions (those it came with, and the consent's) go with it wherever it is shown."""

    target_case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="reused_information", verbose_name=_("case it is used in")
    )
    source_case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="+", verbose_name=_("case it was received in")
    )
    attachment = models.ForeignKey(
        "exchange.Attachment", on_delete=models.PROTECT, related_name="+", verbose_name=_("file")
    )
    # The body that uses it: only its users see it in the other case (the other side of that case did not get it).
    body = models.ForeignKey("registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("body"))
    provided_by = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("provided by")
    )
    consent_request = models.UUIDField(_("consent request (message)"))
    consented_at = models.DateTimeField(_("consent given"))
    purposes = models.JSONField(_("permitted purposes"), default=list, blank=True)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    used_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("by"))
    used_at = models.DateTimeField(_("used"))

    class Meta:
        verbose_name = _("information used in another case")
        verbose_name_plural = _("information used in other cases")
        ordering = ["used_at"]
        constraints = [
            models.UniqueConstraint(fields=["target_case", "attachment"], name="assistance_reused_once_per_case"),
        ]

    def __str__(self) -> str:
        return f"{self.attachment_id} → {self.target_case_id}"


class ReleasedInformation(models.Model):
    """P10.2: a file another body provided, exported or passed to another body (outside this system) with that
    body's consent to this use and target. It leaves as a package with its purposes, conditions and consent."""

    class Use(models.TextChoices):
        EXPORT = "export", _("Export")
        TRANSFER = "transfer", _("Pass to another body")

    source_case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="released_information", verbose_name=_("case it was received in")
    )
    attachment = models.ForeignKey(
        "exchange.Attachment", on_delete=models.PROTECT, related_name="+", verbose_name=_("file")
    )
    body = models.ForeignKey("registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("body"))
    provided_by = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("provided by")
    )
    use = models.CharField(_("use"), max_length=16, choices=Use.choices)
    target = models.CharField(_("where it goes"), max_length=300)
    consent_request = models.UUIDField(_("consent request (message)"))
    consented_at = models.DateTimeField(_("consent given"))
    purposes = models.JSONField(_("permitted purposes"), default=list, blank=True)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    released_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("by"))
    released_at = models.DateTimeField(_("released"))

    class Meta:
        verbose_name = _("information exported or passed on")
        verbose_name_plural = _("information exported or passed on")
        ordering = ["released_at", "pk"]

    def __str__(self) -> str:
        return f"{self.attachment_id} → {self.use}: {self.target}"


class CaseAssignment(models.Model):
    """Need to know (P10.1): a case assigned to a user of one of its bodies. Officers see only the cases assigned
    to them; the head and the deputies see every case of their body and assign the others
    (`safeguards.rules.case_access`)."""

    class How(models.TextChoices):
        DRAFTED = "drafted", _("drafted the request")
        INCOMING = "incoming", _("receives the body's incoming requests")
        ASSIGNED = "assigned", _("assigned by the head")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("case"))
    user = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="case_assignments", verbose_name=_("user")
    )
    how = models.CharField(_("how"), max_length=16, choices=How.choices)
    assigned_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned by"),
    )
    assigned_at = models.DateTimeField(_("assigned"))

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["assigned_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="assistance_assignment_once"),
        ]
        # An officer's lists ask "is this case assigned to me?" for each case of a page.
        indexes = [models.Index(fields=["user", "case"], name="assignment_of_user")]

    def __str__(self) -> str:
        return f"{self.case_id} → {self.user_id}"
