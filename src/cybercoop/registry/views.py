"""The registry's screens: instruments and their status, the depositary's records, designations and their
acknowledgement, Party profiles, and the public status page (R6)."""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cybercoop.accounts.rules import Role
from cybercoop.audit import archive
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput
from cybercoop.core.forms import add_service_errors
from cybercoop.core.permissions import Permission, require
from cybercoop.registry import obligations, rules, selectors, services
from cybercoop.registry.forms import (
    BodyForm,
    CertifiedCopyForm,
    DesignationForm,
    EventForm,
    InForceForm,
    InstrumentForm,
    OriginalForm,
    ProfileForm,
)
from cybercoop.registry.models import Instrument, Party


def _instrument(code: str) -> Instrument:
    instrument = selectors.get_instrument(code=code)
    if instrument is None:
        raise Http404
    return instrument


def _party(code: str) -> Party:
    party = selectors.get_party(code=code)
    if party is None:
        raise Http404
    return party


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Every instrument with its standing, and what waits for the user's Party."""
    require(request.user, Permission.VIEW_REGISTRY)
    today = selectors.depositary_today()
    rows = []
    for instrument in selectors.instruments():
        table = selectors.status_table(instrument=instrument, on=today)
        rows.append(
            {
                "instrument": instrument,
                "entry_into_force": rules.entry_into_force(selectors.facts(instrument)),
                "in_force_count": sum(1 for r in table if r.status in rules.IN_FORCE_STATUSES),
                "parties_count": sum(1 for r in table if r.status != rules.PartyStatus.NOT_PARTY),
            }
        )
    party = request.user.body.party
    context = {
        "rows": rows,
        "today": today,
        "inbox_pending": selectors.inbox(party=party).filter(acknowledged_at__isnull=True).count(),
        "pending": selectors.pending_acknowledgements(viewer=request.user).count()
        if request.user.has_perm(Permission.VIEW_ACKNOWLEDGEMENTS)
        else None,
    }
    return render(request, "registry/overview.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def instrument_new(request: HttpRequest) -> HttpResponse:
    """Register an instrument (the Secretariat, as depositary)."""
    require(request.user, Permission.MANAGE_INSTRUMENTS)
    form = InstrumentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            instrument = services.create_instrument(actor=request.user, **form.cleaned_data)
        except InvalidInput as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("The instrument has been registered."))
            return redirect("registry:instrument", code=instrument.code)
    return render(request, "registry/instrument_form.html", {"form": form}, status=422 if form.errors else 200)


def _instrument_page(request: HttpRequest, instrument: Instrument, status: int = 200, **forms: Any) -> HttpResponse:
    today = selectors.depositary_today()
    facts = selectors.facts(instrument)
    table = selectors.status_table(instrument=instrument, on=today)
    pending = [
        {"row": row, "obligations": obligations.open_obligations(instrument, row.party)}
        for row in table
        if row.status == rules.PartyStatus.WITHDRAWAL_PENDING
    ]
    in_force_form = InForceForm(request.GET if "party_a" in request.GET else None, initial={"on": today})
    answer = None
    if in_force_form.is_bound and in_force_form.is_valid():
        data = in_force_form.cleaned_data
        answer = {
            **data,
            "in_force": selectors.in_force_between(
                instrument=instrument, party_a=data["party_a"], party_b=data["party_b"], on=data["on"]
            ),
        }
    manage = request.user.has_perm(Permission.MANAGE_INSTRUMENTS)
    context = {
        "instrument": instrument,
        "today": today,
        "entry_into_force": rules.entry_into_force(facts),
        "table": table,
        "pending": pending,
        "events": instrument.events.select_related("party", "recorded_by").order_by("on", "pk"),
        "amendments": instrument.amendments.all(),
        "copies": selectors.certified_copies(instrument=instrument),
        "in_force_form": in_force_form,
        "answer": answer,
        "manage": manage,
        "event_form": forms.get("event_form") or EventForm(),
        "original_form": forms.get("original_form") or OriginalForm(),
        "copy_form": forms.get("copy_form") or CertifiedCopyForm(),
    }
    return render(request, "registry/instrument_detail.html", context, status=status)


@login_required
@require_GET
def instrument(request: HttpRequest, code: str) -> HttpResponse:
    """An instrument: parameters, standing of every Party (P16.1, P16.2, P18), records, original and copies (P19)."""
    require(request.user, Permission.VIEW_REGISTRY)
    return _instrument_page(request, _instrument(code))


def _submit(
    request: HttpRequest, instrument: Instrument, form: Any, form_name: str, action: Any, success: str
) -> HttpResponse:
    """Run one of the depositary's forms through its service; on refusal, show the page with the form's errors."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except InvalidInput as error:
            add_service_errors(form, error)
        else:
            messages.success(request, success)
            return redirect("registry:instrument", code=instrument.code)
    return _instrument_page(request, instrument, status=422, **{form_name: form})


@login_required
@require_POST
def record_event(request: HttpRequest, code: str) -> HttpResponse:
    """Record a signature, notification or withdrawal notice received by the depositary."""
    require(request.user, Permission.MANAGE_INSTRUMENTS)
    instrument = _instrument(code)
    return _submit(
        request,
        instrument,
        EventForm(request.POST),
        "event_form",
        lambda data: services.record_event(actor=request.user, instrument=instrument, **data),
        _("The record has been made."),
    )


@login_required
@require_POST
def store_original(request: HttpRequest, code: str) -> HttpResponse:
    """Store the original text of an instrument (P19)."""
    require(request.user, Permission.MANAGE_INSTRUMENTS)
    instrument = _instrument(code)
    return _submit(
        request,
        instrument,
        OriginalForm(request.POST, request.FILES),
        "original_form",
        lambda data: services.store_original(actor=request.user, instrument=instrument, upload=data["file"]),
        _("The original has been stored."),
    )


@login_required
@require_POST
def record_copy(request: HttpRequest, code: str) -> HttpResponse:
    """Record a certified copy sent to a signatory (P19)."""
    require(request.user, Permission.MANAGE_INSTRUMENTS)
    instrument = _instrument(code)
    return _submit(
        request,
        instrument,
        CertifiedCopyForm(request.POST, request.FILES),
        "copy_form",
        lambda data: services.record_certified_copy(
            actor=request.user, instrument=instrument, party=data["party"], sent_on=data["sent_on"], upload=data["file"]
        ),
        _("The certified copy has been recorded."),
    )


def _archived_download(request: HttpRequest, *, sha256: str, file: Any, filename: str) -> HttpResponseBase:
    """A PDF from the archive, hashed again as it is read (P19): the error page, not an altered file, when it no
    longer matches. A file kept before the archive existed (none in the archive) is checked against `sha256`."""
    record = archive.find(sha256=sha256)
    try:
        if record is not None:
            content = archive.read(record)
        else:
            content = archive.read_legacy(name=file.name, sha256=sha256, label=filename)
    except archive.ArchiveDamaged as error:
        return render(
            request,
            "core/error.html",
            {"title": _("Damaged document"), "message": str(error.message)},
            status=error.status_code,
        )
    return FileResponse(io.BytesIO(content), as_attachment=True, filename=filename, content_type="application/pdf")


@login_required
@require_GET
def download_original(request: HttpRequest, code: str) -> HttpResponseBase:
    require(request.user, Permission.VIEW_REGISTRY)
    instrument = _instrument(code)
    if not instrument.original:
        raise Http404
    return _archived_download(
        request, sha256=instrument.original_sha256, file=instrument.original, filename=f"{instrument.code}.pdf"
    )


@login_required
@require_GET
def download_copy(request: HttpRequest, code: str, copy_id: int) -> HttpResponseBase:
    require(request.user, Permission.VIEW_REGISTRY)
    instrument = _instrument(code)
    copy = get_object_or_404(selectors.certified_copies(instrument=instrument), pk=copy_id)
    filename = f"{instrument.code}-{copy.party.code}-{copy.sent_on.isoformat()}.pdf"
    return _archived_download(request, sha256=copy.sha256, file=copy.file, filename=filename)


def _filing_parties(user: Any) -> Any:
    """The Parties a user may file designations for: any for the Secretariat, one's own for a registrar."""
    parties = selectors.parties(states_only=True)
    return parties if user.role == Role.SECRETARIAT else parties.filter(pk=user.body.party_id)


@login_required
@require_http_methods(["GET", "POST"])
def designations(request: HttpRequest) -> HttpResponse:
    """The designated bodies today and the history of notices (P4.2); filing a new notice (P4.2, P4.3)."""
    require(request.user, Permission.VIEW_REGISTRY)
    protocol = selectors.protocol()
    if protocol is None:
        raise Http404
    may_file = request.user.has_perm(Permission.FILE_DESIGNATION)
    form = DesignationForm(request.POST or None, parties=_filing_parties(request.user)) if may_file else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            try:
                notice = services.notify_designation(actor=request.user, instrument=protocol, **form.cleaned_data)
            except InvalidInput as error:
                add_service_errors(form, error)
            else:
                if notice is None:  # another node keeps the registry: the notice is on its way there
                    messages.success(
                        request,
                        _(
                            "The notice has been sent to the Secretariat, which files it and announces it to every "
                            "Party; it appears here with the next directory."
                        ),
                    )
                else:
                    messages.success(request, _("The notice has been filed and announced to every Party."))
                return redirect("registry:designations")
    today = selectors.depositary_today()
    current = selectors.designated_bodies(instrument=protocol, on=today)
    by_party: dict[Party, list[Any]] = {}
    for body in current:
        by_party.setdefault(body.party, []).append(body)
    context = {
        "protocol": protocol,
        "today": today,
        "by_party": sorted(by_party.items(), key=lambda item: item[0].name),
        "history": selectors.designation_notices(instrument=protocol).order_by("-effective_on", "-pk"),
        "form": form,
    }
    return render(
        request, "registry/designations.html", context, status=422 if form is not None and form.errors else 200
    )


@login_required
@require_GET
def announcements(request: HttpRequest) -> HttpResponse:
    """The user's Party's inbox of designation announcements, and who has acknowledged the notices filed (P4.3)."""
    require(request.user, Permission.VIEW_REGISTRY)
    party = request.user.body.party
    sent = None
    if request.user.has_perm(Permission.VIEW_ACKNOWLEDGEMENTS):
        sent = selectors.announcements(viewer=request.user)[:50]
    context = {
        "inbox": selectors.inbox(party=party),
        "sent": sent,
        "may_acknowledge": request.user.has_perm(Permission.ACKNOWLEDGE_ANNOUNCEMENT),
        "now": clock.now(),
    }
    return render(request, "registry/announcements.html", context)


@login_required
@require_POST
def acknowledge(request: HttpRequest, acknowledgement_id: int) -> HttpResponse:
    """Acknowledge an announcement on behalf of one's Party; another Party's is simply not found."""
    acknowledgement = get_object_or_404(selectors.inbox(party=request.user.body.party), pk=acknowledgement_id)
    services.acknowledge(actor=request.user, acknowledgement=acknowledgement)
    messages.success(request, _("Acknowledged."))
    return redirect("registry:announcements")


@login_required
@require_GET
def party_list(request: HttpRequest) -> HttpResponse:
    require(request.user, Permission.VIEW_REGISTRY)
    return render(request, "registry/party_list.html", {"parties": selectors.parties(states_only=True)})


@login_required
@require_http_methods(["GET", "POST"])
def party_profile(request: HttpRequest, code: str) -> HttpResponse:
    """A Party's requirements for incoming requests; its registrar keeps them current."""
    require(request.user, Permission.VIEW_REGISTRY)
    party = _party(code)
    profile = selectors.profile(party=party)
    may_edit = request.user.has_perm(Permission.EDIT_PARTY_PROFILE, party)
    form = None
    if may_edit:
        initial = {field: getattr(profile, field) for field in services.PROFILE_FIELDS}
        form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.update_party_profile(actor=request.user, party=party, **form.cleaned_data)
            except InvalidInput as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("The profile has been saved."))
                return redirect("registry:party", code=party.code)
    context = {
        "party": party,
        "profile": profile,
        "languages": [
            rules.PROFILE_LANGUAGE_LABELS[c] for c in profile.accepted_languages if c in rules.PROFILE_LANGUAGE_LABELS
        ],
        "days": [rules.WEEKDAY_LABELS[d] for d in profile.working_days if d in rules.WEEKDAY_LABELS],
        "form": form,
        "bodies": selectors.bodies(party_code=party.code),
        "may_register_body": request.user.has_perm(Permission.REGISTER_BODY, party),
    }
    return render(
        request, "registry/party_profile.html", context, status=422 if form is not None and form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def body_new(request: HttpRequest, code: str) -> HttpResponse:
    """Register a competent body of a Party (its registrar, or the Secretariat)."""
    party = _party(code)
    require(request.user, Permission.REGISTER_BODY, party)
    form = BodyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.register_body(actor=request.user, party=party, **form.cleaned_data)
        except InvalidInput as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("The body has been registered."))
            return redirect("registry:party", code=party.code)
    return render(
        request, "registry/body_form.html", {"form": form, "party": party}, status=422 if form.errors else 200
    )


@require_GET
def public_status(request: HttpRequest) -> HttpResponse:
    """Public, read-only (R6): each instrument's status by Party, and the bodies designated today."""
    today = selectors.depositary_today()
    instruments = [
        {
            "instrument": instrument,
            "entry_into_force": rules.entry_into_force(selectors.facts(instrument)),
            "table": selectors.status_table(instrument=instrument, on=today),
        }
        for instrument in selectors.instruments()
    ]
    protocol = selectors.protocol()
    designated = selectors.designated_bodies(instrument=protocol, on=today) if protocol else []
    return render(
        request,
        "registry/public.html",
        {
            "instruments": instruments,
            "designated": sorted(designated, key=lambda b: (b.party.name, b.name)),
            "today": today,
        },
    )
