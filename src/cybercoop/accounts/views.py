"""Sign-in, sign-out, the language switch, the API-token screen and the notifications page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cybercoop.accounts import rules, selectors, services
from cybercoop.accounts.forms import LanguageForm, SignInForm, TokenForm
from cybercoop.core.errors import InvalidInput
from cybercoop.core.forms import add_service_errors
from cybercoop.core.permissions import Permission, require


class SignInView(LoginView):
    """The sign-in page; every failure is an audit entry, and repeated failures lock out (django-axes)."""

    form_class = SignInForm
    template_name = "accounts/sign_in.html"
    redirect_authenticated_user = True

    def form_valid(self, form: SignInForm) -> HttpResponse:
        response = super().form_valid(form)
        user = form.get_user()
        services.record_sign_in(user=user)
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
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    lockout = _(
        "Too many failed sign-in attempts for this user name. Try again in %(minutes)d minutes, "
        "or ask your body's registrar."
    ) % {"minutes": minutes}
    return render(request, "accounts/sign_in.html", {"form": SignInForm(request), "lockout": lockout}, status=429)


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
def tokens(request: HttpRequest) -> HttpResponse:
    """List, issue and revoke one's own API tokens; a new token is shown once."""
    require(request.user, Permission.MANAGE_OWN_TOKENS)
    form = TokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            _token, issued = services.issue_api_token(
                user=request.user, name=form.cleaned_data["name"], valid_days=form.cleaned_data["valid_days"]
            )
        except InvalidInput as error:
            add_service_errors(form, error)
        else:
            form = TokenForm()
    status = 422 if form.errors else 200
    context = {"form": form, "issued": issued, "tokens": selectors.tokens_of(user=request.user)}
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
