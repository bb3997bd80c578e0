"""Kinds and checks of the registry, without the database."""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
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


# P13: Russian is always accepted; these are the other languages a Party may accept in requests.
PROFILE_LANGUAGE_LABELS: dict[str, Promise] = {
    "kk": _("Kazakh"),
    "en": _("English"),
    "hy": _("Armenian"),
    "be": _("Belarusian"),
    "ky": _("Kyrgyz"),
    "tg": _("Tajik"),
}
WEEKDAY_LABELS: dict[int, Promise] = {
    1: _("Monday"),
    2: _("Tuesday"),
    3: _("Wednesday"),
    4: _("Thursday"),
    5: _("Friday"),
    6: _("Saturday"),
    7: _("Sunday"),
}


def is_time_zone(name: str) -> bool:
    """True for an IANA time zone name (Asia/Almaty, Europe/Moscow …)."""
    return name in zoneinfo.available_timezones()


# --- instruments: signature, entry into force, withdrawal (P14–P18) ----------------------------------


class InstrumentKind(models.TextChoices):
    """What an instrument is (P14, R4); an amending protocol links to the instrument it amends (P15)."""

    MULTILATERAL = "multilateral", _("Multilateral treaty")
    BILATERAL = "bilateral", _("Bilateral agreement")
    AMENDMENT = "amendment", _("Amending protocol")


class EventKind(models.TextChoices):
    """What the depositary records for a Party: the facts the in-force rules stand on."""

    SIGNED = "signed", _("Signed")
    NOTIFIED = "notified", _("Domestic procedures notified")
    WITHDRAWAL_NOTIFIED = "withdrawal_notified", _("Withdrawal notified")


class PartyStatus(models.TextChoices):
    """A Party's standing under an instrument on a given date."""

    NOT_PARTY = "not_party", _("Not a party")
    SIGNED = "signed", _("Signed")
    NOTIFIED = "notified", _("Notified, awaiting entry into force")
    IN_FORCE = "in_force", _("In force")
    WITHDRAWAL_PENDING = "withdrawal_pending", _("In force, withdrawal pending")
    WITHDRAWN = "withdrawn", _("Withdrawn")


IN_FORCE_STATUSES = frozenset({PartyStatus.IN_FORCE, PartyStatus.WITHDRAWAL_PENDING})


@dataclass(frozen=True)
class TreatyEvent:
    """One recorded fact: a Party's signature, notification or withdrawal notice, with its dates."""

    party: str
    kind: str
    on: dt.date
    effective_on: dt.date | None = None  # withdrawals only


@dataclass(frozen=True)
class InstrumentFacts:
    """What the in-force rules need to know about an instrument (and, for an amendment, its base)."""

    notifications_required: int
    events: tuple[TreatyEvent, ...]
    base: InstrumentFacts | None = None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same date `months` later; the month's last day where it has no such date (counting terms)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def earliest_withdrawal(received_on: dt.date, notice_months: int) -> dt.date:
    """P18: a withdrawal takes effect no earlier than `notice_months` after the notice's receipt."""
    return add_months(received_on, notice_months)


def _first(events: tuple[TreatyEvent, ...], party: str, kind: str) -> TreatyEvent | None:
    matching = [e for e in events if e.party == party and e.kind == kind]
    return min(matching, key=lambda e: e.on) if matching else None


def entry_into_force(facts: InstrumentFacts) -> dt.date | None:
    """P16.1: the day the depositary receives the n-th notification of completed domestic procedures.

    Notifications on the same day count together, so order of filing never matters.
    """
    dates = sorted(e.on for e in facts.events if e.kind == EventKind.NOTIFIED)
    if len(dates) < facts.notifications_required:
        return None
    return dates[facts.notifications_required - 1]


def in_force_since(facts: InstrumentFacts, party: str) -> dt.date | None:
    """P16.1, P16.2: from entry into force for the first notifiers, from its own notification for later ones."""
    notified = _first(facts.events, party, EventKind.NOTIFIED)
    start = entry_into_force(facts)
    if notified is None or start is None:
        return None
    return max(start, notified.on)


def withdrawal_effective_on(facts: InstrumentFacts, party: str) -> dt.date | None:
    """P18: the date a Party's withdrawal takes effect, if it has given notice."""
    notice = _first(facts.events, party, EventKind.WITHDRAWAL_NOTIFIED)
    return notice.effective_on if notice is not None else None


def in_force_for(facts: InstrumentFacts, party: str, on: dt.date) -> bool:
    """True if the instrument binds `party` on `on` (P16.1, P16.2, P18); an amendment also needs its base (P15)."""
    since = in_force_since(facts, party)
    if since is None or on < since:
        return False
    until = withdrawal_effective_on(facts, party)
    if until is not None and on >= until:
        return False
    return facts.base is None or in_force_for(facts.base, party, on)


def in_force_between(facts: InstrumentFacts, party_a: str, party_b: str, on: dt.date) -> bool:
    """The question every request asks first: does the instrument bind both Parties on that date (P16.2)?"""
    return party_a != party_b and in_force_for(facts, party_a, on) and in_force_for(facts, party_b, on)


def party_status(facts: InstrumentFacts, party: str, on: dt.date) -> PartyStatus:
    """A Party's standing on `on`, for the status tables."""
    until = withdrawal_effective_on(facts, party)
    if until is not None and on >= until:
        return PartyStatus.WITHDRAWN
    if in_force_for(facts, party, on):
        return PartyStatus.WITHDRAWAL_PENDING if until is not None else PartyStatus.IN_FORCE
    notified = _first(facts.events, party, EventKind.NOTIFIED)
    if notified is not None and notified.on <= on:
        return PartyStatus.NOTIFIED
    signed = _first(facts.events, party, EventKind.SIGNED)
    if signed is not None and signed.on <= on:
        return PartyStatus.SIGNED
    return PartyStatus.NOT_PARTY


def check_event(
    *, facts: InstrumentFacts, event: TreatyEvent, adopted_on: dt.date, today: dt.date, notice_months: int
) -> dict[str, str | Promise]:
    """Field-by-field reasons a new event cannot be recorded; empty when it can. History is never rewritten."""
    errors: dict[str, str | Promise] = {}
    if event.on > today:
        errors["on"] = _("The depositary cannot have received it after today.")
    elif event.on < adopted_on:
        errors["on"] = _("This date is before the instrument was adopted for signature.")
    signed = _first(facts.events, event.party, EventKind.SIGNED)
    notified = _first(facts.events, event.party, EventKind.NOTIFIED)
    withdrawal = _first(facts.events, event.party, EventKind.WITHDRAWAL_NOTIFIED)
    if event.kind == EventKind.SIGNED:
        if signed is not None:
            errors["party"] = _("This Party's signature is already recorded.")
    elif event.kind == EventKind.NOTIFIED:
        if notified is not None:
            errors["party"] = _("This Party's notification is already recorded; a Party notifies once (P16.1).")
        elif signed is None:
            errors["party"] = _("This Party has not signed the instrument, so it cannot notify its ratification.")
        elif "on" not in errors and event.on < signed.on:
            errors["on"] = _("The notification cannot be received before the Party signed.")
    elif event.kind == EventKind.WITHDRAWAL_NOTIFIED:
        if notified is None:
            errors["party"] = _("This Party never joined the instrument, so it cannot withdraw from it.")
        elif withdrawal is not None:
            errors["party"] = _("This Party's withdrawal is already recorded.")
        elif "on" not in errors and event.on < notified.on:
            errors["on"] = _("The withdrawal notice cannot be received before the Party's own notification.")
        if event.effective_on is None:
            errors["effective_on"] = _("Give the date the withdrawal takes effect.")
        else:
            earliest = earliest_withdrawal(event.on, notice_months)
            if event.effective_on < earliest:
                errors["effective_on"] = _(
                    "A withdrawal takes effect no earlier than %(months)d months after the notice is received: "
                    "on %(date)s at the earliest (P18)."
                ) % {"months": notice_months, "date": earliest.isoformat()}
    else:
        errors["kind"] = _("Unknown kind of event.")
    return errors


# --- designations of competent bodies (P4.2) ----------------------------------------------------------


class DesignationKind(models.TextChoices):
    """What a Party notifies about its authorised competent bodies (P4.2)."""

    DESIGNATED = "designated", _("Designation")
    CHANGED = "changed", _("Change of body")
    WITHDRAWN = "withdrawn", _("Withdrawal of designation")


@dataclass(frozen=True)
class DesignationFact:
    """One filed notice: a body designated or withdrawn, or replaced by another, from a date."""

    kind: str
    body: str
    effective_on: dt.date
    replaces: str | None = None


def designated_on(facts: tuple[DesignationFact, ...], on: dt.date) -> frozenset[str]:
    """The bodies designated on `on`, replaying the notices in order of effect (P4.2)."""
    current: set[str] = set()
    for fact in sorted(facts, key=lambda f: f.effective_on):
        if fact.effective_on > on:
            break
        if fact.kind == DesignationKind.DESIGNATED:
            current.add(fact.body)
        elif fact.kind == DesignationKind.WITHDRAWN:
            current.discard(fact.body)
        elif fact.kind == DesignationKind.CHANGED:
            current.discard(fact.replaces or "")
            current.add(fact.body)
    return frozenset(current)


def check_designation(
    *, facts: tuple[DesignationFact, ...], fact: DesignationFact, earliest: dt.date
) -> dict[str, str | Promise]:
    """Reasons a designation notice cannot be filed; history is appended to, never rewritten."""
    errors: dict[str, str | Promise] = {}
    latest = max((f.effective_on for f in facts), default=None)
    if fact.effective_on < earliest:
        errors["effective_on"] = _("This date is before the instrument was adopted for signature.")
    elif latest is not None and fact.effective_on < latest:
        errors["effective_on"] = _(
            "A later notice (effective %(date)s) is already filed; a new notice cannot take effect before it."
        ) % {"date": latest.isoformat()}
    current = designated_on(facts, fact.effective_on)
    if fact.kind == DesignationKind.DESIGNATED and fact.body in current:
        errors["body"] = _("This body is already designated on that date.")
    elif fact.kind == DesignationKind.WITHDRAWN and fact.body not in current:
        errors["body"] = _("This body is not designated on that date, so its designation cannot be withdrawn.")
    elif fact.kind == DesignationKind.CHANGED:
        if not fact.replaces or fact.replaces not in current:
            errors["replaces"] = _("Choose the designated body this one replaces.")
        if fact.body in current:
            errors["body"] = _("This body is already designated on that date.")
        elif fact.replaces == fact.body:
            errors["body"] = _("A body cannot replace itself.")
    return errors
