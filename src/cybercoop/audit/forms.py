"""The audit log's filter form."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cybercoop.audit import rules


class EntryFilterForm(forms.Form):
    """Filters of the audit log screen; dates are in the viewer's time zone."""

    action = forms.ChoiceField(label=_("Action"), required=False)
    actor = forms.CharField(label=_("User name"), required=False, max_length=150)
    body = forms.CharField(label=_("Body code"), required=False, max_length=32, help_text=_("For example, KZ-MIA."))
    object_type = forms.CharField(label=_("Object type"), required=False, max_length=64)
    object_id = forms.CharField(label=_("Object"), required=False, max_length=64)
    since = forms.DateField(
        label=_("From (date)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("Enter a date as YYYY-MM-DD.")},
    )
    until = forms.DateField(
        label=_("To (date, inclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("Enter a date as YYYY-MM-DD.")},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", _("All actions"))] + [
            (action.value, str(label)) for action, label in rules.ACTION_LABELS.items()
        ]
        self.fields["action"].error_messages["invalid_choice"] = _("Choose an action from the list.")

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end date is before the start date."))
        return data

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The date range as instants: from the start of `since` to the end of `until`, local time."""
        zone = timezone.get_current_timezone()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        start = dt.datetime.combine(since, dt.time.min, tzinfo=zone) if since else None
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=zone) if until else None
        return start, end
