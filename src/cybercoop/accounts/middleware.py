"""Language and time zone for each request, and the second factor of sessions signed in with a password only."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

from cybercoop.accounts import sign_in

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


class SecondFactorMiddleware:
    """Sends a session signed in with a password only back to the sign-in's second step once its user needs one
    (issue 7): they enrolled an authenticator in another session, or their role or CYBERCOOP_SECOND_FACTOR changed.

    A sign-in that needs a code never signs the session in before it (`accounts.sign_in`); this catches the
    sessions whose need came later. Every page then redirects there, until the code is given."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.session.get(sign_in.SIGNED_IN_WITH_KEY) == sign_in.PASSWORD_ONLY and request.user.is_authenticated:
            is_verified = getattr(request.user, "is_verified", None)
            if not (callable(is_verified) and is_verified()):
                back_to = request.get_full_path() if request.method in ("GET", "HEAD") else ""
                step = sign_in.restart(request, next_url=back_to)
                if step is not None:
                    return redirect(sign_in.step_url(step))
        return self.get_response(request)
