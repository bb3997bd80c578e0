"""The request screens: the inbox and the outbox, drafting, the case page (request, clocks, timeline and the
actions allowed now), one endpoint per action, attachment downloads, and the deadlines panel of the home page.

Views stay thin: parse a form, call one service, redirect with a message; or show the page again with the
form's errors (422) or the rule that forbids the action (409). PermissionDenied goes to Django's 403 page.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from babel.core import UnknownLocaleError
from babel.dates import get_timezone_location
from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, time_format
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext_lazy, ngettext, to_locale
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cybercoop.assistance import forms, rules, selectors, services
from cybercoop.assistance.models import Case, Clock
from cybercoop.assistance.rules import CaseState, Kind, Side
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.core.forms import add_service_errors
from cybercoop.core.paging import CappedPaginator, PeekPaginator
from cybercoop.core.permissions import Permission, decided_once, require
from cybercoop.documents import services as documents
from cybercoop.exchange import at_rest, downloads
from cybercoop.exchange import selectors as exchange
from cybercoop.exchange.rules import Marking
from cybercoop.registry import selectors as registry
from cybercoop.registry.rules import PROFILE_LANGUAGE_LABELS

PAGE_SIZE = 50
DUE_SOON = dt.timedelta(days=3)  # the home page's and the lists' "due soon"
HOME_PANEL_ITEMS = 5


# --- the actions: one form and one service each -----------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """An action of the case page: its endpoint (`slug`), who may take it, its form and service, and the
    message shown when it is done."""

    slug: str
    label: Promise
    rules: tuple[str, ...]
    permission: Permission
    form: type[forms.ActionForm]
    run: Callable[..., Any]  # the service, called as run(actor=…, case=…, **form.arguments())
    done: Promise
    danger: bool = False

    def make_form(self, case: Case, data: Any = None, files: Any = None, *, actor: Any = None) -> forms.ActionForm:
        # Several forms share a page: ids carry the action's name, field names stay plain for the endpoint.
        return self.form(data, files, case=case, actor=actor, auto_id=f"{self.slug}-%s")


def _message_action(
    kind: Kind, slug: str, form: type[forms.ActionForm], run: Callable[..., Any], done: Promise
) -> Action:
    transition = rules.TRANSITIONS[kind]
    return Action(
        slug, transition.label, transition.rules, transition.permission, form, run, done, kind == Kind.REFUSAL
    )


# The requesting body's own steps before anything is sent (P6.5); no message travels until approval.
DRAFT_ACTIONS: dict[str, Action] = {
    a.slug: a
    for a in (
        Action(
            slug="submit",
            label=gettext_lazy("Submit for approval"),
            rules=("P6.5",),
            permission=Permission.DRAFT_REQUEST,
            form=forms.NoFieldsForm,
            run=services.submit_for_approval,
            done=gettext_lazy("The request has been submitted for approval."),
        ),
        Action(
            slug="return",
            label=gettext_lazy("Return to draft"),
            rules=("P6.5",),
            permission=Permission.APPROVE_REQUEST,
            form=forms.ReturnForm,
            run=services.return_to_draft,
            done=gettext_lazy("The request has been returned to draft."),
        ),
        Action(
            slug="approve",
            label=rules.TRANSITIONS[Kind.REQUEST].label,
            rules=rules.TRANSITIONS[Kind.REQUEST].rules,
            permission=Permission.APPROVE_REQUEST,
            form=forms.ApproveForm,
            run=services.approve_and_send,
            done=gettext_lazy("The request has been approved and sent."),
        ),
        Action(
            slug="send-urgent",
            label=gettext_lazy("Send at once as urgent"),
            rules=("P6.4",),
            permission=Permission.DRAFT_REQUEST,
            form=forms.UploadForm,
            run=services.send_urgent,
            done=gettext_lazy("The urgent request has been sent; the head or a deputy must confirm it in writing."),
        ),
        Action(
            slug="discard",
            label=gettext_lazy("Discard the draft"),
            rules=(),
            permission=Permission.DRAFT_REQUEST,
            form=forms.NoFieldsForm,
            run=services.discard_draft,
            done=gettext_lazy("The draft has been discarded."),
            danger=True,
        ),
    )
}

# The acts between the two bodies, in the order of the state machine (rules.TRANSITIONS).
MESSAGE_ACTIONS: dict[Kind, Action] = {
    Kind.URGENT_CONFIRMATION: _message_action(
        Kind.URGENT_CONFIRMATION,
        "confirm-urgent",
        forms.SignedActionForm,
        services.confirm_urgent,
        gettext_lazy("The written confirmation has been sent."),
    ),
    Kind.RECEIPT: _message_action(
        Kind.RECEIPT,
        "receipt",
        forms.ReceiptForm,
        services.register_receipt,
        gettext_lazy("The receipt has been registered."),
    ),
    Kind.FORWARD: _message_action(
        Kind.FORWARD, "forward", forms.ForwardForm, services.forward, gettext_lazy("The request has been forwarded.")
    ),
    Kind.DELAY: _message_action(
        Kind.DELAY, "delay", forms.DelayForm, services.notify_delay, gettext_lazy("The delay has been notified.")
    ),
    Kind.INFO_REQUEST: _message_action(
        Kind.INFO_REQUEST,
        "info-request",
        forms.InformationRequestForm,
        services.request_information,
        gettext_lazy("The questions have been sent."),
    ),
    Kind.INFO_REPLY: _message_action(
        Kind.INFO_REPLY,
        "info-reply",
        forms.InformationReplyForm,
        services.provide_information,
        gettext_lazy("The answer has been sent."),
    ),
    Kind.POSTPONEMENT: _message_action(
        Kind.POSTPONEMENT,
        "postpone",
        forms.PostponementForm,
        services.postpone,
        gettext_lazy("Execution has been postponed."),
    ),
    Kind.CONDITIONS: _message_action(
        Kind.CONDITIONS,
        "conditions",
        forms.ConditionsForm,
        services.propose_conditions,
        gettext_lazy("The conditions have been proposed."),
    ),
    Kind.CONDITIONS_REPLY: _message_action(
        Kind.CONDITIONS_REPLY,
        "conditions-reply",
        forms.ConditionsReplyForm,
        services.reply_to_conditions,
        gettext_lazy("The reply has been sent."),
    ),
    Kind.PARTICIPATION_REQUEST: _message_action(
        Kind.PARTICIPATION_REQUEST,
        "participation-request",
        forms.ParticipationRequestForm,
        services.request_participation,
        gettext_lazy("The request for participation has been sent."),
    ),
    Kind.PARTICIPATION: _message_action(
        Kind.PARTICIPATION,
        "participation",
        forms.ParticipationForm,
        services.decide_participation,
        gettext_lazy("The decision has been sent."),
    ),
    Kind.REFUSAL: _message_action(
        Kind.REFUSAL, "refuse", forms.RefusalForm, services.refuse, gettext_lazy("The refusal has been sent.")
    ),
    Kind.RESULTS: _message_action(
        Kind.RESULTS, "results", forms.ResultsForm, services.send_results, gettext_lazy("The results have been sent.")
    ),
    Kind.CONSENT_REQUEST: _message_action(
        Kind.CONSENT_REQUEST,
        "consent-request",
        forms.ConsentRequestForm,
        services.request_consent,
        gettext_lazy("The request for consent has been sent."),
    ),
    Kind.CONSENT_REPLY: _message_action(
        Kind.CONSENT_REPLY,
        "consent-reply",
        forms.ConsentReplyForm,
        services.reply_to_consent,
        gettext_lazy("The answer has been sent."),
    ),
    Kind.MARKING: _message_action(
        Kind.MARKING,
        "marking",
        forms.MarkingForm,
        services.change_marking,
        gettext_lazy("The marking has been changed."),
    ),
}


def _use_in_another_case(*, actor: Any, case: Case, attachment_sha256: str, target_case: Case) -> Any:
    return services.use_in_another_case(
        actor=actor, source_case=case, attachment_sha256=attachment_sha256, target_case=target_case
    )


# P10.2: the acts on one file received from the other body, offered beside each such file (not among the panels).
REUSE = Action(
    slug="reuse",
    label=gettext_lazy("Use in another case"),
    rules=("P10.2",),
    permission=Permission.WORK_ON_CASE,
    form=forms.ReuseForm,
    run=_use_in_another_case,
    done=gettext_lazy("The file is now part of the other case, with its purposes and conditions."),
)
# Export or passing to another body gives the package as a download (`release`), not a redirect.
RELEASE = Action(
    slug="release",
    label=gettext_lazy("Export or pass to another body"),
    rules=("P10.2",),
    permission=Permission.WORK_ON_CASE,
    form=forms.ReleaseForm,
    run=services.release_information,
    done=gettext_lazy("The package has been prepared."),
)
FILE_ACTIONS = frozenset({"reuse", "consent-request", "release"})

ACTIONS: dict[str, Action] = {
    **DRAFT_ACTIONS,
    **{a.slug: a for a in MESSAGE_ACTIONS.values()},
    REUSE.slug: REUSE,
}


def draft_actions(user: Any, case: Case) -> list[Action]:
    """What the requesting body's users may do with a draft now (P6.4, P6.5)."""
    if case.side_of(user.body_id) != Side.REQUESTING or case.state not in rules.DRAFT_STATES:
        return []
    now_possible = {
        "submit": case.state == CaseState.DRAFT,
        "return": case.state == CaseState.AWAITING_APPROVAL,
        "approve": True,
        "send-urgent": case.urgent,  # P6.4: only a request marked urgent goes before its approval
        "discard": True,
    }
    return [a for a in DRAFT_ACTIONS.values() if now_possible[a.slug] and user.has_perm(a.permission, case)]


def allowed_actions(user: Any, case: Case, derived: rules.Derived) -> list[Action]:
    """Only the actions this user may take on this case now: the state machine, then the user's permissions."""
    side = case.side_of(user.body_id)
    if side is None:
        return []
    if case.state in rules.DRAFT_STATES:
        return draft_actions(user, case)
    actions = []
    for kind in rules.allowed_kinds(state=case.state, side=side, derived=derived):
        action = MESSAGE_ACTIONS.get(kind)
        if action is None or not user.has_perm(action.permission, case):
            continue
        if kind == Kind.FORWARD and not forms.forward_targets(case).exists():
            continue  # no other body of the same State to forward to
        if kind == Kind.CONSENT_REQUEST:
            continue  # asked beside each file received (`received_files`)
        actions.append(action)
    return actions


# --- clocks: the due instant in each zone, and why ----------------------------------------------------------


def zone_name(zone: str) -> str:
    """A time zone as its city in the reader's language ("Алматы", "Almaty"), for "… Almaty time"."""
    try:
        return str(get_timezone_location(zone, locale=to_locale(get_language() or "ru"), return_city=True))
    except (LookupError, ValueError, UnknownLocaleError):
        return zone.rsplit("/", 1)[-1].replace("_", " ")


def last_day(clock_row: Any) -> dt.date:
    """The last day of a term that ends at 24:00 (its due instant is 00:00 of the next day, local time)."""
    return (clock_row.due_at.astimezone(zoneinfo.ZoneInfo(clock_row.zone)) - dt.timedelta(microseconds=1)).date()


def explain_clock(clock_row: Any) -> str:
    """Why a clock is due when it is, from its inputs, in the reader's language:
    "by 24:00 on 14 December, Almaty time: 30 days from receipt on 14 November (P7.2)"."""
    zone = zoneinfo.ZoneInfo(clock_row.zone)
    values = {"zone": zone_name(clock_row.zone), "rule": clock_row.rule_id}
    if clock_row.unit == "hours":  # P6.4: hours run from the moment of transmission
        due = clock_row.due_at.astimezone(zone)
        term = ngettext("%(count)d hour", "%(count)d hours", clock_row.term) % {"count": clock_row.term}
        return _("by %(time)s on %(day)s, %(zone)s time: %(term)s from transmission on %(start)s (%(rule)s)") % {
            **values,
            "time": time_format(due, "H:i"),
            "day": date_format(due, "j E"),
            "term": term,
            "start": date_format(clock_row.started_at.astimezone(zone), "j E, H:i"),
        }
    day = date_format(last_day(clock_row), "j E")
    if clock_row.unit == "date":  # P7.6: a postponement's new date
        return _("by 24:00 on %(day)s, %(zone)s time: execution postponed to that date (%(rule)s)") % {
            **values,
            "day": day,
        }
    # Terms in days (P7.2, P7.4) start on the day after receipt and end at 24:00 of the last day.
    term = ngettext("%(count)d day", "%(count)d days", clock_row.term) % {"count": clock_row.term}
    return _("by 24:00 on %(day)s, %(zone)s time: %(term)s from receipt on %(start)s (%(rule)s)") % {
        **values,
        "day": day,
        "term": term,
        "start": date_format(clock_row.started_at.astimezone(zone).date(), "j E"),
    }


def due_text(instant: dt.datetime, zone: dt.tzinfo) -> str:
    """An instant as a person reads a deadline in `zone`: midnight is 24:00 of the day before, since a term in
    days ends at 24:00 of its last day ("14.12.2026 24:00", not "15.12.2026 00:00")."""
    local = instant.astimezone(zone)
    if local.time() == dt.time(0):
        return f"{date_format(local.date() - dt.timedelta(days=1), 'SHORT_DATE_FORMAT')} 24:00"
    return date_format(local, "SHORT_DATETIME_FORMAT")


def _is_overdue(clock_row: Any, now: dt.datetime) -> bool:
    return clock_row.status == rules.ClockStatus.RUNNING and clock_row.obligatory and now >= clock_row.due_at


def clock_rows(clocks: Iterable[Clock], now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "clock": row,
            "due_local": due_text(row.due_at, zoneinfo.ZoneInfo(row.zone)),
            "due_viewer": due_text(row.due_at, timezone.get_current_timezone()),
            "zone_name": zone_name(row.zone),
            "overdue": _is_overdue(row, now),
            "explanation": explain_clock(row),
        }
        for row in clocks
    ]


# --- the inbox and the outbox -------------------------------------------------------------------------------


def _case_list(request: HttpRequest, *, incoming: bool) -> HttpResponse:
    require(request.user, Permission.VIEW_CASE)
    now = clock.now()
    listing = selectors.inbox if incoming else selectors.outbox
    form = forms.CaseFilterForm(request.GET or None, incoming=incoming, viewer=request.user)
    filters = form.filters()
    cases = selectors.as_list_rows(listing(viewer=request.user, filters=filters, now=now))
    # A search is not counted (its count would cost more than its page); the other lists count up to a cap.
    paginator = PeekPaginator(cases, PAGE_SIZE) if filters.text else CappedPaginator(cases, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    listed = list(page)
    clocks = selectors.running_clocks(case_ids=[case["id"] for case in listed])
    other_side = "requesting_body_id" if incoming else "handling_body_id"
    bodies = selectors.bodies_by_id({case[other_side] for case in listed})
    zone = timezone.get_current_timezone()
    states = dict(rules.CaseState.choices)
    kinds = dict(rules.ClockKind.choices)
    rows = []
    for case in listed:
        running = clocks[case["id"]]
        # The nearest obligation; a forwarding window (not an obligation) only while it is still open.
        upcoming = [c for c in running if c.obligatory or c.due_at > now]
        nearest = upcoming[0] if upcoming else None
        rows.append(
            {
                "case": case,
                "state_label": states.get(case["state"], case["state"]),
                "other_body": bodies[case[other_side]],
                "clock": nearest,
                "clock_label": kinds.get(nearest.kind, nearest.kind) if nearest else "",
                "due": due_text(nearest.due_at, zone) if nearest else "",
                "overdue": any(_is_overdue(c, now) for c in running),
            }
        )
    counts = selectors.deadline_counts(listing(viewer=request.user, now=now), now=now, soon=DUE_SOON)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "incoming": incoming,
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "overdue_count": counts.overdue,
        "due_soon_count": counts.due_soon,
    }
    return render(request, "assistance/case_list.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Requests the viewer's body is executing, with filters and search."""
    return _case_list(request, incoming=True)


@login_required
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    """Requests the viewer's body drafted or sent, with filters and search."""
    return _case_list(request, incoming=False)


# --- drafting -------------------------------------------------------------------------------------------------


def _draft_page(request: HttpRequest, form: forms.DraftForm, case: Case | None, status: int = 200) -> HttpResponse:
    if status == 200 and form.errors:
        status = 422
    return render(request, "assistance/case_form.html", {"form": form, "case": case}, status=status)


def _rule_error(form: Any, error: RuleViolation) -> None:
    form.add_error(None, f"{error.message} ({error.rule_id})")


@login_required
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    """Draft a request to another Party's competent body (P6.1, P6.2, P14)."""
    require(request.user, Permission.DRAFT_REQUEST)
    form = forms.DraftForm(request.POST if request.method == "POST" else None, viewer=request.user)
    status = 200
    if form.is_bound and form.is_valid():
        try:
            case = services.create_draft(actor=request.user, **form.draft_fields())
        except InvalidInput as error:
            add_service_errors(form, error)
        except RuleViolation as error:
            _rule_error(form, error)
            status = 409
        else:
            messages.success(request, _("The draft has been saved."))
            return redirect("assistance:case", case_id=case.id)
    return _draft_page(request, form, None, status)


def _case(request: HttpRequest, case_id: uuid.UUID) -> Case:
    """A case the viewer may see; any other is simply not found."""
    case = selectors.get_case(viewer=request.user, case_id=case_id)
    if case is None:
        raise Http404
    return case


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Change a draft of the viewer's body (P6.2)."""
    case = _case(request, case_id)
    require(request.user, Permission.DRAFT_REQUEST)
    if case.side_of(request.user.body_id) != Side.REQUESTING:
        raise PermissionDenied
    if case.state != CaseState.DRAFT:
        messages.error(request, _("Only a draft can be edited."))
        return redirect("assistance:case", case_id=case.id)
    form = forms.DraftForm(request.POST if request.method == "POST" else None, viewer=request.user, case=case)
    status = 200
    if form.is_bound and form.is_valid():
        try:
            services.update_draft(actor=request.user, case=case, **form.draft_fields())
        except InvalidInput as error:
            add_service_errors(form, error)
        except RuleViolation as error:
            _rule_error(form, error)
            status = 409
        else:
            messages.success(request, _("The draft has been saved."))
            return redirect("assistance:case", case_id=case.id)
    return _draft_page(request, form, case, status)


# --- the case page ----------------------------------------------------------------------------------------------


def preflight_for(case: Case) -> list[rules.Warning]:
    """What would make the request come back, said before it is sent: the requested Party's profile and the
    common reasons requests fail (reads only)."""
    requested = case.requested_body
    profile = registry.profile(party=requested.party)
    contact = ", ".join(v for v in (profile.contact_name, profile.contact_phone, profile.contact_email) if v)
    facts = rules.ProfileFacts(
        accepted_languages=tuple(profile.accepted_languages),
        accepted_language_names=tuple(
            str(PROFILE_LANGUAGE_LABELS.get(code, code)) for code in profile.accepted_languages
        ),
        signature_required=profile.signature_required,
        dual_criminality_required=profile.dual_criminality_required,
        evidence_use_limits=profile.evidence_use_limits,
        working_days=tuple(profile.working_days),
        opens=profile.office_opens_at,
        closes=profile.office_closes_at,
        zone=requested.time_zone or requested.party.time_zone,
        contact=contact,
    )
    legal_basis_ok = registry.in_force_between(
        instrument=case.instrument,
        party_a=case.requesting_body.party,
        party_b=requested.party,
        on=registry.depositary_today(),
    )
    return rules.preflight(
        request=services.request_facts(case), profile=facts, legal_basis_ok=legal_basis_ok, now=clock.now()
    )


# The request's fields (P6.2) as the case page lists them, labelled with the model's names.
REQUEST_FIELDS = (
    "scope",
    "purpose",
    "grounds",
    "substance",
    "assistance_kinds",
    "assistance_sought",
    "identifiers",
    "execution_term_days",
    "other_information",
    "offence",
    "dual_criminality_confirmed",
    "annex_language",
)


def request_fields(case: Case) -> list[dict[str, Any]]:
    kinds = dict(rules.AssistanceKind.choices)
    languages = dict(PROFILE_LANGUAGE_LABELS)
    shown: dict[str, Any] = {
        "scope": case.get_scope_display() if case.scope else "",
        "assistance_kinds": ", ".join(str(kinds.get(k, k)) for k in case.assistance_kinds),
        "dual_criminality_confirmed": _("yes") if case.dual_criminality_confirmed else _("no"),
        "annex_language": str(languages.get(case.annex_language, case.annex_language)) if case.annex_language else "",
    }
    term = case.execution_term_days
    if term is None:
        default = case.instrument.execution_term_days
        shown["execution_term_days"] = _("%(term)s (the instrument's term)") % {
            "term": ngettext("%(count)d day", "%(count)d days", default) % {"count": default}
        }
    else:
        shown["execution_term_days"] = ngettext("%(count)d day", "%(count)d days", term) % {"count": term}
    return [
        {
            "name": name,
            "label": capfirst(str(Case._meta.get_field(name).verbose_name)),
            "value": shown.get(name, getattr(case, name)),
        }
        for name in REQUEST_FIELDS
    ]


KIND_LABELS: dict[str, Promise] = {
    Kind.REQUEST: gettext_lazy("Request"),
    Kind.URGENT_CONFIRMATION: gettext_lazy("Written confirmation of the urgent request"),
    Kind.RECEIPT: gettext_lazy("Receipt registered"),
    Kind.FORWARD: gettext_lazy("Forwarded to the competent body"),
    Kind.DELAY: gettext_lazy("Delay or obstacle notified"),
    Kind.INFO_REQUEST: gettext_lazy("Additional information requested"),
    Kind.INFO_REPLY: gettext_lazy("Additional information provided"),
    Kind.POSTPONEMENT: gettext_lazy("Execution postponed"),
    Kind.CONDITIONS: gettext_lazy("Conditions proposed"),
    Kind.CONDITIONS_REPLY: gettext_lazy("Reply to the conditions"),
    Kind.PARTICIPATION_REQUEST: gettext_lazy("Participation of representatives requested"),
    Kind.PARTICIPATION: gettext_lazy("Decision on participation"),
    Kind.REFUSAL: gettext_lazy("Refusal"),
    Kind.RESULTS: gettext_lazy("Results"),
    Kind.CONSENT_REQUEST: gettext_lazy("Consent requested to use information"),
    Kind.CONSENT_REPLY: gettext_lazy("Answer to a request for consent"),
    Kind.MARKING: gettext_lazy("Marking changed"),
}

# The texts a message may carry, in the order shown, with the same labels as the forms that write them.
TEXT_LABELS: dict[str, Promise] = {
    "reason": gettext_lazy("Reason"),
    "questions": gettext_lazy("Questions"),
    "answer": gettext_lazy("Answer"),
    "summary": gettext_lazy("Summary of the results"),
    "refused_part": gettext_lazy("The part refused"),
    "reasons": gettext_lazy("Reasons"),
    "comment": gettext_lazy("Comment"),
    "note": gettext_lazy("Note"),
}


def _date(value: Any) -> str:
    return date_format(dt.date.fromisoformat(str(value)), "SHORT_DATE_FORMAT")


def message_fields(message: Any) -> list[dict[str, Any]]:
    """A message's content as label and value pairs a person reads (lists where it holds several items)."""
    body = message.body
    fields: list[dict[str, Any]] = []

    def add(label: Any, value: Any) -> None:
        if value not in (None, "", [], ()):
            fields.append({"label": label, "value": value, "many": isinstance(value, list)})

    if message.kind == Kind.REQUEST:
        add(_("Outgoing number"), body.get("outgoing_number"))
        if body.get("urgent"):
            add(_("Urgency"), _("Urgent: sent before the written approval (P6.4)"))
    if message.kind == Kind.RECEIPT:
        add(_("Incoming number"), body.get("incoming_number"))
        if body.get("received_at"):
            received = dt.datetime.fromisoformat(str(body["received_at"]))
            add(_("Received at"), date_format(timezone.localtime(received), "SHORT_DATETIME_FORMAT"))
    if message.kind == Kind.FORWARD:
        to_body = registry.get_body(code=str(body.get("to_body", "")))
        add(_("Forwarded to"), f"{to_body.name} — {to_body.party.name}" if to_body else body.get("to_body"))
    if "partial" in body:
        add(_("Refused"), _("in part") if body["partial"] else _("in full"))
    if "accepted" in body:
        add(_("Reply"), _("The conditions are accepted") if body["accepted"] else _("The conditions are declined"))
    if "agreed" in body:
        add(_("Decision"), _("Participation agreed") if body["agreed"] else _("Participation refused"))
    if message.kind == Kind.CONSENT_REQUEST:  # P10.2
        use = body.get("use", "")
        add(_("File"), body.get("name"))
        add(_("Use"), rules.ConsentUse(use).label if use in rules.ConsentUse.values else use)
        add(_("Case number or body"), body.get("target"))
        add(_("Purpose"), body.get("purpose"))
    if "granted" in body:
        add(_("Answer"), _("Consent granted") if body["granted"] else _("Consent refused"))
    if message.kind == Kind.MARKING:  # P10.1
        labels = dict(Marking.choices)
        previous, marking = body.get("previous", ""), body.get("marking", "")
        add(_("Marking"), f"{labels.get(previous, previous)} → {labels.get(marking, marking)}")
    if body.get("until"):
        add(_("Postponed until"), _date(body["until"]))
    if body.get("expected_on"):
        add(_("Expected execution date"), _date(body["expected_on"]))
    add(_("Conditions"), [str(c) for c in body.get("conditions") or ()])
    for name, label in TEXT_LABELS.items():
        add(label, body.get(name))
    add(
        _("Representatives"),
        [
            " — ".join(v for v in (p.get("name", ""), p.get("position", "")) if v)
            for p in body.get("representatives") or ()
        ],
    )
    if body.get("starts_on") and body.get("ends_on"):
        add(_("Period"), f"{_date(body['starts_on'])} – {_date(body['ends_on'])}")
    costs = body.get("costs")
    if costs:
        add(
            _("Costs"),
            " — ".join(v for v in (f"{costs.get('amount')} {costs.get('currency')}", costs.get("note")) if v),
        )
    signatory = body.get("signatory")
    if signatory:
        add(_("Signed by"), ", ".join(v for v in (signatory.get("name"), signatory.get("position")) if v))
    return fields


def signature_text(check: Any) -> str:
    """A document check as the case page says it (P6.5): who signed, as what, for which body; or why it fails."""
    if not check.valid:
        return _("Signature invalid: %(reasons)s") % {"reasons": "; ".join(check.reasons) or "—"}
    body = registry.get_body(code=check.body_code) if check.body_code else None
    values = {"name": check.signer_name, "body": body.name if body is not None else check.body_code}
    if check.signer_position == "deputy":
        return _("Signature valid: signed by %(name)s, deputy head of %(body)s") % values
    return _("Signature valid: signed by %(name)s, head of %(body)s") % values


def timeline(messages: Iterable[Any]) -> list[dict[str, Any]]:
    messages = list(messages)
    deliveries = exchange.deliveries(message_ids=[m.id for m in messages if m.transport == "federation"])
    files = {m.id: list(m.attachments.all()) for m in messages}
    checks = documents.checks_for([a.id for items in files.values() for a in items])
    return [
        {
            "message": message,
            "label": KIND_LABELS.get(message.kind, message.kind),
            "fields": message_fields(message),
            "attachments": [
                {"file": item, "check": checks.get(item.id), "signature": signature_text(checks[item.id])}
                if item.id in checks
                else {"file": item, "check": None, "signature": ""}
                for item in files[message.id]
            ],
            "delivery": deliveries.get(message.id),  # sent from here to another node: how it stands
        }
        for message in messages
    ]


def _granted(consents: list[rules.Consent], slug: str) -> dict[str, str]:
    """The last granted consent's use and target, to fill in the form that uses it (P10.2)."""
    uses = {"reuse": {rules.ConsentUse.CASE}, "release": {rules.ConsentUse.EXPORT, rules.ConsentUse.TRANSFER}}
    granted = [c for c in consents if c.status == rules.ConsentStatus.GRANTED and c.use in uses.get(slug, ())]
    if not granted:
        return {}
    last = granted[-1]
    return {"target_case": last.target} if slug == "reuse" else {"use": last.use, "target": last.target}


def received_rows(
    user: Any,
    case: Case,
    side: Side | None,
    derived: rules.Derived,
    failed: tuple[Action, forms.ActionForm] | None = None,
) -> list[dict[str, Any]]:
    """The files the other body provided, each with the purposes and accepted conditions that go with it (P7.7),
    the consents asked for it, and, for the requesting body, the forms to ask consent and to use it in another of
    its cases (P10.2). A form that failed comes back beside its file, with its errors."""
    if side is None:
        return []
    rows = []
    may_ask = (
        side == Side.REQUESTING
        and user.has_perm(Permission.WORK_ON_CASE, case)
        and Kind.CONSENT_REQUEST in rules.allowed_kinds(state=case.state, side=side, derived=derived)
    )
    may_reuse = may_ask and forms.reuse_targets(case, user).exists()
    released = services.released_information(case=case, viewer=user)
    for message, item in services.received_files(case=case, body_id=user.body_id):
        row: dict[str, Any] = {
            "message": message,
            "file": item,
            "label": KIND_LABELS.get(message.kind, message.kind),
            "consents": [c for c in derived.consents if c.attachment == item.sha256],
            "released": [r for r in released if r.attachment_id == item.pk],
        }
        for slug, allowed, form_class in (
            ("consent-request", may_ask, forms.ConsentRequestForm),
            ("reuse", may_reuse, forms.ReuseForm),
            ("release", may_ask, forms.ReleaseForm),
        ):
            if not allowed:
                continue
            form: forms.ActionForm = form_class(
                initial={"attachment": item.sha256, **_granted(row["consents"], slug)},
                case=case,
                actor=user,
                auto_id=f"{slug}-{item.pk}-%s",
            )
            if failed is not None and failed[0].slug == slug and failed[1].data.get("attachment") == item.sha256:
                form, row["failed"] = failed[1], slug
            row[slug.replace("-", "_")] = {
                "form": form,
                "url": reverse(f"assistance:{slug}", kwargs={"case_id": case.pk}),
            }
        rows.append(row)
    return rows


def _case_page(
    request: HttpRequest,
    case: Case,
    *,
    status: int = 200,
    failed: tuple[Action, forms.ActionForm] | None = None,
    violation: RuleViolation | None = None,
    assignment_form: forms.AssignForm | None = None,
) -> HttpResponse:
    """The case page, drawn after whatever the request did: it only reads, so need to know is asked once for all the
    actions it weighs (`decided_once`), not once per action."""
    with decided_once():
        return _draw_case_page(
            request, case, status=status, failed=failed, violation=violation, assignment_form=assignment_form
        )


def _draw_case_page(
    request: HttpRequest,
    case: Case,
    *,
    status: int,
    failed: tuple[Action, forms.ActionForm] | None,
    violation: RuleViolation | None,
    assignment_form: forms.AssignForm | None,
) -> HttpResponse:
    user = request.user
    now = clock.now()
    side = case.side_of(user.body_id)
    conversation = list(selectors.messages(case=case))
    derived = services.derive(case, conversation)
    actions = allowed_actions(user, case, derived)
    received = received_rows(user, case, side, derived, failed)
    shown_with_file = failed is not None and any(row.get("failed") for row in received)
    if failed is not None and failed[0] not in actions and violation is None and not shown_with_file:
        actions.append(failed[0])  # its errors must be seen, even if the case has moved on meanwhile
    panels = [
        {
            "action": action,
            "form": failed[1] if failed is not None and failed[0] == action else action.make_form(case, actor=user),
            "url": reverse(f"assistance:{action.slug}", kwargs={"case_id": case.pk}),
            "open": failed is not None and failed[0] == action and violation is None,
        }
        for action in actions
    ]
    is_own_draft = side == Side.REQUESTING and case.state in rules.DRAFT_STATES
    context = {
        "case": case,
        "side": side,
        "panels": panels,
        "may_edit": is_own_draft and case.state == CaseState.DRAFT and user.has_perm(Permission.DRAFT_REQUEST),
        "preflight": preflight_for(case) if is_own_draft else None,
        "fields": request_fields(case),
        "clocks": clock_rows(selectors.clocks(case=case), now),
        "timeline": timeline(conversation),
        "received": received,
        "consents": derived.consents,
        "reused": services.reused_information(case=case, viewer=user),
        "assignments": _assignments_panel(user, case, assignment_form),
        "violation": violation,
        "viewer_zone": zone_name(str(timezone.get_current_timezone())),
    }
    return render(request, "assistance/case_detail.html", context, status=status)


def _assignments_panel(user: Any, case: Case, failed: forms.AssignForm | None) -> dict[str, Any]:
    """Who of the viewer's body works on the case (never the other body's people: addressee lists are
    confidential), and for the head and the deputies the forms to assign and withdraw officers (P10.1)."""
    may_assign = user.has_perm(Permission.ASSIGN_CASE, case)
    return {
        "items": list(selectors.assignments(case=case, body_id=user.body_id)),
        "may_assign": may_assign,
        "form": failed or (forms.AssignForm(case=case, actor=user) if may_assign else None),
    }


@login_required
@require_POST
def assign(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """The head or a deputy assigns an officer of the body to the case (P10.1)."""
    case = _case(request, case_id)
    require(request.user, Permission.ASSIGN_CASE, case)
    form = forms.AssignForm(request.POST, case=case, actor=request.user)
    if form.is_valid():
        try:
            services.assign(actor=request.user, case=case, user=form.cleaned_data["user"])
        except InvalidInput as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("The officer has been assigned to the case."))
            return redirect("assistance:case", case_id=case.id)
    return _case_page(request, case, status=422, assignment_form=form)


@login_required
@require_POST
def withdraw(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """The head or a deputy withdraws an officer's assignment: the officer no longer sees the case (P10.1)."""
    case = _case(request, case_id)
    require(request.user, Permission.ASSIGN_CASE, case)
    form = forms.WithdrawForm(request.POST, case=case, actor=request.user)
    if form.is_valid():
        services.unassign(actor=request.user, case=case, user=form.cleaned_data["user"])
        messages.success(request, _("The assignment has been withdrawn."))
    else:  # a button beside each assigned officer: only a stale page or a forged form gets here
        messages.error(request, _("The case is not assigned to this officer."))
    return redirect("assistance:case", case_id=case.id)


@login_required
@require_GET
def case_detail(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """A case: the request, its clocks, its timeline, and only the actions allowed now. Reading it is recorded."""
    case = _case(request, case_id)
    services.record_view(actor=request.user, case=case)
    return _case_page(request, case)


# A service's field error on a field the action's form lacks (submitting an incomplete draft) names the field.
REQUEST_FIELD_NAMES = frozenset({*REQUEST_FIELDS, "subject", "requested_body", "requesting_body", "instrument"})


def _add_errors(form: django_forms.Form, error: InvalidInput) -> None:
    """The service's field errors on the form's fields; the others above the form, with the field's label."""
    for name, texts in error.errors.items():
        target = name if name in form.fields else None
        prefix = ""
        if target is None and name in REQUEST_FIELD_NAMES:
            prefix = f"{capfirst(str(Case._meta.get_field(name).verbose_name))}: "
        for text in texts:
            form.add_error(target, f"{prefix}{text}")
    if not error.errors:
        form.add_error(None, str(error.message))


@login_required
@require_POST
def act(request: HttpRequest, case_id: uuid.UUID, action: str) -> HttpResponse:
    """One action on a case, through its own form and service; errors come back on the case page."""
    case = _case(request, case_id)
    spec = ACTIONS[action]
    require(request.user, spec.permission, case)
    form = spec.make_form(case, request.POST, request.FILES, actor=request.user)
    if form.is_valid():
        try:
            spec.run(actor=request.user, case=case, **form.arguments())
        except InvalidInput as error:
            _add_errors(form, error)
        except RuleViolation as error:
            return _case_page(request, case, status=409, failed=(spec, form), violation=error)
        else:
            messages.success(request, spec.done)
            if selectors.get_case(viewer=request.user, case_id=case.id) is None:
                return redirect("assistance:inbox")  # forwarded (P7.4): the case has moved to another body
            return redirect("assistance:case", case_id=case.id)
    return _case_page(request, case, status=422, failed=(spec, form))


@login_required
@require_POST
def release(request: HttpRequest, case_id: uuid.UUID) -> HttpResponseBase:
    """P10.2: a file the other body provided, exported or passed on with its consent: the package (the file and its
    conditions sheet) as a download under the same safe headers as any file; refused on the case page otherwise."""
    case = _case(request, case_id)
    require(request.user, Permission.WORK_ON_CASE, case)
    form = RELEASE.make_form(case, request.POST, actor=request.user)
    if form.is_valid():
        try:
            released = services.release_information(actor=request.user, case=case, **form.arguments())
        except InvalidInput as error:
            _add_errors(form, error)
        except RuleViolation as error:
            return _case_page(request, case, status=409, failed=(RELEASE, form), violation=error)
        except at_rest.AttachmentUnreadable as error:
            return _unreadable(request, error)
        else:
            return downloads.bytes_response(released.package, name=released.name, media_type="application/zip")
    return _case_page(request, case, status=422, failed=(RELEASE, form))


@login_required
@require_GET
def attachment(request: HttpRequest, case_id: uuid.UUID, attachment_id: uuid.UUID) -> HttpResponseBase:
    """A file of a message of a case the viewer sees, decrypted and checked against its SHA-256, always as a
    download under safe headers (`exchange.downloads`); the error page, never a damaged file, when it fails.
    Reading it is recorded, as in the API (P10.1)."""
    case = _case(request, case_id)
    item = exchange.attachment(attachment_id=attachment_id, conversation_id=case.id)
    if item is None:
        raise Http404
    services.record_view(actor=request.user, case=case)
    try:
        return downloads.attachment_response(item)
    except at_rest.AttachmentUnreadable as error:
        return _unreadable(request, error)


def _unreadable(request: HttpRequest, error: at_rest.AttachmentUnreadable) -> HttpResponse:
    """The error page for a file that cannot be given out (missing, damaged, another node key): never its bytes."""
    context = {"title": _("The file cannot be given out"), "message": str(error.message)}
    return render(request, "core/error.html", context, status=error.status_code)


# --- the home page's panel ------------------------------------------------------------------------------------


def home_panel(request: HttpRequest) -> dict[str, Any] | None:
    """The viewer's body's obligations overdue and due within three days, for the home page (`core.home`)."""
    user = request.user
    if not user.has_perm(Permission.VIEW_CASE):
        return None
    now = clock.now()
    clocks = selectors.deadline_clocks(viewer=user, now=now, within=DUE_SOON)
    overdue = clocks.filter(due_at__lte=now)
    due_soon = clocks.filter(due_at__gt=now)
    return {
        "template": "assistance/home_panel.html",
        "context": {
            "overdue": clock_rows(overdue[:HOME_PANEL_ITEMS], now),
            "overdue_count": overdue.count(),
            "due_soon": clock_rows(due_soon[:HOME_PANEL_ITEMS], now),
            "due_soon_count": due_soon.count(),
            "may_draft": user.has_perm(Permission.DRAFT_REQUEST),
        },
    }
