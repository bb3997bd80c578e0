"""Reads of cases: inboxes, outboxes, a case with its messages and clocks, due and overdue lists."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from cybercoop.assistance import rules
from cybercoop.assistance.models import Case, Clock
from cybercoop.core.permissions import Permission
from cybercoop.exchange import selectors as exchange


@dataclass(frozen=True)
class CaseFilter:
    """The filters of the inbox and outbox (screens and API), all optional."""

    state: str = ""
    urgent: bool | None = None
    overdue: bool = False
    party: str = ""  # the other side's Party code
    text: str = ""


def visible_cases(*, viewer: Any) -> QuerySet[Case]:
    """Cases the viewer's body takes part in: as requesting body, or as requested body (drafts stay home)."""
    if not viewer.has_perm(Permission.VIEW_CASE):
        return Case.objects.none()
    body = viewer.body_id
    return Case.objects.filter(
        Q(requesting_body_id=body)
        | (Q(handling_body_id=body) & ~Q(state__in=rules.DRAFT_STATES | {rules.CaseState.DISCARDED}))
    )


def _listed(cases: QuerySet[Case], filters: CaseFilter, other_side: str, now: dt.datetime) -> QuerySet[Case]:
    if filters.state:
        cases = cases.filter(state=filters.state)
    if filters.urgent is not None:
        cases = cases.filter(urgent=filters.urgent)
    if filters.party:
        cases = cases.filter(**{f"{other_side}__party__code": filters.party})
    if filters.overdue:
        cases = cases.filter(
            clocks__status=rules.ClockStatus.RUNNING, clocks__obligatory=True, clocks__due_at__lte=now
        ).distinct()
    text = filters.text.strip()
    if text:
        cases = cases.filter(
            Q(subject__icontains=text)
            | Q(substance__icontains=text)
            | Q(outgoing_number__icontains=text)
            | Q(incoming_number__icontains=text)
            | Q(identifiers__icontains=text)
        )
    return cases.select_related(
        "requesting_body__party", "requested_body__party", "handling_body__party", "instrument"
    ).order_by("-updated_at", "id")


def inbox(*, viewer: Any, filters: CaseFilter | None = None, now: dt.datetime) -> QuerySet[Case]:
    """Requests received by the viewer's body (it is executing them), newest activity first."""
    cases = (
        visible_cases(viewer=viewer)
        .filter(handling_body_id=viewer.body_id)
        .exclude(state__in=rules.DRAFT_STATES | {rules.CaseState.DISCARDED})
    )
    return _listed(cases, filters or CaseFilter(), "requesting_body", now)


def outbox(*, viewer: Any, filters: CaseFilter | None = None, now: dt.datetime) -> QuerySet[Case]:
    """Requests drafted or sent by the viewer's body, newest activity first."""
    cases = visible_cases(viewer=viewer).filter(requesting_body_id=viewer.body_id)
    return _listed(cases, filters or CaseFilter(), "handling_body", now)


def get_case(*, viewer: Any, case_id: uuid.UUID) -> Case | None:
    """One case the viewer may see, or None (a case of other bodies is simply not found)."""
    return (
        visible_cases(viewer=viewer)
        .select_related(
            "requesting_body__party",
            "requested_body__party",
            "handling_body__party",
            "instrument",
            "drafted_by",
            "approved_by",
            "submitted_by",
        )
        .filter(pk=case_id)
        .first()
    )


def messages(*, case: Case) -> Any:
    """The case's timeline: every message in the order applied."""
    return exchange.conversation(conversation_id=case.id)


def clocks(*, case: Case) -> QuerySet[Clock]:
    return case.clocks.select_related("acting_body").order_by("due_at")


def deadline_clocks(*, viewer: Any, now: dt.datetime, within: dt.timedelta) -> QuerySet[Clock]:
    """Running obligations of the viewer's body due within `within` (or already overdue), soonest first."""
    return (
        Clock.objects.filter(
            acting_body_id=viewer.body_id,
            status=rules.ClockStatus.RUNNING,
            obligatory=True,
            due_at__lte=now + within,
        )
        .select_related("case", "acting_body")
        .order_by("due_at")
    )


def due_clocks(*, now: dt.datetime, remind_before: dt.timedelta, limit: int) -> QuerySet[Clock]:
    """Clocks whose reminder or deadline has come and not yet been handled, for the worker (row-locked)."""
    return (
        Clock.objects.filter(status=rules.ClockStatus.RUNNING, obligatory=True)
        .filter(
            Q(reminded_before_at__isnull=True, due_at__lte=now + remind_before)
            | Q(reminded_due_at__isnull=True, due_at__lte=now)
        )
        .order_by("due_at")[:limit]
    )
