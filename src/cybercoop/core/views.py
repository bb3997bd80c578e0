"""Pages every node has: home, the rule catalogue, the glossary, health, and the error pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from cybercoop.core import glossary as glossary_terms
from cybercoop.core import home as home_panels
from cybercoop.core.permissions import Permission, require
from cybercoop.core.rules_ref import catalogue


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's starting page: who they are in the system, what they can do, and the panels the
    domains add (deadlines …, `core.home`)."""
    require(request.user, Permission.VIEW_HOME)
    return render(request, "core/home.html", {"panels": home_panels.panels(request)})


@require_GET
def rules(request: HttpRequest) -> HttpResponse:
    """The rule catalogue in the reader's language (public: the Protocol is a published treaty)."""
    titles = {"protocol": _("Protocol"), "recommendations": _("Recommendations")}
    groups = [
        {
            "title": title,
            "rules": [
                {"id": r.id, "title": r.localized_title(), "text": r.localized_text()}
                for r in catalogue().values()
                if r.document == document
            ],
        }
        for document, title in titles.items()
    ]
    return render(request, "core/rules.html", {"groups": groups})


@require_GET
def glossary(request: HttpRequest) -> HttpResponse:
    """The terms of Article 1 in the reader's language, with the other two (P1; public, like the rules)."""
    entries = [
        {
            "slug": term.slug,
            "term": term.localized_term(),
            "definition": term.localized_definition(),
            # The other two languages' terms: whichever the shown term (or its Russian fallback) is not.
            "others": [(code, text) for code, text in term.term.items() if text != term.localized_term()],
        }
        for term in glossary_terms.terms()
    ]
    return render(request, "core/glossary.html", {"terms": entries})


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and the demo's start-up wait."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "core/error.html", {"title": title, "message": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, _("Bad request"), _("The request could not be understood."))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, _("Access denied"), _("You do not have permission to open this page."))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, _("Page not found"), _("There is no page at this address."))


def server_error(request: HttpRequest) -> HttpResponse:
    request_id = getattr(request, "request_id", "")
    message = _("Something went wrong on our side. Quote this reference to the administrator: %(id)s") % {
        "id": request_id
    }
    # Rendered without the request: whatever failed (the database, say) must not fail the error page too.
    html = loader.render_to_string("core/error.html", {"title": _("Error"), "message": message})
    return HttpResponse(html, status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(
        request,
        403,
        _("The form has expired"),
        _("For your security the form could not be accepted. Go back, reload the page and try again."),
    )
