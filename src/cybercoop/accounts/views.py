"""Sign-in (password, then the second factor), sign-out, the language switch, the second-factor page, the API-token
screen and the notifications page."""

from __future__ import annotations

import base64
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cybercoop.accounts import rules, selectors, services, sign_in
from cybercoop.accounts.forms import ConfirmEnrolmentForm, LanguageForm, SecondFactorForm, SignInForm, TokenForm
from cybercoop.core.errors import InvalidInput
from cybercoop.core.forms import add_service_errors
from cybercoop.core.permissions import Permission, require


class SignInView(LoginView):
    """The sign-in page; every failure is an audit entry, and repeated failures lock out (django-axes).

    A right password signs in at once only a user who has no authenticator and needs none; anyone else goes on
    to the second step (`sign_in_code`, `sign_in_enrol`), signed in as nobody until then (issue 7)."""

    form_class = SignInForm
    template_name = "accounts/sign_in.html"
    redirect_authenticated_user = True

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        waiting = sign_in.pending(request)
        if waiting is not None:
            step = selectors.sign_in_step(user=waiting.user)
            if step is not None:
                return redirect(sign_in.step_url(step))
        return super().get(request, *args, **kwargs)

    def form_valid(self, form: SignInForm) -> HttpResponse:
        user = form.get_user()
        step = selectors.sign_in_step(user=user)
        if step is None:
            sign_in.complete(self.request, user=user, backend=user.backend)
            response: HttpResponse = HttpResponseRedirect(self.get_success_url())
        else:
            sign_in.begin(self.request, user=user, backend=user.backend, next_url=self.get_success_url())
            response = redirect(sign_in.step_url(step))
        # The second step speaks the user's language already.
        _set_language_cookie(response, user.language)
        return response

    def form_invalid(self, form: SignInForm) -> HttpResponse:
        # Only attempts whose credentials were actually checked count; a form refused field by field
        # (empty, too long, NUL characters) never reached authentication.
        if not form.has_error("username") and not form.has_error("password"):
            services.record_failed_sign_in(
                username=form.cleaned_data["username"],
                locked_out=bool(getattr(self.request, "axes_locked_out", False)),
            )
        return super().form_invalid(form)


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """What django-axes shows after too many failed sign-ins (AXES_LOCKOUT_CALLABLE)."""
    sign_in.clear(request)  # a lockout also ends a sign-in waiting for its code
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    lockout = _(
        "Too many failed sign-in attempts for this user name. Try again in %(minutes)d minutes, "
        "or ask your body's registrar."
    ) % {"minutes": minutes}
    return render(request, "accounts/sign_in.html", {"form": SignInForm(request), "lockout": lockout}, status=429)


def _finish_sign_in(request: HttpRequest, waiting: sign_in.Pending, *, device: Any = None) -> HttpResponse:
    """Sign the waiting user in and take them where they were going."""
    sign_in.complete(request, user=waiting.user, backend=waiting.backend, device=device)
    target = waiting.next_url
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = resolve_url(settings.LOGIN_REDIRECT_URL)
    response = redirect(target)
    _set_language_cookie(response, waiting.user.language)
    return response


def _waiting_for(request: HttpRequest, step: rules.SignInStep) -> sign_in.Pending | HttpResponse:
    """The sign-in waiting at `step`; otherwise where to go instead (home, the sign-in page, the other step)."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    waiting = sign_in.pending(request)
    if waiting is None:
        return redirect(settings.LOGIN_URL)
    needed = selectors.sign_in_step(user=waiting.user)
    if needed is None:  # the authenticator was removed meanwhile, and none is required
        return _finish_sign_in(request, waiting)
    if needed != step:
        return redirect(sign_in.step_url(needed))
    return waiting


def _code_refused(request: HttpRequest, user: Any) -> bool:
    """Count a wrong code like a wrong password (django-axes, towards the lockout) and audit it; True if the
    account is now locked out."""
    user_login_failed.send(sender=__name__, credentials={"username": user.username}, request=request)
    locked = bool(getattr(request, "axes_locked_out", False))
    services.record_failed_sign_in(username=user.username, locked_out=locked, stage="second_factor")
    return locked


@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """The sign-in's second step: a code of the user's authenticator (issue 7)."""
    waiting = _waiting_for(request, rules.SignInStep.CODE)
    if isinstance(waiting, HttpResponse):
        return waiting
    if AxesProxyHandler.is_locked(request, {"username": waiting.user.username}):
        return locked_out(request)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.verify_second_factor(user=waiting.user, code=form.cleaned_data["code"])
        except InvalidInput as error:
            if _code_refused(request, waiting.user):
                return locked_out(request)
            add_service_errors(form, error)
        else:
            return _finish_sign_in(request, waiting, device=device)
    context = {"form": form, "person": waiting.user}
    return render(request, "accounts/sign_in_code.html", context, status=422 if form.errors else 200)


def _enrolment_context(user: Any, form: ConfirmEnrolmentForm) -> dict[str, Any]:
    enrolment = selectors.pending_enrolment(user=user)
    return {
        "form": form,
        "enrolled": selectors.has_second_factor(user=user),
        "enrolment": enrolment,
        # An <img> from a data: URL: the page's CSP allows those, not inline SVG styles.
        "qr_src": "data:image/svg+xml;base64," + base64.b64encode(enrolment.qr_svg.encode()).decode()
        if enrolment
        else "",
    }


@require_http_methods(["GET", "POST"])
def sign_in_enrol(request: HttpRequest) -> HttpResponse:
    """The sign-in's second step for a user who must have an authenticator and has none: enrol one, and its first
    code signs the session in (issue 7)."""
    waiting = _waiting_for(request, rules.SignInStep.ENROL)
    if isinstance(waiting, HttpResponse):
        return waiting
    if AxesProxyHandler.is_locked(request, {"username": waiting.user.username}):
        return locked_out(request)
    form = ConfirmEnrolmentForm(request.POST if request.POST.get("action") == "confirm" else None)
    if request.method == "POST" and request.POST.get("action") == "start":
        services.start_enrolment(user=waiting.user)
        return redirect("accounts:sign_in_enrol")
    if request.method == "POST" and form.is_valid():
        try:
            device = services.confirm_enrolment(user=waiting.user, code=form.cleaned_data["code"])
        except InvalidInput as error:
            add_service_errors(form, error)
        else:
            return _finish_sign_in(request, waiting, device=device)
    context = {**_enrolment_context(waiting.user, form), "person": waiting.user}
    return render(request, "accounts/sign_in_enrol.html", context, status=422 if form.errors else 200)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Sign out (POST only, so a link elsewhere cannot sign a user out)."""
    if request.user.is_authenticated:
        services.record_sign_out(user=request.user)
    logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


def _set_language_cookie(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=True,
    )


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language: kept on the user (across sessions and devices) and in a cookie."""
    form = LanguageForm(request.POST)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("core:home")
    if not form.is_valid():
        return render(
            request,
            "core/error.html",
            {"title": _("Unknown language"), "message": form.errors["language"][0]},
            status=400,
        )
    language = form.cleaned_data["language"]
    try:
        if request.user.is_authenticated:
            services.set_language(user=request.user, language=language)
        else:
            services.check_language(language)
    except InvalidInput as error:
        return render(
            request,
            "core/error.html",
            {"title": _("Unknown language"), "message": error.errors["language"][0]},
            status=400,
        )
    response = HttpResponseRedirect(target)
    _set_language_cookie(response, language)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def second_factor(request: HttpRequest) -> HttpResponse:
    """The user's authenticator app (TOTP): enrol one, or replace it, with its QR code and a first code. The same
    device opens their sign-ins and confirms their signatures (documents, P6.5)."""
    require(request.user, Permission.VIEW_HOME)
    form = ConfirmEnrolmentForm(request.POST if request.POST.get("action") == "confirm" else None)
    if request.method == "POST" and request.POST.get("action") == "start":
        services.start_enrolment(user=request.user)
        return redirect("accounts:second_factor")
    if request.method == "POST" and form.is_valid():
        try:
            device = services.confirm_enrolment(
                user=request.user, code=form.cleaned_data["code"], current_code=form.cleaned_data["current_code"]
            )
        except InvalidInput as error:
            add_service_errors(form, error)
        else:
            sign_in.mark_verified(request, device)
            messages.success(
                request, _("Your authenticator is enrolled: its codes now confirm your sign-ins and your signatures.")
            )
            return redirect("accounts:second_factor")
    context = {
        **_enrolment_context(request.user, form),
        "required": selectors.second_factor_required(user=request.user),
    }
    return render(request, "accounts/second_factor.html", context, status=422 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """List, issue and revoke one's own API tokens; a new token is shown once. Issuing one needs a session that
    gave every factor the account needs (a token is the API's second credential)."""
    require(request.user, Permission.MANAGE_OWN_TOKENS)
    form = TokenForm(request.POST if request.method == "POST" else None)  # an empty POST is still a submitted form
    issued = None
    verified = sign_in.is_fully_verified(request)
    if request.method == "POST" and not verified:
        form.is_valid()  # the form's own errors too, and cleaned_data for add_error
        form.add_error(
            None,
            _("Issuing a token needs a sign-in with the code of your authenticator: sign out, then sign in again."),
        )
    elif request.method == "POST" and form.is_valid():
        try:
            _token, issued = services.issue_api_token(
                user=request.user,
                name=form.cleaned_data["name"],
                valid_days=form.cleaned_data["valid_days"],
                scope=form.cleaned_data["scope"],
            )
        except InvalidInput as error:
            add_service_errors(form, error)
        else:
            form = TokenForm()
    status = 422 if form.errors else 200
    context = {"form": form, "issued": issued, "tokens": selectors.tokens_of(user=request.user), "verified": verified}
    return render(request, "accounts/tokens.html", context, status=status)


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of one's own tokens; another user's token is simply not found."""
    require(request.user, Permission.MANAGE_OWN_TOKENS)
    token = get_object_or_404(selectors.tokens_of(user=request.user), pk=token_id)
    services.revoke_api_token(token=token, actor=request.user)
    messages.success(request, _("The token “%(name)s” has been revoked.") % {"name": token.name})
    return redirect("accounts:tokens")


NOTIFICATIONS_PAGE_SIZE = 50


@login_required
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    """The user's notifications, newest first, unread ones highlighted."""
    require(request.user, Permission.VIEW_OWN_NOTIFICATIONS)
    page = Paginator(selectors.notifications_of(user=request.user), NOTIFICATIONS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "accounts/notifications.html", {"page": page})


@login_required
@require_POST
def read_notification(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one of one's own notifications read and follow its link, if it is a path on this site."""
    require(request.user, Permission.VIEW_OWN_NOTIFICATIONS)
    notification = get_object_or_404(selectors.notifications_of(user=request.user), pk=notification_id)
    services.mark_read(user=request.user, notification=notification)
    # Never an open redirect: an absolute or scheme-relative link lands on the notifications page.
    if notification.url and rules.is_local_url(notification.url):
        return redirect(notification.url)
    return redirect("accounts:notifications")


@login_required
@require_POST
def read_all_notifications(request: HttpRequest) -> HttpResponse:
    """Mark every notification of one's own as read."""
    require(request.user, Permission.VIEW_OWN_NOTIFICATIONS)
    count = services.mark_all_read(user=request.user)
    if count:
        messages.success(request, _("All notifications have been marked as read."))
    return redirect("accounts:notifications")
