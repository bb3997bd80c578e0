"""The requests-for-assistance workflow as pure functions: states, the one transition table, the fold
that derives a case from its messages, the legal clocks, request validation and pre-flight checks.

A case is a conversation (DESIGN.md): every act between the two bodies is a message, and both sides
derive the same state by folding the same messages through `derive`. Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from cybercoop.core.permissions import Permission


class CaseState(models.TextChoices):
    """Where a case stands. Drafts live only on the requesting node; the rest follow from messages."""

    DRAFT = "draft", _("Draft")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    DISCARDED = "discarded", _("Discarded")
    SENT = "sent", _("Sent, awaiting registration")
    IN_EXECUTION = "in_execution", _("In execution")
    AWAITING_INFORMATION = "awaiting_information", _("Awaiting additional information")
    AWAITING_CONDITIONS_REPLY = "awaiting_conditions_reply", _("Awaiting a reply to proposed conditions")
    EXECUTED = "executed", _("Executed")
    REFUSED = "refused", _("Refused")


DRAFT_STATES = frozenset({CaseState.DRAFT, CaseState.AWAITING_APPROVAL})
OPEN_STATES = frozenset({CaseState.IN_EXECUTION, CaseState.AWAITING_INFORMATION, CaseState.AWAITING_CONDITIONS_REPLY})
CLOSED_STATES = frozenset({CaseState.EXECUTED, CaseState.REFUSED, CaseState.DISCARDED})
SENT_STATES = frozenset({CaseState.SENT}) | OPEN_STATES | {CaseState.EXECUTED, CaseState.REFUSED}


class Scope(models.TextChoices):
    """P3.1: what cooperation under the Protocol covers; every request names one."""

    INFORMATION_SPACE = "information_space", _("Protection of the information space from destructive influence")
    PROHIBITED_INTERNET_USE = (
        "prohibited_internet_use",
        _("Use of the national Internet segment for purposes prohibited by law"),
    )
    CONSTITUTIONAL_ORDER = "constitutional_order", _("IT crime against the constitutional order or state security")
    PEACE_AND_SECURITY = "peace_and_security", _("IT crime against the peace and security of mankind")
    IT_CRIME = "it_crime", _("Crime in the field of information technologies")


class AssistanceKind(models.TextChoices):
    """P5.2: what a request asks the requested body to carry out."""

    OPERATIONAL_SEARCH = "operational_search", _("Operational-search measures")
    PROCEDURAL_ACTIONS = "procedural_actions", _("Procedural actions")


class Side(StrEnum):
    REQUESTING = "requesting"
    REQUESTED = "requested"


class Kind(StrEnum):
    """Every message of the workflow, as it travels (EXCHANGE.md)."""

    REQUEST = "assistance.request"
    URGENT_CONFIRMATION = "assistance.urgent_confirmation"
    RECEIPT = "assistance.receipt"
    FORWARD = "assistance.forward"
    DELAY = "assistance.delay"
    INFO_REQUEST = "assistance.info_request"
    INFO_REPLY = "assistance.info_reply"
    POSTPONEMENT = "assistance.postponement"
    CONDITIONS = "assistance.conditions"
    CONDITIONS_REPLY = "assistance.conditions_reply"
    PARTICIPATION_REQUEST = "assistance.participation_request"
    PARTICIPATION = "assistance.participation"
    REFUSAL = "assistance.refusal"
    RESULTS = "assistance.results"
    CONSENT_REQUEST = "assistance.consent_request"
    CONSENT_REPLY = "assistance.consent_reply"
    MARKING = "assistance.marking"


@dataclass(frozen=True)
class Transition:
    """One line of the state machine: when a message may be sent, by which side, and what it does."""

    kind: Kind
    side: Side
    from_states: frozenset[str]
    to_state: str | None  # None: the state does not change
    permission: Permission
    rules: tuple[str, ...]
    label: Promise


# The state machine, in one place. Every transition cites the rules it applies.
TRANSITIONS: dict[Kind, Transition] = {
    t.kind: t
    for t in (
        Transition(
            Kind.REQUEST,
            Side.REQUESTING,
            DRAFT_STATES,
            CaseState.SENT,
            Permission.APPROVE_REQUEST,
            ("P6.1", "P6.2", "P6.3", "P6.5"),
            _("Approve and send"),
        ),
        Transition(
            Kind.URGENT_CONFIRMATION,
            Side.REQUESTING,
            SENT_STATES - {CaseState.EXECUTED, CaseState.REFUSED},
            None,
            Permission.APPROVE_REQUEST,
            ("P6.4", "P6.5"),
            _("Confirm the urgent request in writing"),
        ),
        Transition(
            Kind.RECEIPT,
            Side.REQUESTED,
            frozenset({CaseState.SENT}),
            CaseState.IN_EXECUTION,
            Permission.WORK_ON_CASE,
            ("P7.2",),
            _("Register receipt"),
        ),
        Transition(
            Kind.FORWARD,
            Side.REQUESTED,
            frozenset({CaseState.IN_EXECUTION}),
            None,
            Permission.WORK_ON_CASE,
            ("P7.4",),
            _("Forward to the competent body"),
        ),
        Transition(
            Kind.DELAY,
            Side.REQUESTED,
            OPEN_STATES,
            None,
            Permission.WORK_ON_CASE,
            ("P7.3",),
            _("Notify a delay or obstacle"),
        ),
        Transition(
            Kind.INFO_REQUEST,
            Side.REQUESTED,
            frozenset({CaseState.IN_EXECUTION}),
            CaseState.AWAITING_INFORMATION,
            Permission.WORK_ON_CASE,
            ("P7.5",),
            _("Ask for additional information"),
        ),
        Transition(
            Kind.INFO_REPLY,
            Side.REQUESTING,
            frozenset({CaseState.AWAITING_INFORMATION}),
            CaseState.IN_EXECUTION,
            Permission.WORK_ON_CASE,
            ("P7.5",),
            _("Provide the additional information"),
        ),
        Transition(
            Kind.POSTPONEMENT,
            Side.REQUESTED,
            frozenset({CaseState.IN_EXECUTION}),
            None,
            Permission.WORK_ON_CASE,
            ("P7.6",),
            _("Postpone execution"),
        ),
        Transition(
            Kind.CONDITIONS,
            Side.REQUESTED,
            frozenset({CaseState.IN_EXECUTION}),
            CaseState.AWAITING_CONDITIONS_REPLY,
            Permission.WORK_ON_CASE,
            ("P7.6",),
            _("Propose conditions"),
        ),
        Transition(
            Kind.CONDITIONS_REPLY,
            Side.REQUESTING,
            frozenset({CaseState.AWAITING_CONDITIONS_REPLY}),
            CaseState.IN_EXECUTION,
            Permission.WORK_ON_CASE,
            ("P7.7",),
            _("Accept or decline the conditions"),
        ),
        Transition(
            Kind.PARTICIPATION_REQUEST,
            Side.REQUESTING,
            frozenset({CaseState.SENT}) | OPEN_STATES,
            None,
            Permission.WORK_ON_CASE,
            ("P8",),
            _("Ask for representatives to take part"),
        ),
        Transition(
            Kind.PARTICIPATION,
            Side.REQUESTED,
            OPEN_STATES,
            None,
            Permission.WORK_ON_CASE,
            ("P8",),
            _("Decide on participation of representatives"),
        ),
        Transition(
            Kind.REFUSAL,
            Side.REQUESTED,
            OPEN_STATES,
            None,  # a full refusal closes the case (see `derive`); a partial one does not
            Permission.REFUSE_REQUEST,
            ("P9.1", "P9.2"),
            _("Refuse in full or in part"),
        ),
        Transition(
            Kind.RESULTS,
            Side.REQUESTED,
            frozenset({CaseState.IN_EXECUTION}),
            CaseState.EXECUTED,
            Permission.WORK_ON_CASE,
            ("P7.8", "P12"),
            _("Send the results"),
        ),
        # P10.2: information received is used in another case, exported or passed to another body only with the
        # consent of the body that provided it. Asked and answered in the case's conversation, in any state once
        # the request was sent, without changing it. The answer binds the providing body: its head or a deputy
        # gives it (REFUSE_REQUEST, the permission of the requested body's signatories, P9.2).
        Transition(
            Kind.CONSENT_REQUEST,
            Side.REQUESTING,
            SENT_STATES,
            None,
            Permission.WORK_ON_CASE,
            ("P10.2",),
            _("Ask consent to use information received"),
        ),
        Transition(
            Kind.CONSENT_REPLY,
            Side.REQUESTED,
            SENT_STATES,
            None,
            Permission.REFUSE_REQUEST,
            ("P10.2",),
            _("Answer a request for consent"),
        ),
        # P10.1: the requesting body set the request's marking; it may raise it (whoever works on the case) or
        # lower it (only its head or a deputy: `safeguards.rules.may_change_marking`), in any state once sent.
        Transition(
            Kind.MARKING,
            Side.REQUESTING,
            SENT_STATES,
            None,
            Permission.WORK_ON_CASE,
            ("P10.1",),
            _("Change the marking"),
        ),
    )
}


# --- the fold ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFacts:
    """What the fold needs of a message."""

    id: str
    kind: str
    sender: str  # body code
    recipient: str
    created_at: dt.datetime
    body: Mapping[str, Any]


@dataclass(frozen=True)
class CaseContext:
    """The numbers and places the clocks depend on (from the instrument and the registry)."""

    requesting_body: str
    requested_body: str
    execution_term_days: int  # P7.2, or the term the request asks for
    forward_term_days: int  # P7.4
    urgent_confirmation_hours: int  # P6.4
    zones: Mapping[str, str]  # body code -> IANA time zone


class ClockKind(models.TextChoices):
    EXECUTION = "execution", _("Execution")
    FORWARD = "forward", _("Forwarding")
    URGENT_CONFIRMATION = "urgent_confirmation", _("Written confirmation of an urgent request")
    POSTPONEMENT = "postponement", _("Postponed execution")


class ClockStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    MET = "met", _("Met")
    SUPERSEDED = "superseded", _("Superseded")
    CANCELLED = "cancelled", _("No longer needed")


# A forwarding window closes quietly; the other clocks are obligations that become overdue.
OBLIGATORY_CLOCKS = frozenset({ClockKind.EXECUTION, ClockKind.URGENT_CONFIRMATION, ClockKind.POSTPONEMENT})
CLOCK_RULES = {
    ClockKind.EXECUTION: "P7.2",
    ClockKind.FORWARD: "P7.4",
    ClockKind.URGENT_CONFIRMATION: "P6.4",
    ClockKind.POSTPONEMENT: "P7.6",
}


@dataclass(frozen=True)
class ClockSpec:
    """A legal clock: what started it, the inputs, the computed due instant, and how it ended."""

    kind: str
    rule_id: str
    started_by: str  # message id
    started_at: dt.datetime
    term: int
    unit: str  # "days", "hours" or "date" (a postponement's new date)
    zone: str
    due_at: dt.datetime
    acting_body: str
    status: str = ClockStatus.RUNNING
    closed_by: str | None = None
    closed_at: dt.datetime | None = None
    until: dt.date | None = None  # postponements: the new date

    def is_overdue(self, now: dt.datetime) -> bool:
        return self.status == ClockStatus.RUNNING and self.kind in OBLIGATORY_CLOCKS and now >= self.due_at


def due_after_days(start: dt.datetime, days: int, zone: str) -> dt.datetime:
    """A term in days starts the day after the event and ends at 24:00 of its last day, in the acting body's
    time zone (PROTOCOL.md, "Counting terms"): receipt on 14 November, 30 days → 24:00 on 14 December."""
    tz = zoneinfo.ZoneInfo(zone)
    last_day = start.astimezone(tz).date() + dt.timedelta(days=days)
    return end_of_day(last_day, zone)


def end_of_day(day: dt.date, zone: str) -> dt.datetime:
    """24:00 of `day` in `zone`, as a UTC instant."""
    tz = zoneinfo.ZoneInfo(zone)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def due_after_hours(start: dt.datetime, hours: int) -> dt.datetime:
    """P6.4: «үш тәулік», three 24-hour periods, from the moment of transmission."""
    return (start + dt.timedelta(hours=hours)).astimezone(dt.UTC)


class ConsentUse(models.TextChoices):
    """P10.2: what a consent is asked for: information received, used beyond the case it came in."""

    CASE = "case", _("Use in another case")
    EXPORT = "export", _("Export")
    TRANSFER = "transfer", _("Pass to another body")


class ConsentStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting an answer")
    GRANTED = "granted", _("Granted")
    REFUSED = "refused", _("Refused")


CONSENT_TARGET_MAX = 300
CONSENT_PURPOSE_MAX = 1000


@dataclass(frozen=True)
class Consent:
    """P10.2: a request for consent to use a file the other body provided, and its answer once given."""

    request: str  # the consent request's message id
    attachment: str  # SHA-256 of the file
    name: str
    use: str
    target: str  # the other case's number, or the body it would go to
    purpose: str
    requested_at: dt.datetime
    status: str = ConsentStatus.PENDING
    conditions: tuple[str, ...] = ()
    reason: str = ""
    decided_at: dt.datetime | None = None

    @property
    def use_label(self) -> str:
        return str(ConsentUse(self.use).label) if self.use in ConsentUse.values else self.use

    @property
    def status_label(self) -> str:
        return str(ConsentStatus(self.status).label)


def same_target(a: str, b: str) -> bool:
    """A consent's target and a case's number name the same thing: compared trimmed, case-insensitive."""
    return bool(a.strip()) and a.strip().casefold() == b.strip().casefold()


def consent_for(consents: Iterable[Consent], *, attachment: str, use: str, targets: Iterable[str]) -> Consent | None:
    """P10.2: the consent that decides a use of a file: a granted one if any; else the one still awaited; else the
    latest refusal; None when none was asked for that file, use and target."""
    names = [t for t in targets if t.strip()]
    matching = [
        c
        for c in consents
        if c.attachment == attachment and c.use == use and any(same_target(c.target, n) for n in names)
    ]
    for status in (ConsentStatus.GRANTED, ConsentStatus.PENDING, ConsentStatus.REFUSED):
        found = [c for c in matching if c.status == status]
        if found:
            return found[-1]
    return None


@dataclass(frozen=True)
class Derived:
    """Everything about a case that follows from its messages."""

    state: str
    handling_body: str
    urgent: bool = False
    urgent_confirmed_at: dt.datetime | None = None
    received_at: dt.datetime | None = None
    incoming_number: str = ""  # the handling body's registration number, as its latest receipt gave it (P7.2)
    closed_at: dt.datetime | None = None
    postponed_until: dt.date | None = None
    partially_refused: bool = False
    conditions_proposed: tuple[str, ...] = ()
    conditions_accepted: tuple[str, ...] = ()
    participation_pending: bool = False
    forwarded_from: tuple[str, ...] = ()
    clocks: tuple[ClockSpec, ...] = field(default_factory=tuple)
    consents: tuple[Consent, ...] = ()  # P10.2, in the order asked
    marking: str | None = None  # P10.1: the last marking the requesting body set after sending, if it changed it

    @property
    def pending_consents(self) -> tuple[Consent, ...]:
        return tuple(c for c in self.consents if c.status == ConsentStatus.PENDING)

    def consent(self, request: str) -> Consent | None:
        return next((c for c in self.consents if c.request == request), None)

    @property
    def next_due_at(self) -> dt.datetime | None:
        """The nearest running obligation's due instant (None when nothing is owed): stored on the case so the
        lists can filter and count overdue and due-soon cases without joining the clocks."""
        return min(
            (c.due_at for c in self.clocks if c.status == ClockStatus.RUNNING and c.kind in OBLIGATORY_CLOCKS),
            default=None,
        )


def _close_clocks(clocks: list[ClockSpec], message: MessageFacts, kinds: Iterable[str], status: str) -> None:
    kinds = set(kinds)
    for index, clock in enumerate(clocks):
        if clock.status == ClockStatus.RUNNING and clock.kind in kinds:
            clocks[index] = replace(clock, status=status, closed_by=message.id, closed_at=message.created_at)


def derive(messages: Sequence[MessageFacts], context: CaseContext, draft_state: str = CaseState.DRAFT) -> Derived:
    """Fold a case's messages, in the order this node applied them, into its state and clocks."""
    state = draft_state
    handling = context.requested_body
    urgent = False
    values: dict[str, Any] = {}
    clocks: list[ClockSpec] = []
    forwarded_from: list[str] = []
    consents: dict[str, Consent] = {}
    for message in messages:
        try:
            kind = Kind(message.kind)
        except ValueError:
            continue  # a kind of another domain in the same conversation
        transition = TRANSITIONS[kind]
        if kind == Kind.REQUEST:
            urgent = bool(message.body.get("urgent"))
            if urgent:  # P6.4: confirmed in writing within 72 hours of transmission
                clocks.append(
                    ClockSpec(
                        kind=ClockKind.URGENT_CONFIRMATION,
                        rule_id="P6.4",
                        started_by=message.id,
                        started_at=message.created_at,
                        term=context.urgent_confirmation_hours,
                        unit="hours",
                        zone=context.zones[context.requesting_body],
                        due_at=due_after_hours(message.created_at, context.urgent_confirmation_hours),
                        acting_body=context.requesting_body,
                    )
                )
        elif kind == Kind.URGENT_CONFIRMATION:
            values["urgent_confirmed_at"] = message.created_at
            _close_clocks(clocks, message, {ClockKind.URGENT_CONFIRMATION}, ClockStatus.MET)
        elif kind == Kind.RECEIPT:
            received = _instant(message.body.get("received_at")) or message.created_at
            values["received_at"] = received
            values["incoming_number"] = str(message.body.get("incoming_number") or "")
            zone = context.zones[handling]
            clocks.append(  # P7.2: receipt + 30 days (or the agreed term)
                ClockSpec(
                    kind=ClockKind.EXECUTION,
                    rule_id="P7.2",
                    started_by=message.id,
                    started_at=received,
                    term=context.execution_term_days,
                    unit="days",
                    zone=zone,
                    due_at=due_after_days(received, context.execution_term_days, zone),
                    acting_body=handling,
                )
            )
            clocks.append(  # P7.4: a request outside the body's competence goes on within 3 days of receipt
                ClockSpec(
                    kind=ClockKind.FORWARD,
                    rule_id="P7.4",
                    started_by=message.id,
                    started_at=received,
                    term=context.forward_term_days,
                    unit="days",
                    zone=zone,
                    due_at=due_after_days(received, context.forward_term_days, zone),
                    acting_body=handling,
                )
            )
        elif kind == Kind.FORWARD:
            _close_clocks(clocks, message, {ClockKind.FORWARD}, ClockStatus.MET)
            forwarded_from.append(handling)
            handling = str(message.body["to_body"])
            # The execution term keeps running from the first receipt; the new body now answers for it.
            clocks = [
                replace(c, acting_body=handling)
                if c.status == ClockStatus.RUNNING and c.kind in OBLIGATORY_CLOCKS
                else c
                for c in clocks
            ]
        elif kind == Kind.POSTPONEMENT:
            until = dt.date.fromisoformat(str(message.body["until"]))
            values["postponed_until"] = until
            _close_clocks(clocks, message, {ClockKind.EXECUTION, ClockKind.POSTPONEMENT}, ClockStatus.SUPERSEDED)
            zone = context.zones[handling]
            clocks.append(  # P7.6: execution postponed to a new date
                ClockSpec(
                    kind=ClockKind.POSTPONEMENT,
                    rule_id="P7.6",
                    started_by=message.id,
                    started_at=message.created_at,
                    term=0,
                    unit="date",
                    zone=zone,
                    due_at=end_of_day(until, zone),
                    acting_body=handling,
                    until=until,
                )
            )
        elif kind == Kind.CONDITIONS:
            values["conditions_proposed"] = tuple(str(c) for c in message.body.get("conditions", ()))
        elif kind == Kind.CONDITIONS_REPLY:
            if message.body.get("accepted"):  # P7.7: accepted conditions bind everything the case produces
                values["conditions_accepted"] = tuple(values.get("conditions_accepted", ())) + tuple(
                    values.get("conditions_proposed", ())
                )
            values["conditions_proposed"] = ()
        elif kind == Kind.PARTICIPATION_REQUEST:
            values["participation_pending"] = True
        elif kind == Kind.PARTICIPATION:
            values["participation_pending"] = False
        elif kind == Kind.REFUSAL and message.body.get("partial"):
            values["partially_refused"] = True
        elif kind == Kind.CONSENT_REQUEST:
            consents[message.id] = _consent_asked(message)
        elif kind == Kind.MARKING:
            values["marking"] = str(message.body.get("marking", "")) or None
        elif kind == Kind.CONSENT_REPLY:
            asked = consents.get(str(message.body.get("request", "")))
            if asked is not None and asked.status == ConsentStatus.PENDING:  # P10.2: answered once, never again
                consents[asked.request] = _consent_answered(asked, message)
        if kind == Kind.RESULTS or (kind == Kind.REFUSAL and not message.body.get("partial")):
            state = CaseState.EXECUTED if kind == Kind.RESULTS else CaseState.REFUSED
            values["closed_at"] = message.created_at
            # No clock runs on a closed case: execution is met; anything else is no longer needed.
            _close_clocks(clocks, message, {ClockKind.EXECUTION, ClockKind.POSTPONEMENT}, ClockStatus.MET)
            _close_clocks(clocks, message, {ClockKind.FORWARD, ClockKind.URGENT_CONFIRMATION}, ClockStatus.CANCELLED)
        elif transition.to_state is not None:
            state = transition.to_state
    return Derived(
        state=state,
        handling_body=handling,
        urgent=urgent,
        forwarded_from=tuple(forwarded_from),
        clocks=tuple(clocks),
        consents=tuple(consents.values()),
        **values,
    )


def _consent_asked(message: MessageFacts) -> Consent:
    body = message.body
    return Consent(
        request=message.id,
        attachment=str(body.get("attachment", "")),
        name=str(body.get("name", "")),
        use=str(body.get("use", "")),
        target=str(body.get("target", "")),
        purpose=str(body.get("purpose", "")),
        requested_at=message.created_at,
    )


def _consent_answered(asked: Consent, message: MessageFacts) -> Consent:
    granted = bool(message.body.get("granted"))
    return replace(
        asked,
        status=ConsentStatus.GRANTED if granted else ConsentStatus.REFUSED,
        conditions=tuple(str(c) for c in message.body.get("conditions") or ()) if granted else (),
        reason="" if granted else str(message.body.get("reason", "")),
        decided_at=message.created_at,
    )


def _instant(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- who may do what, now -----------------------------------------------------------------------------------


def allowed_kinds(*, state: str, side: Side, derived: Derived) -> list[Kind]:
    """The messages `side` may send in `state` (before permissions): what the case page offers."""
    result = []
    for kind, transition in TRANSITIONS.items():
        if transition.side != side or state not in transition.from_states:
            continue
        if kind == Kind.URGENT_CONFIRMATION and (not derived.urgent or derived.urgent_confirmed_at is not None):
            continue
        if kind == Kind.PARTICIPATION_REQUEST and derived.participation_pending:
            continue
        if kind == Kind.PARTICIPATION and not derived.participation_pending:
            continue
        if kind == Kind.FORWARD and derived.forwarded_from:
            continue  # forwarded once already: the competent body now has it
        if kind == Kind.CONSENT_REPLY and not derived.pending_consents:
            continue
        result.append(kind)
    return result


def refusal_reason(*, kind: Kind, state: str, side: Side | None, derived: Derived) -> str | Promise | None:
    """Why `side` may not send `kind` now (None if it may): the message the user and the API see."""
    transition = TRANSITIONS[kind]
    if side is None:
        return _("Only the two bodies of a case act on it.")
    if transition.side != side:
        return (
            _("Only the requesting body may do this.")
            if transition.side == Side.REQUESTING
            else _("Only the requested body may do this.")
        )
    if kind == Kind.CONSENT_REPLY and state in transition.from_states and not derived.pending_consents:
        return _("No request for consent is awaiting an answer in this case.")
    if kind not in allowed_kinds(state=state, side=side, derived=derived):
        return _("This action is not possible while the case is “%(state)s”.") % {
            "state": CaseState(state).label if state in CaseState.values else state
        }
    return None


# --- the request's content (P6.2) and the pre-flight check ----------------------------------------------------

MIN_DESCRIPTION = 30


@dataclass(frozen=True)
class RequestFacts:
    """A request's fields as the checks see them."""

    subject: str
    scope: str
    purpose: str
    grounds: str
    substance: str
    assistance_kinds: tuple[str, ...]
    assistance_sought: str
    identifiers: str
    execution_term_days: int | None
    other_information: str
    urgent: bool
    dual_criminality_confirmed: bool
    offence: str
    annex_language: str


def check_request(facts: RequestFacts) -> dict[str, Promise]:
    """P6.2: the fields a request must state, field by field; empty when it may be sent."""
    errors: dict[str, Promise] = {}
    required: dict[str, Promise] = {
        "subject": _("Give the request a short subject."),
        "purpose": _("State the purpose of the request (P6.2)."),
        "grounds": _("State the grounds of the request (P6.2)."),
        "substance": _("Describe the substance of the matter (P6.2)."),
        "assistance_sought": _("Describe the assistance sought (P6.2)."),
    }
    for name, message in required.items():
        if not str(getattr(facts, name)).strip():
            errors[name] = message
    if facts.scope not in Scope.values:  # P3.1
        errors["scope"] = _("Choose what the request concerns from the list of Article 3 (P3.1).")
    if not facts.assistance_kinds or any(k not in AssistanceKind.values for k in facts.assistance_kinds):
        errors["assistance_kinds"] = _("Choose operational-search measures, procedural actions or both (P5.2).")
    if facts.execution_term_days is not None and not 1 <= facts.execution_term_days <= 365:
        errors["execution_term_days"] = _("An agreed term is from 1 to 365 days.")
    return errors


@dataclass(frozen=True)
class ProfileFacts:
    """What the requested Party requires of an incoming request (registry's Party profile)."""

    accepted_languages: tuple[str, ...]
    signature_required: bool
    dual_criminality_required: bool
    evidence_use_limits: str
    working_days: tuple[int, ...]
    opens: dt.time
    closes: dt.time
    zone: str
    contact: str
    accepted_language_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Warning:
    code: str
    message: str


def preflight(
    *, request: RequestFacts, profile: ProfileFacts | None, legal_basis_ok: bool, now: dt.datetime
) -> list[Warning]:
    """What would make the request fail, said before it is sent: the requested Party's profile and the
    common reasons requests come back (no legal basis, no identifiers, assistance not described)."""
    warnings: list[Warning] = []

    def warn(code: str, message: Any) -> None:
        warnings.append(Warning(code, str(message)))

    if not legal_basis_ok:
        warn("legal_basis", _("The legal basis is not in force between the two Parties today (P16.2)."))
    if not request.identifiers.strip():
        warn(
            "identifiers",
            _(
                "No identifiers of the data or persons sought (accounts, IP addresses, URLs, names): requests "
                "without them are the most often returned."
            ),
        )
    if len(request.assistance_sought.strip()) < MIN_DESCRIPTION:
        warn("assistance", _("The assistance sought is described in very few words; say exactly what is to be done."))
    if profile is None:
        return warnings
    if request.annex_language and request.annex_language not in profile.accepted_languages:
        warn(
            "language",
            _("The requested Party does not accept an annex in this language; besides Russian it accepts: %(others)s.")
            % {"others": ", ".join(profile.accepted_language_names) or "—"},
        )
    if profile.signature_required:
        warn(
            "signature",
            _("The requested Party requires the request signed by the head of the body or a deputy (P6.5)."),
        )
    if profile.dual_criminality_required and not (request.dual_criminality_confirmed and request.offence.strip()):
        warn(
            "dual_criminality",
            _(
                "The requested Party requires dual criminality: name the offence and confirm the act is a crime "
                "under the law of both Parties."
            ),
        )
    if profile.evidence_use_limits.strip():
        warn(
            "evidence_limits", _("Limits on the use of evidence: %(limits)s") % {"limits": profile.evidence_use_limits}
        )
    if request.urgent:
        local = now.astimezone(zoneinfo.ZoneInfo(profile.zone))
        open_now = local.isoweekday() in profile.working_days and profile.opens <= local.time() < profile.closes
        if not open_now:
            warn(
                "office_hours",
                _("It is outside the requested body's office hours: also alert its 24/7 contact point (%(contact)s).")
                % {"contact": profile.contact or "—"},
            )
    return warnings
