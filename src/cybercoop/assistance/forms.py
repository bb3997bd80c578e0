"""Forms of the request screens: parsing and field-level validation only; the services check the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cybercoop.assistance import rules, selectors, services
from cybercoop.assistance.models import Case, ReleasedInformation
from cybercoop.core import glossary
from cybercoop.exchange.rules import STATE_SECRET, STATE_SECRET_LABEL, Marking
from cybercoop.registry.models import Body, Instrument, Party
from cybercoop.registry.rules import PROFILE_LANGUAGE_LABELS, InstrumentKind, PartyKind
from cybercoop.registry.selectors import PROTOCOL_CODE

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATE_ERRORS = {"invalid": _("Enter a date as YYYY-MM-DD.")}
TEXT = forms.Textarea(attrs={"rows": 4})
SHORT_TEXT = forms.Textarea(attrs={"rows": 2})
YES, NO = "yes", "no"


class BodyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Body) -> str:
        return f"{obj.name} — {obj.party.name}"


class InstrumentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Instrument) -> str:
        return obj.name


class MultipleFileInput(forms.ClearableFileInput):
    """A file input that takes several files (Django's "Uploading multiple files")."""

    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field; cleaned to a list (empty when none was chosen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        items = data if isinstance(data, list | tuple) else [data]
        return [cleaned for cleaned in (single(item, initial) for item in items) if cleaned]


def attachments_field() -> MultipleFileField:
    return MultipleFileField(
        label=_("Attachments"),
        help_text=_("PDF, PNG, JPEG, text, ZIP, DOCX or XLSX, at most 25 MB each."),
    )


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


# --- the inbox and outbox filters ------------------------------------------------------------------------


class CaseFilterForm(forms.Form):
    """The filters of the inbox and the outbox (GET), mapped to `selectors.CaseFilter`."""

    state = forms.ChoiceField(label=_("Case state"), required=False)
    urgent = forms.ChoiceField(
        label=_("Urgency"),
        required=False,
        choices=[("", _("Any")), (YES, _("Urgent only")), (NO, _("Not urgent"))],
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    party = forms.ChoiceField(label=_("Party of the other side"), required=False)
    text = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        help_text=_("Subject, substance, numbers or identifiers."),
    )

    def __init__(self, *args: Any, incoming: bool, viewer: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        states = [
            (value, label)
            for value, label in rules.CaseState.choices
            if not incoming or value not in rules.DRAFT_STATES | {rules.CaseState.DISCARDED}
        ]
        self.fields["state"].choices = [("", _("Any")), *states]
        parties = Party.objects.filter(kind=PartyKind.STATE).exclude(pk=viewer.body.party_id).order_by("name_ru")
        self.fields["party"].choices = [("", _("Any")), *((p.code, p.name) for p in parties)]

    def filters(self) -> selectors.CaseFilter:
        """The filters chosen (none when the form is unbound or invalid)."""
        if not self.is_bound or not self.is_valid():
            return selectors.CaseFilter()
        data = self.cleaned_data
        return selectors.CaseFilter(
            state=data["state"],
            urgent={YES: True, NO: False}.get(data["urgent"]),
            overdue=data["overdue"],
            party=data["party"],
            text=data["text"].strip(),
        )


# --- the draft (P6.2) -----------------------------------------------------------------------------------------


class DraftForm(forms.Form):
    """A request's addressee, legal basis and the fields P6.2 requires; the services check the registry."""

    requested_body = BodyChoiceField(
        label=_("Requested body"),
        queryset=Body.objects.none(),
        help_text=glossary.help_text("competent_body"),
    )
    instrument = InstrumentChoiceField(
        label=_("Legal basis"),
        queryset=Instrument.objects.none(),
        help_text=_("The Protocol, or another instrument in force between the two Parties (P14)."),
    )
    subject = forms.CharField(label=_("Subject"), max_length=300)
    scope = forms.ChoiceField(
        label=_("What the request concerns (Article 3)"),
        choices=rules.Scope.choices,
        widget=forms.RadioSelect,
        help_text=glossary.help_text("it_crime"),
    )
    purpose = forms.CharField(label=_("Purpose"), widget=TEXT, max_length=5000)
    grounds = forms.CharField(label=_("Grounds"), widget=TEXT, max_length=5000)
    substance = forms.CharField(label=_("Substance of the matter"), widget=forms.Textarea(attrs={"rows": 6}))
    assistance_kinds = forms.MultipleChoiceField(
        label=_("Assistance sought (P5.2)"),
        choices=rules.AssistanceKind.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    assistance_sought = forms.CharField(
        label=_("Assistance sought"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Say exactly what the requested body is to do."),
    )
    identifiers = forms.CharField(
        label=_("Identifiers of the data or persons sought"),
        widget=TEXT,
        required=False,
        help_text=_("Accounts, IP addresses, domains, URLs, telephone numbers, names."),
    )
    execution_term_days = forms.IntegerField(
        label=_("Execution term (days)"),
        required=False,
        min_value=1,
        max_value=365,
        help_text=_("Leave empty for the instrument's term: 30 days from receipt under the Protocol (P7.2)."),
    )
    other_information = forms.CharField(label=_("Other useful information"), widget=TEXT, required=False)
    offence = forms.CharField(label=_("Offence under the law of your Party"), max_length=300, required=False)
    dual_criminality_confirmed = forms.BooleanField(
        label=_("The act is a crime under the law of both Parties"), required=False
    )
    annex_language = forms.ChoiceField(label=_("Language of an annex"), required=False)
    urgent = forms.BooleanField(
        label=_("Urgent (P6.4)"),
        required=False,
        help_text=_("Sent at once, before the written approval; the head or a deputy confirms it within 72 hours."),
    )
    # A state secret is in the list so that whoever reaches for it is told where it goes instead (P10.3).
    marking = forms.ChoiceField(
        label=_("Marking"), choices=[*Marking.choices, (STATE_SECRET, STATE_SECRET_LABEL)], initial=Marking.OFFICIAL
    )
    purposes = forms.CharField(
        label=_("Permitted purposes of the information"),
        widget=SHORT_TEXT,
        required=False,
        help_text=_("One per line. Leave empty to use the purpose above."),
    )

    def __init__(self, *args: Any, viewer: Any, case: Case | None = None, **kwargs: Any) -> None:
        if case is not None:
            kwargs.setdefault("initial", self.initial_from(case))
        super().__init__(*args, **kwargs)
        self.fields["requested_body"].queryset = (
            Body.objects.select_related("party")
            .filter(party__kind=PartyKind.STATE)
            .exclude(party_id=viewer.body.party_id)
            .order_by("party__name_ru", "name_ru")
        )
        instruments = Instrument.objects.exclude(kind=InstrumentKind.AMENDMENT).order_by("adopted_on", "code")
        self.fields["instrument"].queryset = instruments
        if case is None:
            protocol = instruments.filter(code=PROTOCOL_CODE).first()
            self.fields["instrument"].initial = protocol.pk if protocol else None
        self.fields["annex_language"].choices = [("", _("Russian, or no annex")), *PROFILE_LANGUAGE_LABELS.items()]

    @staticmethod
    def initial_from(case: Case) -> dict[str, Any]:
        return {
            "requested_body": case.requested_body_id,
            "instrument": case.instrument_id,
            **{name: getattr(case, name) for name in DraftForm.base_fields if name not in _NOT_COPIED},
            "purposes": "\n".join(case.purposes),
        }

    def clean_purposes(self) -> list[str]:
        return _lines(self.cleaned_data["purposes"])

    def draft_fields(self) -> dict[str, Any]:
        """The cleaned fields as the draft services take them (with `requested_body` and `instrument`)."""
        data = dict(self.cleaned_data)
        data["assistance_kinds"] = list(data["assistance_kinds"])
        return data


_NOT_COPIED = ("requested_body", "instrument", "purposes")


# --- one small form per action ---------------------------------------------------------------------------------


class ActionForm(forms.Form):
    """An action on a case; some fields depend on the case (the bodies a request may go on to)."""

    def __init__(self, *args: Any, case: Case, actor: Any = None, **kwargs: Any) -> None:
        self.case = case
        self.actor = actor
        super().__init__(*args, **kwargs)

    def arguments(self) -> dict[str, Any]:
        """The cleaned fields as the service takes them."""
        return dict(self.cleaned_data)


class NoFieldsForm(ActionForm):
    """An action that needs nothing but the click (submit, discard, confirm)."""


class UploadForm(ActionForm):
    """An action that may carry attachments (approve and send, send urgently)."""

    attachments = attachments_field()

    def arguments(self) -> dict[str, Any]:
        return {"uploads": self.cleaned_data["attachments"]}


class SignedActionForm(ActionForm):
    """An action that sends a signed document (P6.5): the signer's TOTP code, asked only of a user who signs
    (the node requires signatures, or they hold a signing certificate)."""

    code = forms.CharField(
        label=_("Confirmation code (TOTP)"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}),
        help_text=_("The code your authenticator app shows: the document is signed with your certificate (P6.5)."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.actor is None or not services.signing_required(actor=self.actor, case=self.case):
            del self.fields["code"]
        else:  # the code comes last, under what it signs
            self.order_fields([*(name for name in self.fields if name != "code"), "code"])

    def arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if "attachments" in data:
            data["uploads"] = data.pop("attachments")
        return data


class ApproveForm(SignedActionForm):
    """Approve and send: attachments, and the code that signs the request where it is signed (P6.3, P6.5)."""

    attachments = attachments_field()


class ReturnForm(ActionForm):
    comment = forms.CharField(label=_("What must change"), widget=TEXT, max_length=5000)


class ReceiptForm(ActionForm):
    received_at = forms.DateTimeField(
        label=_("Received at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Leave empty for now. Your body's local time; the execution term runs from it (P7.2)."),
        error_messages={"invalid": _("Enter a date and time as YYYY-MM-DD HH:MM.")},
    )


def forward_targets(case: Case) -> Any:
    """The bodies a request may be forwarded to: the other bodies of the executing body's State (P7.4)."""
    return (
        Body.objects.select_related("party")
        .filter(party_id=case.handling_body.party_id)
        .exclude(pk=case.handling_body_id)
        .order_by("name_ru")
    )


class ForwardForm(ActionForm):
    to_body = BodyChoiceField(
        label=_("Forward to"),
        queryset=Body.objects.none(),
        help_text=_("A competent body of your own State (P7.4)."),
    )
    reason = forms.CharField(label=_("Reason"), widget=TEXT, max_length=5000)

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, case=case, **kwargs)
        self.fields["to_body"].queryset = forward_targets(case)


class DelayForm(ActionForm):
    reason = forms.CharField(label=_("Circumstances"), widget=TEXT, max_length=5000)
    expected_on = forms.DateField(
        label=_("Expected execution date"), widget=DATE, required=False, error_messages=DATE_ERRORS
    )


class InformationRequestForm(ActionForm):
    questions = forms.CharField(label=_("Questions"), widget=TEXT, max_length=20000)
    attachments = attachments_field()

    def arguments(self) -> dict[str, Any]:
        return {"questions": self.cleaned_data["questions"], "uploads": self.cleaned_data["attachments"]}


class InformationReplyForm(ActionForm):
    answer = forms.CharField(label=_("Answer"), widget=TEXT, max_length=20000)
    attachments = attachments_field()

    def arguments(self) -> dict[str, Any]:
        return {"answer": self.cleaned_data["answer"], "uploads": self.cleaned_data["attachments"]}


class PostponementForm(SignedActionForm):
    until = forms.DateField(label=_("Postpone until"), widget=DATE, error_messages=DATE_ERRORS)
    reason = forms.CharField(label=_("Reason"), widget=TEXT, max_length=5000)


class ConditionsForm(SignedActionForm):
    conditions = forms.CharField(label=_("Conditions"), widget=TEXT, help_text=_("One per line."))
    reason = forms.CharField(label=_("Reason"), widget=TEXT, max_length=5000)

    def clean_conditions(self) -> list[str]:
        return _lines(self.cleaned_data["conditions"])


class ConditionsReplyForm(ActionForm):
    accepted = forms.TypedChoiceField(
        label=_("Your reply"),
        choices=[(YES, _("Accept the conditions")), (NO, _("Decline the conditions"))],
        coerce=lambda value: value == YES,
        widget=forms.RadioSelect,
        help_text=_("Accepted conditions bind everything the case produces (P7.7)."),
    )
    comment = forms.CharField(label=_("Comment"), widget=SHORT_TEXT, required=False, max_length=5000)


def _people(value: str) -> list[dict[str, str]]:
    """Lines "Name — position" (or "Name - position") as the services take them."""
    people = []
    for line in _lines(value):
        for separator in (" — ", " – ", " - ", "—"):
            if separator in line:
                name, position = line.split(separator, 1)
                break
        else:
            name, position = line, ""
        people.append({"name": name.strip(), "position": position.strip()})
    return people


REPRESENTATIVES_HELP = _("One per line: «Name — position».")


class ParticipationRequestForm(ActionForm):
    representatives = forms.CharField(label=_("Representatives"), widget=SHORT_TEXT, help_text=REPRESENTATIVES_HELP)
    starts_on = forms.DateField(label=_("From"), widget=DATE, error_messages=DATE_ERRORS)
    ends_on = forms.DateField(label=_("To"), widget=DATE, error_messages=DATE_ERRORS)
    note = forms.CharField(label=_("Note"), widget=SHORT_TEXT, required=False, max_length=5000)

    def clean_representatives(self) -> list[dict[str, str]]:
        return _people(self.cleaned_data["representatives"])


class ParticipationForm(ActionForm):
    agreed = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[(YES, _("Agree to the participation")), (NO, _("Refuse the participation"))],
        coerce=lambda value: value == YES,
        widget=forms.RadioSelect,
    )
    representatives = forms.CharField(
        label=_("Representatives admitted"), widget=SHORT_TEXT, required=False, help_text=REPRESENTATIVES_HELP
    )
    starts_on = forms.DateField(label=_("From"), widget=DATE, required=False, error_messages=DATE_ERRORS)
    ends_on = forms.DateField(label=_("To"), widget=DATE, required=False, error_messages=DATE_ERRORS)
    reasons = forms.CharField(label=_("Reasons for a refusal"), widget=SHORT_TEXT, required=False, max_length=5000)

    def clean_representatives(self) -> list[dict[str, str]]:
        return _people(self.cleaned_data["representatives"])


class RefusalForm(SignedActionForm):
    partial = forms.TypedChoiceField(
        label=_("Refuse"),
        choices=[(NO, _("in full")), (YES, _("in part"))],
        coerce=lambda value: value == YES,
        widget=forms.RadioSelect,
    )
    refused_part = forms.CharField(
        label=_("The part refused"),
        widget=SHORT_TEXT,
        required=False,
        help_text=_("For a refusal in part: what will not be executed."),
    )
    reasons = forms.CharField(
        label=_("Reasons"),
        widget=TEXT,
        max_length=10000,
        help_text=_("A refusal is always in writing and states its reasons (P9.2)."),
    )
    attachments = attachments_field()


class ResultsForm(SignedActionForm):
    summary = forms.CharField(label=_("Summary of the results"), widget=TEXT)
    attachments = attachments_field()
    costs_amount = forms.CharField(
        label=_("Costs (amount)"),
        required=False,
        max_length=30,
        help_text=_("Only if costs are to be borne otherwise than each Party its own (P12)."),
    )
    costs_currency = forms.CharField(label=_("Currency"), required=False, max_length=3)
    costs_note = forms.CharField(label=_("About the costs"), widget=SHORT_TEXT, required=False, max_length=2000)


# --- purposes and consent (P10.2) --------------------------------------------------------------------------------


class ConsentRequestForm(ActionForm):
    """P10.2: ask the providing body's consent for one file it sent (the file is named by its SHA-256)."""

    attachment = forms.CharField(widget=forms.HiddenInput, max_length=64)
    use = forms.ChoiceField(label=_("Use"), choices=rules.ConsentUse.choices)
    target = forms.CharField(
        label=_("Case number or body"),
        max_length=rules.CONSENT_TARGET_MAX,
        help_text=_("The number of the other case, or the body the information would go to."),
    )
    purpose = forms.CharField(label=_("Purpose"), widget=SHORT_TEXT, max_length=rules.CONSENT_PURPOSE_MAX)

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "attachment_sha256": data["attachment"],
            "use": data["use"],
            "target": data["target"],
            "purpose": data["purpose"],
        }


class ReleaseForm(ActionForm):
    """P10.2: export a file the other body provided, or pass it to another body, with that body's consent."""

    attachment = forms.CharField(widget=forms.HiddenInput, max_length=64)
    use = forms.ChoiceField(label=_("Use"), choices=ReleasedInformation.Use.choices)
    target = forms.CharField(
        label=_("Case number or body"),
        max_length=rules.CONSENT_TARGET_MAX,
        help_text=_("As named in the consent: where the information goes."),
    )

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"attachment_sha256": data["attachment"], "use": data["use"], "target": data["target"]}


class MarkingForm(ActionForm):
    """P10.1: the requesting body raises the marking (whoever works on the case) or lowers it (its head or a deputy)."""

    marking = forms.ChoiceField(label=_("New marking"), choices=Marking.choices)
    reason = forms.CharField(label=_("Reason"), widget=SHORT_TEXT, max_length=1000)

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, case=case, **kwargs)
        # "State secret" is offered only to be refused with its channel named (P10.3), as on the draft.
        others = [(v, label) for v, label in Marking.choices if v != case.marking]
        self.fields["marking"].choices = [*others, (STATE_SECRET, STATE_SECRET_LABEL)]


class ConsentReplyForm(ActionForm):
    """P10.2: the providing body grants (with any conditions) or refuses (with the reason) a request for consent."""

    request = forms.CharField(label=_("Request for consent"), widget=forms.Select)
    granted = forms.TypedChoiceField(
        label=_("Your answer"),
        choices=[(YES, _("Grant the consent")), (NO, _("Refuse the consent"))],
        coerce=lambda value: value == YES,
        widget=forms.RadioSelect,
    )
    conditions = forms.CharField(
        label=_("Conditions of the consent"), widget=SHORT_TEXT, required=False, help_text=_("One per line.")
    )
    reason = forms.CharField(label=_("Reason for a refusal"), widget=SHORT_TEXT, required=False, max_length=5000)

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, case=case, **kwargs)
        pending = services.derive(case).pending_consents
        self.fields["request"].widget.choices = [(c.request, f"{c.name} — {c.use_label}: {c.target}") for c in pending]

    def clean_conditions(self) -> list[str]:
        return _lines(self.cleaned_data["conditions"])

    def arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["request_id"] = data.pop("request")
        return data


def reuse_targets(case: Case, actor: Any) -> Any:
    """The other live cases of the actor's body, a file received in `case` may be used in (P10.2)."""
    return (
        selectors.visible_cases(viewer=actor)
        .exclude(pk=case.pk)
        .exclude(state=rules.CaseState.DISCARDED)
        .only("id", "outgoing_number", "incoming_number", "subject")
        .order_by("-updated_at")
    )


class ReuseForm(ActionForm):
    """P10.2: use a file the other body provided in another case of the actor's body (with its consent)."""

    attachment = forms.CharField(widget=forms.HiddenInput, max_length=64)
    # By number, not from a list: a body has tens of thousands of cases (bench/cases.py), and the consent names the
    # other case by its number too.
    target_case = forms.CharField(
        label=_("Number of the other case"),
        max_length=40,
        help_text=_("Its outgoing or incoming number, as in the consent."),
    )

    def clean_target_case(self) -> Case:
        number = self.cleaned_data["target_case"].strip()
        found = selectors.case_by_number(viewer=self.actor, number=number) if self.actor is not None else None
        if found is None:
            raise forms.ValidationError(_("No case of your body has this number."))
        return found

    def arguments(self) -> dict[str, Any]:
        return {"attachment_sha256": self.cleaned_data["attachment"], "target_case": self.cleaned_data["target_case"]}


class OfficerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.full_name} — {obj.position}" if obj.position else obj.full_name


class AssignForm(forms.Form):
    """P10.1: the head or a deputy assigns an officer of the body to the case (the officers not yet assigned)."""

    user = OfficerChoiceField(label=_("Officer"), queryset=Case.objects.none())

    def __init__(self, *args: Any, case: Case, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = selectors.assignable_users(case=case, body_id=actor.body_id)


class WithdrawForm(forms.Form):
    """P10.1: the head or a deputy withdraws an officer's assignment (a button beside each assigned officer)."""

    user = OfficerChoiceField(label=_("Officer"), queryset=Case.objects.none(), widget=forms.HiddenInput)

    def __init__(self, *args: Any, case: Case, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = selectors.assigned_users(case=case, body_id=actor.body_id)
