"""The documents domain's pages: enrolling the second factor (TOTP) that signing asks for (P6.5)."""

from __future__ import annotations

import base64

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from cybercoop.core.errors import InvalidInput
from cybercoop.core.forms import add_service_errors
from cybercoop.core.permissions import Permission, require
from cybercoop.documents import otp


class ConfirmEnrolmentForm(forms.Form):
    """The first code of the new authenticator, and one of the current one when it replaces it."""

    code = forms.CharField(
        label=gettext_lazy("Code from the app"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    current_code = forms.CharField(
        label=gettext_lazy("Code from your current authenticator"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


@login_required
@require_http_methods(["GET", "POST"])
def second_factor(request: HttpRequest) -> HttpResponse:
    """Start enrolling an authenticator app, scan its QR code, and confirm it with a first code."""
    require(request.user, Permission.VIEW_HOME)
    form = ConfirmEnrolmentForm(request.POST if request.POST.get("action") == "confirm" else None)
    if request.method == "POST" and request.POST.get("action") == "start":
        otp.start_enrolment(request.user)
        return redirect("documents:second_factor")
    if request.method == "POST" and form.is_valid():
        try:
            otp.confirm_enrolment(
                request.user, form.cleaned_data["code"], current_code=form.cleaned_data["current_code"]
            )
        except InvalidInput as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Your authenticator is enrolled: its codes now confirm your signatures."))
            return redirect("documents:second_factor")
    enrolment = otp.pending_enrolment(request.user)
    context = {
        "form": form,
        "enrolled": otp.has_second_factor(request.user),
        "enrolment": enrolment,
        # An <img> from a data: URL: the page's CSP allows those, not inline SVG styles.
        "qr_src": "data:image/svg+xml;base64," + base64.b64encode(enrolment.qr_svg.encode()).decode()
        if enrolment
        else "",
    }
    return render(request, "documents/second_factor.html", context, status=422 if form.errors else 200)
