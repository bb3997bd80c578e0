"""Forms of the registry screens: parsing and field-level validation; the services check the rules."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from cybercoop.core import glossary
from cybercoop.registry import rules
from cybercoop.registry.models import Body, Instrument, Party

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
DATE_ERRORS = {"invalid": _("Enter a date as YYYY-MM-DD.")}
WEEKDAYS = list(rules.WEEKDAY_LABELS.items())
PROFILE_LANGUAGES = list(rules.PROFILE_LANGUAGE_LABELS.items())


class PartyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Party) -> str:
        return obj.name


class BodyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Body) -> str:
        return f"{obj.name} ({obj.code})"


class InstrumentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Instrument) -> str:
        return obj.name


def _state_parties():
    return Party.objects.filter(kind=rules.PartyKind.STATE).order_by("name_ru")


class InstrumentForm(forms.Form):
    """Register an instrument and its parameters (P14, P15, R4)."""

    code = forms.SlugField(label=_("Code"), max_length=64, help_text=_("Latin letters, digits and hyphens."))
    kind = forms.ChoiceField(label=_("Kind"), choices=rules.InstrumentKind.choices)
    amends = InstrumentChoiceField(
        label=_("Amends"),
        queryset=Instrument.objects.all(),
        required=False,
        help_text=_("For an amending protocol only."),
    )
    name_ru = forms.CharField(label=_("Name in Russian"), max_length=300)
    name_kk = forms.CharField(label=_("Name in Kazakh"), max_length=300, required=False)
    name_en = forms.CharField(label=_("Name in English"), max_length=300, required=False)
    adopted_on = forms.DateField(label=_("Opened for signature on"), widget=DATE, error_messages=DATE_ERRORS)
    place = forms.CharField(label=_("Place of signature"), max_length=100, required=False)
    execution_term_days = forms.IntegerField(label=_("Execution term (days)"), initial=30, min_value=1, max_value=365)
    forward_term_days = forms.IntegerField(label=_("Forwarding term (days)"), initial=3, min_value=1, max_value=60)
    urgent_confirmation_hours = forms.IntegerField(
        label=_("Urgent confirmation term (hours)"), initial=72, min_value=1, max_value=720
    )
    notifications_required = forms.IntegerField(
        label=_("Notifications for entry into force"), initial=4, min_value=1, max_value=50
    )
    withdrawal_notice_months = forms.IntegerField(
        label=_("Withdrawal notice (months)"), initial=6, min_value=0, max_value=60
    )


class EventForm(forms.Form):
    """Record what the depositary received from a Party (P16.1, P16.2, P18)."""

    party = PartyChoiceField(label=_("Party"), queryset=Party.objects.none())
    kind = forms.ChoiceField(label=_("Record"), choices=rules.EventKind.choices)
    on = forms.DateField(label=_("Date of receipt"), widget=DATE, error_messages=DATE_ERRORS)
    effective_on = forms.DateField(
        label=_("Withdrawal takes effect on"),
        widget=DATE,
        required=False,
        error_messages=DATE_ERRORS,
        help_text=_("Withdrawals only: at least the instrument's notice period after receipt (P18)."),
    )
    reference = forms.CharField(
        label=_("Reference"), max_length=200, required=False, help_text=_("For example, the note's number.")
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = _state_parties()


class OriginalForm(forms.Form):
    """Store the original text of an instrument (P19)."""

    file = forms.FileField(label=_("Original (PDF)"), help_text=_("A PDF of at most 20 MB. It is never replaced."))


class CertifiedCopyForm(forms.Form):
    """Record a certified copy sent to a signatory (P19)."""

    party = PartyChoiceField(label=_("Sent to"), queryset=Party.objects.none())
    sent_on = forms.DateField(label=_("Sent on"), widget=DATE, error_messages=DATE_ERRORS)
    file = forms.FileField(label=_("Certified copy (PDF)"), help_text=_("A PDF of at most 20 MB."))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = _state_parties()


class InForceForm(forms.Form):
    """Ask whether an instrument binds two Parties on a date (P16.2)."""

    party_a = PartyChoiceField(label=_("First Party"), queryset=Party.objects.none())
    party_b = PartyChoiceField(label=_("Second Party"), queryset=Party.objects.none())
    on = forms.DateField(label=_("On"), widget=DATE, error_messages=DATE_ERRORS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party_a"].queryset = _state_parties()
        self.fields["party_b"].queryset = _state_parties()


class DesignationForm(forms.Form):
    """A Party's notice designating, replacing or withdrawing a competent body (P4.2)."""

    party = PartyChoiceField(label=_("Party"), queryset=Party.objects.none())
    kind = forms.ChoiceField(label=_("Notice"), choices=rules.DesignationKind.choices)
    body = BodyChoiceField(
        label=_("Authorised competent body"),
        queryset=Body.objects.none(),
        help_text=glossary.help_text("competent_body"),
    )
    replaces = BodyChoiceField(
        label=_("Replaces"), queryset=Body.objects.none(), required=False, help_text=_("For a change of body only.")
    )
    effective_on = forms.DateField(label=_("Takes effect on"), widget=DATE, error_messages=DATE_ERRORS)
    reference = forms.CharField(label=_("Reference"), max_length=200, required=False)

    def __init__(self, *args, parties=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = parties if parties is not None else _state_parties()
        if len(self.fields["party"].queryset) == 1:  # a registrar files for one Party only
            self.fields["party"].initial = self.fields["party"].queryset[0]
        bodies = Body.objects.select_related("party").filter(party__in=self.fields["party"].queryset)
        self.fields["body"].queryset = bodies.order_by("party__name_ru", "name_ru")
        self.fields["replaces"].queryset = bodies.order_by("party__name_ru", "name_ru")


class ProfileForm(forms.Form):
    """What a Party's bodies require of an incoming request."""

    accepted_languages = forms.MultipleChoiceField(
        label=_("Languages accepted besides Russian"),
        choices=PROFILE_LANGUAGES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Russian, the working language, is always accepted (P13)."),
    )
    signature_required = forms.BooleanField(label=_("An electronic signature is required"), required=False)
    dual_criminality_required = forms.BooleanField(label=_("Dual criminality is required"), required=False)
    evidence_use_limits = forms.CharField(
        label=_("Limits on the use of evidence"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=4000,
    )
    working_days = forms.TypedMultipleChoiceField(
        label=_("Working days"), choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    office_opens_at = forms.TimeField(label=_("Office opens"), widget=TIME)
    office_closes_at = forms.TimeField(label=_("Office closes"), widget=TIME)
    contact_name = forms.CharField(label=_("24/7 contact point"), max_length=200, required=False)
    contact_phone = forms.CharField(label=_("24/7 telephone"), max_length=50, required=False)
    contact_email = forms.EmailField(label=_("24/7 e-mail"), required=False)


class BodyForm(forms.Form):
    """Register a competent body of a Party (R5, R7)."""

    code = forms.CharField(label=_("Code"), max_length=32, help_text=_("For example, KZ-MIA."))
    kind = forms.ChoiceField(label=_("Kind"), choices=rules.BodyKind.choices)
    name_ru = forms.CharField(label=_("Name in Russian"), max_length=300)
    name_kk = forms.CharField(label=_("Name in Kazakh"), max_length=300, required=False)
    name_en = forms.CharField(label=_("Name in English"), max_length=300, required=False)
    time_zone = forms.ChoiceField(
        label=_("Time zone"), required=False, help_text=_("Leave empty to use the Party's time zone.")
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        zones = sorted(z for z in zoneinfo.available_timezones() if z.startswith(("Asia/", "Europe/")))
        self.fields["time_zone"].choices = [("", "—")] + [(z, z) for z in zones]
