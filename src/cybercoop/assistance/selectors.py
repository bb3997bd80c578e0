"""Reads of cases: inboxes, outboxes, a case with its messages and clocks, due and overdue lists."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from cybercoop.accounts import selectors as accounts
from cybercoop.assistance import rules
from cybercoop.assistance.models import Case, CaseAssignment, Clock
from cybercoop.core.permissions import Permission
from cybercoop.exchange import selectors as exchange
from cybercoop.registry.models import Body
from cybercoop.safeguards import rules as safeguards
from cybercoop.safeguards.rules import Access


@dataclass(frozen=True)
class CaseFilter:
    """The filters of the inbox and outbox (screens and API), all optional."""

    state: str = ""
    urgent: bool | None = None
    overdue: bool = False
    party: str = ""  # the other side's Party code
    text: str = ""


# The numbers services._next_number gives: BODY-CODE-YEAR-NNNNN (outgoing), BODY-CODE-YEAR-I-NNNNN (incoming).
WHOLE_NUMBER = re.compile(r"[A-Za-z0-9-]+-\d{4}-(?:[Ii]-)?\d{5,}")
LONG_TEXTS = ("purpose", "grounds", "substance", "assistance_sought", "identifiers", "other_information")
NOT_SENT = rules.DRAFT_STATES | {rules.CaseState.DISCARDED}  # a draft stays with its requesting body


# --- need to know (P10.1): the one policy, `safeguards.rules.case_access`, as a query and as a check ------------
# Every list, count, search, deadline panel, notification and object check of cases goes through these two;
# tests/safeguards/test_need_to_know.py checks that they agree for every role and case.


def _need_to_know(cases: QuerySet[Any], viewer: Any, case_field: str = "pk") -> QuerySet[Any]:
    """Of these cases (or rows naming a case by `case_field`), those the viewer's role lets them see within their
    body: all for the head and the deputies, the assigned ones for an officer, none for anyone else."""
    if viewer.role in safeguards.SEES_EVERY_CASE_OF_THE_BODY:
        return cases
    if not safeguards.needs_assignment(viewer.role):
        return cases.none()
    return cases.filter(Exists(CaseAssignment.objects.filter(case_id=OuterRef(case_field), user_id=viewer.pk)))


def visible_cases(*, viewer: Any) -> QuerySet[Case]:
    """Cases whose content the viewer may see: of their body, as requesting body or as requested body (drafts stay
    home), and within the body by need to know."""
    if not viewer.has_perm(Permission.VIEW_CASE):
        return Case.objects.none()
    body = viewer.body_id
    cases = Case.objects.filter(Q(requesting_body_id=body) | (Q(handling_body_id=body) & ~Q(state__in=NOT_SENT)))
    return _need_to_know(cases, viewer)


def case_by_number(*, viewer: Any, number: str) -> Case | None:
    """A case the viewer may see by its outgoing or incoming number (whole, any case), or None."""
    number = number.strip()
    if not number:
        return None
    found = visible_cases(viewer=viewer).filter(Q(outgoing_number__iexact=number) | Q(incoming_number__iexact=number))
    return found.order_by("-updated_at").first()


def access_to(*, viewer: Any, case: Case) -> Access:
    """How much of this case the viewer may see (`safeguards.rules.case_access`): the object rule of every case
    permission, so every screen, API operation and service asks it."""
    if not viewer.is_active:
        return Access.NONE
    of_a_party_body = case.side_of(viewer.body_id) is not None
    assigned = (
        of_a_party_body
        and safeguards.needs_assignment(viewer.role)
        and CaseAssignment.objects.filter(case_id=case.pk, user_id=viewer.pk).exists()
    )
    return safeguards.case_access(role=viewer.role, of_a_party_body=of_a_party_body, assigned=bool(assigned))


def assignments(*, case: Case, body_id: int) -> QuerySet[CaseAssignment]:
    """Who the case is assigned to in one body (a body sees only its own people: addressee lists are confidential)."""
    return (
        CaseAssignment.objects.filter(case=case, user__body_id=body_id)
        .select_related("user", "assigned_by")
        .order_by("assigned_at", "pk")
    )


def assigned_users(*, case: Case, body_id: int) -> QuerySet[Any]:
    """The users of the body the case is assigned to."""
    return accounts.users(body_id=body_id, case_assignments__case=case).order_by("full_name", "username")


def assignable_users(*, case: Case, body_id: int) -> QuerySet[Any]:
    """The active case workers of the body the case is not yet assigned to (officers: the others see it anyway)."""
    return (
        accounts.users(body_id=body_id, is_active=True, role__in=sorted(safeguards.SEES_ASSIGNED_CASES))
        .exclude(case_assignments__case=case)
        .order_by("full_name", "username")
    )


def _listed(cases: QuerySet[Case], filters: CaseFilter, other_side: str, now: dt.datetime) -> QuerySet[Case]:
    if filters.state:
        cases = cases.filter(state=filters.state)
    if filters.urgent is not None:
        cases = cases.filter(urgent=filters.urgent)
    if filters.party:
        cases = cases.filter(**{f"{other_side}__party__code": filters.party})
    if filters.overdue:
        cases = cases.filter(next_due_at__lte=now)
    text = filters.text.strip()
    if text:
        in_texts = Q(subject__icontains=text) | Q(substance__icontains=text) | Q(identifiers__icontains=text)
        if WHOLE_NUMBER.fullmatch(text):
            # A whole registration number is looked up as such (an index lookup), not as a fragment of every
            # number (which all share their body's prefix, so a fragment search reads most of them).
            numbers = {text, text.upper()}
            cases = cases.filter(in_texts | Q(outgoing_number__in=numbers) | Q(incoming_number__in=numbers))
        else:
            cases = cases.filter(in_texts | Q(outgoing_number__icontains=text) | Q(incoming_number__icontains=text))
    # Newest activity first; the overdue ones by deadline, the longest overdue first. A list never shows the
    # long texts: they stay in the database (the screens read `as_list_rows`; the API adds its own joins).
    order = ("next_due_at", "id") if filters.overdue else ("-updated_at", "id")
    return cases.defer(*LONG_TEXTS).order_by(*order)


# The inbox and the outbox are each one side of visible_cases, written without its OR so that the database
# walks one index of the body's cases, newest first, and stops after a page.


def inbox(*, viewer: Any, filters: CaseFilter | None = None, now: dt.datetime) -> QuerySet[Case]:
    """Requests received by the viewer's body (it is executing them), newest activity first."""
    if not viewer.has_perm(Permission.VIEW_CASE):
        return Case.objects.none()
    cases = Case.objects.filter(handling_body_id=viewer.body_id).exclude(state__in=NOT_SENT)
    return _listed(_need_to_know(cases, viewer), filters or CaseFilter(), "requesting_body", now)


def outbox(*, viewer: Any, filters: CaseFilter | None = None, now: dt.datetime) -> QuerySet[Case]:
    """Requests drafted or sent by the viewer's body, newest activity first."""
    if not viewer.has_perm(Permission.VIEW_CASE):
        return Case.objects.none()
    cases = Case.objects.filter(requesting_body_id=viewer.body_id)
    return _listed(_need_to_know(cases, viewer), filters or CaseFilter(), "handling_body", now)


# --- a page of a list, as plain rows ------------------------------------------------------------------------
# The screens show fifty cases a page; building fifty model instances with their bodies and clocks cost more
# than the queries (bench/cases.py). A page is read as plain values instead: the case's columns, the running
# clocks of those cases, and the few bodies they name.

LIST_COLUMNS = (
    "id",
    "outgoing_number",
    "incoming_number",
    "subject",
    "urgent",
    "state",
    "requesting_body_id",
    "handling_body_id",
)


@dataclass(frozen=True)
class ListedClock:
    kind: str
    rule_id: str
    due_at: dt.datetime
    obligatory: bool
    status: str


def as_list_rows(cases: QuerySet[Case]) -> QuerySet[Case, dict[str, Any]]:
    """The list's columns of these cases, as dictionaries (for a paginator to slice)."""
    rows: QuerySet[Case, dict[str, Any]] = cases.values(*LIST_COLUMNS)
    return rows


def running_clocks(*, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[ListedClock]]:
    """The running clocks of these cases, soonest first, by case."""
    found: dict[uuid.UUID, list[ListedClock]] = {case_id: [] for case_id in case_ids}
    rows = (
        Clock.objects.filter(case_id__in=case_ids, status=rules.ClockStatus.RUNNING)
        .order_by("due_at")
        .values_list("case_id", "kind", "rule_id", "due_at", "obligatory", "status")
    )
    for case_id, kind, rule_id, due_at, obligatory, status in rows:
        found[case_id].append(ListedClock(kind, rule_id, due_at, obligatory, status))
    return found


def bodies_by_id(ids: set[int]) -> dict[int, Body]:
    """Bodies with their Parties, by id (a list names only a handful)."""
    return {body.pk: body for body in Body.objects.select_related("party").filter(pk__in=ids)}


@dataclass(frozen=True)
class DeadlineCounts:
    overdue: int
    due_soon: int


def deadline_counts(cases: QuerySet[Case], *, now: dt.datetime, soon: dt.timedelta) -> DeadlineCounts:
    """Of these cases, how many owe something already overdue, and how many owe something due within `soon`
    (each case counted once, by its nearest running obligation)."""
    owing = cases.filter(next_due_at__isnull=False).order_by()
    return DeadlineCounts(
        overdue=owing.filter(next_due_at__lte=now).count(),
        due_soon=owing.filter(next_due_at__gt=now, next_due_at__lte=now + soon).count(),
    )


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
    """Running obligations of the viewer's body due within `within` (or already overdue), soonest first, of the
    cases the viewer may see."""
    if not viewer.has_perm(Permission.VIEW_CASE):
        return Clock.objects.none()
    clocks = _need_to_know(Clock.objects.all(), viewer, case_field="case_id")
    return (
        clocks.filter(
            acting_body_id=viewer.body_id,
            status=rules.ClockStatus.RUNNING,
            obligatory=True,
            due_at__lte=now + within,
        )
        .select_related("case", "acting_body")
        .order_by("due_at")
    )


def due_clocks(*, now: dt.datetime, remind_before: dt.timedelta, limit: int | None = None) -> QuerySet[Clock]:
    """Clocks whose reminder or deadline has come and not yet been handled, soonest first, for the worker; at most
    `limit` of them (None: the query, to filter further)."""
    due = (
        # The first bound holds for both reminders: it lets the scan read only the head of the index.
        Clock.objects.filter(status=rules.ClockStatus.RUNNING, obligatory=True, due_at__lte=now + remind_before)
        .filter(
            Q(reminded_before_at__isnull=True, due_at__lte=now + remind_before)
            | Q(reminded_due_at__isnull=True, due_at__lte=now)
        )
        .order_by("due_at")
    )
    return due if limit is None else due[:limit]
