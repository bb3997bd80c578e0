"""Middleware shared by every domain."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader

from cybercoop.core import contention
from cybercoop.core.context import new_request_id, request_context

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Gives each request an id, used in log lines and audit entries and returned in a header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_context(new_request_id()) as request_id:
            request.request_id = request_id  # type: ignore[attr-defined]
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            return response


class PermissionsPolicyMiddleware:
    """Sends `Permissions-Policy` (settings.PERMISSIONS_POLICY), which Django's SecurityMiddleware does not: the
    browser features no page of a node uses stay off, for the node's pages and for anything injected into them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = str(getattr(settings, "PERMISSIONS_POLICY", ""))
        if policy:
            response.headers.setdefault("Permissions-Policy", policy)
        return response


class ContentionMiddleware:
    """A page whose transaction the database gave up on because of concurrent work (`core.contention`) answers 503,
    saying that nothing was changed and to try again, with Retry-After; any other error goes on to the 500 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not contention.is_contention(exception):
            return None
        # Rendered without the request, as the 500 page is: its context processors would query the database again.
        html = loader.render_to_string("core/error.html", {"title": contention.TITLE, "message": contention.MESSAGE})
        return contention.busy(request, exception, HttpResponse(html, status=503))
