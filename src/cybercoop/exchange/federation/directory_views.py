"""The federation's directory endpoint, GET /federation/v1/directory: the newest signed directory this node
holds, for every node to fetch without signing in (the signature, checked against the pinned key, is what
makes it trustworthy, not the channel)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils.http import parse_etags
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from cybercoop.exchange.federation import directory as federation_directory


@require_GET
def directory(request: HttpRequest) -> HttpResponse:
    """The latest directory as a compact JWS (application/jose), or 304 when the asker holds it already
    (If-None-Match with its entity tag); 404 with {"detail"} before any was published. Never cached
    without asking again: a new version must reach every node at its next fetch."""
    copy = federation_directory.latest()
    response: HttpResponse
    if copy is None:
        response = JsonResponse({"detail": str(_("No directory has been published yet."))}, status=404)
    else:
        tag = federation_directory.etag(copy)
        if tag in parse_etags(request.headers.get("If-None-Match", "")):
            response = HttpResponseNotModified()
        else:
            response = HttpResponse(copy.token, content_type=federation_directory.MEDIA_TYPE)
        response["ETag"] = tag
    response["Cache-Control"] = "no-cache"
    return response
