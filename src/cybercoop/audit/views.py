"""The auditor's screens: the log with filters, and a check of the chain."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from cybercoop.audit import selectors, services
from cybercoop.audit.forms import EntryFilterForm
from cybercoop.audit.rules import AuditAction
from cybercoop.core.permissions import Permission, require

PAGE_SIZE = 50


@login_required
@require_GET
def log(request: HttpRequest) -> HttpResponse:
    """The audit log, newest first, filtered; reading it is itself audited."""
    require(request.user, Permission.VIEW_AUDIT_LOG)
    form = EntryFilterForm(request.GET or None)
    filters = selectors.EntryFilter()
    if form.is_bound and form.is_valid():
        since, until = form.bounds()
        filters = selectors.EntryFilter(
            action=form.cleaned_data["action"],
            actor=form.cleaned_data["actor"].strip(),
            body=form.cleaned_data["body"].strip(),
            object_type=form.cleaned_data["object_type"].strip(),
            object_id=form.cleaned_data["object_id"].strip(),
            since=since,
            until=until,
        )
    entries = selectors.visible_entries(viewer=request.user, filters=filters)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    if page.number == 1:
        services.record(
            action=AuditAction.LOG_VIEWED,
            actor=request.user,
            data={k: str(v) for k, v in filters.__dict__.items() if v not in ("", None)},
        )
    query = request.GET.copy()
    query.pop("page", None)
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request,
        "audit/log.html",
        {"form": form, "page": page, "query": query.urlencode()},
        status=status,
    )


@login_required
@require_POST
def verify(request: HttpRequest) -> HttpResponse:
    """Walk the whole chain now and show the result."""
    require(request.user, Permission.VERIFY_AUDIT_CHAIN)
    report = services.verify_chain(actor=request.user)
    return render(request, "audit/verify.html", {"report": report, "message": report.message()})
