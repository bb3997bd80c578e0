"""Language and time zone for each request."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

SUPPORTED = {code for code, _name in settings.LANGUAGES}


def language_for(request: HttpRequest) -> str:
    """The signed-in user's language; else the one chosen on the sign-in page; else Russian (P13).

    Pages do not follow the browser's Accept-Language: the working language is Russian, and a user
    switches explicitly. API callers without a session may ask for a language with Accept-Language.
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.language in SUPPORTED:
        return str(user.language)
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if chosen in SUPPORTED:
        return chosen
    if request.path.startswith("/api/"):
        accepted = translation.get_language_from_request(request)
        if accepted in SUPPORTED:
            return accepted
    return str(settings.LANGUAGE_CODE)


class UserLocaleMiddleware:
    """Activates the language (see `language_for`) and the time zone of the user's body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = language_for(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(user.body.zone)
        else:
            timezone.deactivate()
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", translation.get_language())
        patch_vary_headers(response, ("Cookie", "Accept-Language") if request.path.startswith("/api/") else ("Cookie",))
        return response
