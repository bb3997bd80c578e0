"""Reads of the registry: Parties, bodies, instruments and their status, designations, announcements."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, Prefetch, QuerySet

from cybercoop.accounts.rules import Role
from cybercoop.core import clock
from cybercoop.registry import rules
from cybercoop.registry.models import (
    Acknowledgement,
    Body,
    CertifiedCopy,
    DesignationNotice,
    DirectoryCopy,
    Instrument,
    InstrumentEvent,
    Node,
    Party,
    PartyProfile,
)

PROTOCOL_CODE = "csto-2014-information-sphere"


def depositary_today() -> dt.date:
    """Today's date in the depositary's calendar (treaty dates are the Secretariat's dates)."""
    return clock.now().astimezone(zoneinfo.ZoneInfo(settings.DEPOSITARY_TIME_ZONE)).date()


def parties(*, states_only: bool = False) -> QuerySet[Party]:
    """All Parties (and the CSTO as an organisation unless `states_only`), by Russian name."""
    result = Party.objects.order_by("name_ru")
    return result.filter(kind=rules.PartyKind.STATE) if states_only else result


def get_party(*, code: str) -> Party | None:
    """A Party by code (case-insensitive), or None."""
    return Party.objects.filter(code__iexact=code.strip()).first()


def bodies(*, party_code: str | None = None) -> QuerySet[Body]:
    """All competent bodies with their Party, optionally of one Party."""
    result = Body.objects.select_related("party").order_by("party__name_ru", "name_ru")
    if party_code:
        result = result.filter(party__code=party_code)
    return result


def get_body(*, code: str) -> Body | None:
    """A body by code, or None."""
    return Body.objects.select_related("party").filter(code=code).first()


# --- nodes and the directory (EXCHANGE.md, Directory) ------------------------------------------------


def nodes(*, include_withdrawn: bool = False) -> QuerySet[Node]:
    """The federation's nodes by code; those the Secretariat withdrew only when asked for."""
    result = Node.objects.order_by("code")
    return result if include_withdrawn else result.filter(withdrawn_at__isnull=True)


def get_node(code: str) -> Node | None:
    """The node with this code, or None, also when it was withdrawn: a withdrawn node's keys are no longer
    trusted, so nothing may be accepted from it or sent to it."""
    return Node.objects.filter(code=code, withdrawn_at__isnull=True).first()


def node_of(body: Body) -> Node | None:
    """The node that serves `body`, as the directory says. None means no node is named: on a single-node
    deployment (no CYBERCOOP_NODE_ID) every body is served right here; on a federated node such a body is
    served by no node known here, and nothing can be sent to it."""
    if body.node_id is None:
        return None
    return body.node


def latest_directory() -> DirectoryCopy | None:
    """The newest directory held: the last published on the Secretariat's node, the last good one elsewhere."""
    return DirectoryCopy.objects.order_by("-version").first()


# --- instruments ------------------------------------------------------------------------------------


def instruments() -> QuerySet[Instrument]:
    """Every instrument with its records, and an amendment's base with its records (P15), in a few queries."""
    events = InstrumentEvent.objects.select_related("party")
    return Instrument.objects.select_related("amends").prefetch_related(
        Prefetch("events", queryset=events), Prefetch("amends__events", queryset=events)
    )


def rules_stamp() -> tuple[int, ...]:
    """A stamp that changes whenever an answer of `in_force_between` or `is_designated` may change: the newest
    instrument, depositary record, designation notice and mirrored directory version (all of them are only ever
    added, never edited, where these rules read them). One query, for callers that keep those answers."""
    # The table names come from the models' metadata, never from input.
    tables = [model._meta.db_table for model in (Instrument, InstrumentEvent, DesignationNotice)]
    parts = [f"(SELECT COALESCE(MAX(id), 0) FROM {table})" for table in tables]  # noqa: S608
    parts.append(f"(SELECT COALESCE(MAX(version), 0) FROM {DirectoryCopy._meta.db_table})")  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        row = cursor.fetchone()
    return tuple(int(value) for value in row)


def get_instrument(*, code: str) -> Instrument | None:
    """An instrument by code, or None."""
    return instruments().filter(code=code).first()


def protocol() -> Instrument | None:
    """The Protocol itself, if registered."""
    return get_instrument(code=PROTOCOL_CODE)


def facts(instrument: Instrument) -> rules.InstrumentFacts:
    """What the in-force rules need: the records, and the base's facts for an amendment (P15)."""
    return rules.InstrumentFacts(
        notifications_required=instrument.notifications_required,
        events=tuple(event.fact() for event in instrument.events.all()),
        base=facts(instrument.amends) if instrument.amends is not None else None,
    )


def in_force_between(*, instrument: Instrument, party_a: Party, party_b: Party, on: dt.date) -> bool:
    """Is `instrument` in force between the two Parties on `on`? (P16.1, P16.2, P18; every later feature asks.)"""
    return rules.in_force_between(facts(instrument), party_a.code, party_b.code, on)


def instruments_in_force_between(*, party_a: Party, party_b: Party, on: dt.date) -> list[Instrument]:
    """Every instrument that could be a request's legal basis between the two Parties on `on` (P14)."""
    return [i for i in instruments() if in_force_between(instrument=i, party_a=party_a, party_b=party_b, on=on)]


@dataclass(frozen=True)
class PartyRow:
    """One line of an instrument's status table."""

    party: Party
    status: rules.PartyStatus
    signed_on: dt.date | None
    notified_on: dt.date | None
    in_force_since: dt.date | None
    withdrawal_notified_on: dt.date | None
    withdrawal_effective_on: dt.date | None


def status_table(*, instrument: Instrument, on: dt.date) -> list[PartyRow]:
    """Every state Party's standing under `instrument` on `on`, computed from the records (P16.1, P16.2, P18)."""
    instrument_facts = facts(instrument)
    by_party: dict[str, dict[str, InstrumentEvent]] = {}
    for event in instrument.events.all():
        by_party.setdefault(event.party.code, {})[event.kind] = event
    rows = []
    for party in parties(states_only=True):
        events = by_party.get(party.code, {})
        withdrawal = events.get(rules.EventKind.WITHDRAWAL_NOTIFIED)
        rows.append(
            PartyRow(
                party=party,
                status=rules.party_status(instrument_facts, party.code, on),
                signed_on=events[rules.EventKind.SIGNED].on if rules.EventKind.SIGNED in events else None,
                notified_on=events[rules.EventKind.NOTIFIED].on if rules.EventKind.NOTIFIED in events else None,
                in_force_since=rules.in_force_since(instrument_facts, party.code),
                withdrawal_notified_on=withdrawal.on if withdrawal else None,
                withdrawal_effective_on=withdrawal.effective_on if withdrawal else None,
            )
        )
    return rows


def certified_copies(*, instrument: Instrument) -> QuerySet[CertifiedCopy]:
    return instrument.certified_copies.select_related("party", "recorded_by").order_by("sent_on", "pk")


# --- designations (P4.2) ---------------------------------------------------------------------------------


def designation_notices(*, instrument: Instrument, party: Party | None = None) -> QuerySet[DesignationNotice]:
    """The designation history, in order of effect."""
    notices = DesignationNotice.objects.filter(instrument=instrument).select_related(
        "instrument", "party", "body", "replaces", "filed_by"
    )
    if party is not None:
        notices = notices.filter(party=party)
    return notices.order_by("effective_on", "pk")


def designation_facts(*, instrument: Instrument, party: Party) -> tuple[rules.DesignationFact, ...]:
    return tuple(n.fact() for n in designation_notices(instrument=instrument, party=party))


def designated_bodies(*, instrument: Instrument, on: dt.date, party: Party | None = None) -> list[Body]:
    """The bodies designated under `instrument` on `on` (of one Party, or of all)."""
    notices = list(designation_notices(instrument=instrument, party=party))
    codes: set[str] = set()
    for party_code in {n.party.code for n in notices}:
        codes |= rules.designated_on(tuple(n.fact() for n in notices if n.party.code == party_code), on)
    return list(bodies().filter(code__in=codes))


def is_designated(*, body: Body, instrument: Instrument, on: dt.date) -> bool:
    """Is `body` an authorised competent body under `instrument` on `on`? (P4.2)"""
    return body.code in rules.designated_on(designation_facts(instrument=instrument, party=body.party), on)


# --- announcements and acknowledgements (P4.3) -------------------------------------------------------


def inbox(*, party: Party) -> QuerySet[Acknowledgement]:
    """The designation announcements sent to `party`, unacknowledged first, newest first."""
    return (
        Acknowledgement.objects.filter(party=party)
        .select_related(
            "party",
            "notice__party",
            "notice__body",
            "notice__replaces",
            "notice__instrument",
            "notice__filed_by",
            "acknowledged_by",
        )
        .order_by(F("acknowledged_at").desc(nulls_first=True), "-announced_at")
    )


def announcements(*, viewer: Any) -> QuerySet[DesignationNotice]:
    """The notices whose acknowledgements the viewer may follow: all for the Secretariat, own Party's otherwise."""
    notices = DesignationNotice.objects.select_related("party", "body", "replaces", "instrument").prefetch_related(
        Prefetch("acknowledgements", queryset=Acknowledgement.objects.select_related("party", "acknowledged_by"))
    )
    if viewer.role != Role.SECRETARIAT:
        notices = notices.filter(party_id=viewer.body.party_id)
    return notices.order_by("-filed_at", "-pk")


def pending_acknowledgements(*, viewer: Any) -> QuerySet[Acknowledgement]:
    """Announcements not yet acknowledged, oldest first (P4.3): every one for the Secretariat, those of its
    own Party's notices for anyone else."""
    pending = (
        Acknowledgement.objects.filter(acknowledged_at__isnull=True)
        .select_related(
            "party", "notice__party", "notice__body", "notice__instrument", "notice__replaces", "notice__filed_by"
        )
        .order_by("announced_at", "pk")
    )
    if viewer.role != Role.SECRETARIAT:
        pending = pending.filter(notice__party_id=viewer.body.party_id)
    return pending


def profile(*, party: Party) -> PartyProfile:
    """A Party's profile (an unsaved default when the Party has not filled it in yet)."""
    return PartyProfile.objects.filter(party=party).first() or PartyProfile(party=party)
