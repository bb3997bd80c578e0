"""Forms of the accounts screens: field-level validation only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from cybercoop.accounts.rules import TokenScope


class SignInForm(AuthenticationForm):
    """User name and password, with messages in the user's language."""

    error_messages = {
        "invalid_login": _(
            "Wrong user name or password. Both are case-sensitive; check the keyboard layout and Caps Lock."
        ),
        "inactive": _("This account is disabled. Ask your body's registrar."),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("User name")
        self.fields["username"].error_messages["required"] = _("Enter your user name.")
        self.fields["password"].label = _("Password")
        self.fields["password"].error_messages["required"] = _("Enter your password.")


class LanguageForm(forms.Form):
    """The language switch in the header."""

    language = forms.CharField(max_length=16, error_messages={"required": _("Choose a language.")})
    next = forms.CharField(required=False, max_length=2000)


class TokenForm(forms.Form):
    """Issue a personal API token."""

    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("For example, the name of the program that will use it."),
        error_messages={"required": _("Give the token a name, so you can recognise it later.")},
    )
    valid_days = forms.IntegerField(
        label=_("Valid for (days)"),
        required=False,
        min_value=1,
        max_value=366,
        help_text=_("Leave empty for a token that is valid until you revoke it."),
        error_messages={
            "invalid": _("Enter a whole number of days."),
            "min_value": _("A token may be valid from 1 to 366 days."),
            "max_value": _("A token may be valid from 1 to 366 days."),
        },
    )
    scope = forms.ChoiceField(
        label=_("What the token may do"),
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        required=False,  # not chosen: read only
        widget=forms.RadioSelect,
        help_text=_("Least privilege: a token that only reads cannot change anything, even if it is stolen."),
    )

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or TokenScope.READ


def _code_field(label: Any, *, required: bool = True, autofocus: bool = False) -> forms.CharField:
    attrs = {"autocomplete": "one-time-code", "inputmode": "numeric"}
    if autofocus:
        attrs["autofocus"] = "autofocus"
    return forms.CharField(
        label=label,
        max_length=12,
        required=required,
        widget=forms.TextInput(attrs=attrs),
        error_messages={"required": _("Enter the code from your authenticator app.")},
    )


class SecondFactorForm(forms.Form):
    """The sign-in's second step: a code of the user's authenticator."""

    code = _code_field(_("Code from the app"), autofocus=True)


class ConfirmEnrolmentForm(forms.Form):
    """The first code of the new authenticator, and one of the current one when it replaces it."""

    code = _code_field(_("Code from the app"))
    current_code = _code_field(_("Code from your current authenticator"), required=False)
