"""Instruments, their status and the depositary's records (P14–P19)."""

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from cybercoop.accounts.rules import Role
from cybercoop.core.api import ERRORS, InputSchema
from cybercoop.core.permissions import Permission, require
from cybercoop.registry import obligations, rules, selectors, services
from cybercoop.registry.api.common import (
    Errors,
    InstrumentCode,
    _instrument,
    _instrument_or_404,
    _parties,
    _refuse,
)
from cybercoop.registry.models import (
    CertifiedCopy,
    Instrument,
    InstrumentEvent,
)

router = Router()

# --- instruments, their status and the depositary's records (P14–P19) ------------------------------------


class ParametersOut(Schema):
    execution_term_days: int = Field(description="Days to execute a request (P7.2).")
    forward_term_days: int = Field(description="Days to forward a request to the competent body (P7.4).")
    urgent_confirmation_hours: int = Field(description="Hours to confirm an urgent request in writing (P6.4).")
    notifications_required: int = Field(description="Notifications for entry into force (P16.1).")
    withdrawal_notice_months: int = Field(description="Months from a withdrawal notice to its effect (P18).")


class InstrumentOut(Schema):
    code: str
    kind: str
    kind_label: str
    name: str
    name_ru: str
    name_kk: str
    name_en: str
    amends: str | None = Field(description="The code of the instrument an amending protocol amends (P15).")
    adopted_on: dt.date
    place: str
    entry_into_force: dt.date | None = Field(description="Computed from the notifications (P16.1); none yet.")
    original_sha256: str | None = Field(description="SHA-256 of the stored original (P19); none until stored.")
    parameters: ParametersOut


class PartyRowOut(Schema):
    party: str
    party_name: str
    status: str
    status_label: str
    signed_on: dt.date | None
    notified_on: dt.date | None
    in_force_since: dt.date | None
    withdrawal_notified_on: dt.date | None
    withdrawal_effective_on: dt.date | None


class CertifiedCopyOut(Schema):
    party: str
    sent_on: dt.date
    sha256: str
    size_bytes: int
    recorded_at: dt.datetime


class InstrumentDetailOut(InstrumentOut):
    on: dt.date = Field(description="The date the Parties' status is given for.")
    parties: list[PartyRowOut]
    certified_copies: list[CertifiedCopyOut]


def _instrument_out(instrument: Instrument) -> InstrumentOut:
    return InstrumentOut(
        code=instrument.code,
        kind=instrument.kind,
        kind_label=str(instrument.get_kind_display()),
        name=instrument.name,
        name_ru=instrument.name_ru,
        name_kk=instrument.name_kk,
        name_en=instrument.name_en,
        amends=instrument.amends.code if instrument.amends is not None else None,
        adopted_on=instrument.adopted_on,
        place=instrument.place,
        entry_into_force=rules.entry_into_force(selectors.facts(instrument)),
        original_sha256=instrument.original_sha256 or None,
        parameters=ParametersOut(
            execution_term_days=instrument.execution_term_days,
            forward_term_days=instrument.forward_term_days,
            urgent_confirmation_hours=instrument.urgent_confirmation_hours,
            notifications_required=instrument.notifications_required,
            withdrawal_notice_months=instrument.withdrawal_notice_months,
        ),
    )


def _row(row: selectors.PartyRow) -> PartyRowOut:
    return PartyRowOut(
        party=row.party.code,
        party_name=row.party.name,
        status=row.status.value,
        status_label=str(rules.PartyStatus(row.status).label),
        signed_on=row.signed_on,
        notified_on=row.notified_on,
        in_force_since=row.in_force_since,
        withdrawal_notified_on=row.withdrawal_notified_on,
        withdrawal_effective_on=row.withdrawal_effective_on,
    )


def _copy(copy: CertifiedCopy) -> CertifiedCopyOut:
    return CertifiedCopyOut(
        party=copy.party.code,
        sent_on=copy.sent_on,
        sha256=copy.sha256,
        size_bytes=copy.size_bytes,
        recorded_at=copy.recorded_at,
    )


@router.get("/instruments", response={200: list[InstrumentOut], **ERRORS}, summary="Instruments")
def list_instruments(request: HttpRequest):
    """Every instrument (the Protocol, other agreements, amendments) with its parameters (P14, P15, R4)."""
    require(request.user, Permission.VIEW_REGISTRY)
    return [_instrument_out(i) for i in selectors.instruments()]


class OnIn(InputSchema):
    on: dt.date | None = Field(default=None, description="The date (YYYY-MM-DD); today by default.")


@router.get("/instruments/{code}", response={200: InstrumentDetailOut, **ERRORS}, summary="An instrument")
def get_instrument(request: HttpRequest, code: InstrumentCode, filters: Query[OnIn]):
    """One instrument, each state Party's status on a date from the records (P16.1, P16.2, P18), its copies."""
    require(request.user, Permission.VIEW_REGISTRY)
    instrument = _instrument_or_404(code)
    on = filters.on or selectors.depositary_today()
    return InstrumentDetailOut(
        **_instrument_out(instrument).model_dump(),
        on=on,
        parties=[_row(r) for r in selectors.status_table(instrument=instrument, on=on)],
        certified_copies=[_copy(c) for c in selectors.certified_copies(instrument=instrument)],
    )


class InForceIn(InputSchema):
    party_a: str = Field(min_length=1, max_length=8, description="A Party's code, e.g. KZ.")
    party_b: str = Field(min_length=1, max_length=8, description="Another Party's code, e.g. RU.")
    on: dt.date | None = Field(default=None, description="The date (YYYY-MM-DD); today by default.")


class InForceOut(Schema):
    instrument: str
    party_a: str
    party_b: str
    on: dt.date
    in_force: bool


@router.get(
    "/instruments/{code}/in-force",
    response={200: InForceOut, **ERRORS},
    summary="Is the instrument in force between two Parties?",
)
def in_force(request: HttpRequest, code: InstrumentCode, filters: Query[InForceIn]):
    """Does the instrument bind both Parties on the date? Answered from the depositary's records (P16.2, P18)."""
    require(request.user, Permission.VIEW_REGISTRY)
    instrument = _instrument_or_404(code)
    errors: Errors = {}
    found = _parties(errors, party_a=filters.party_a, party_b=filters.party_b)
    _refuse(errors)
    on = filters.on or selectors.depositary_today()
    return InForceOut(
        instrument=instrument.code,
        party_a=found["party_a"].code,
        party_b=found["party_b"].code,
        on=on,
        in_force=selectors.in_force_between(
            instrument=instrument, party_a=found["party_a"], party_b=found["party_b"], on=on
        ),
    )


class InstrumentIn(InputSchema):
    code: str = Field(min_length=1, max_length=64, description="Latin letters, digits and hyphens.")
    kind: rules.InstrumentKind
    name_ru: str = Field(max_length=300)
    name_kk: str = Field(default="", max_length=300)
    name_en: str = Field(default="", max_length=300)
    adopted_on: dt.date = Field(description="Opened for signature on (YYYY-MM-DD).")
    place: str = Field(default="", max_length=100)
    amends: str | None = Field(default=None, max_length=64, description="For an amending protocol: the code it amends.")
    # Bounded by the columns here; the service gives each parameter's own range.
    execution_term_days: int = Field(default=30, ge=0, le=32767)
    forward_term_days: int = Field(default=3, ge=0, le=32767)
    urgent_confirmation_hours: int = Field(default=72, ge=0, le=32767)
    notifications_required: int = Field(default=4, ge=0, le=32767)
    withdrawal_notice_months: int = Field(default=6, ge=0, le=32767)


@router.post("/instruments", response={201: InstrumentOut, **ERRORS}, summary="Register an instrument")
def create_instrument(request: HttpRequest, payload: InstrumentIn):
    """The Secretariat registers an instrument and its parameters (P14, R4); an amendment names its base (P15)."""
    require(request.user, Permission.MANAGE_INSTRUMENTS)
    errors: Errors = {}
    amends = _instrument(errors, "amends", payload.amends) if payload.amends else None
    _refuse(errors)
    instrument = services.create_instrument(
        actor=request.user,
        code=payload.code,
        kind=payload.kind.value,
        name_ru=payload.name_ru,
        name_kk=payload.name_kk,
        name_en=payload.name_en,
        adopted_on=payload.adopted_on,
        place=payload.place,
        amends=amends,
        execution_term_days=payload.execution_term_days,
        forward_term_days=payload.forward_term_days,
        urgent_confirmation_hours=payload.urgent_confirmation_hours,
        notifications_required=payload.notifications_required,
        withdrawal_notice_months=payload.withdrawal_notice_months,
    )
    return Status(201, _instrument_out(instrument))


class EventIn(InputSchema):
    party: str = Field(min_length=1, max_length=8, description="The Party's code, e.g. KZ.")
    kind: rules.EventKind
    on: dt.date = Field(description="The date the depositary received it (YYYY-MM-DD).")
    effective_on: dt.date | None = Field(default=None, description="Withdrawals only: the date it takes effect (P18).")
    reference: str = Field(default="", max_length=200, description="For example, the note's number.")


class EventOut(Schema):
    id: int
    instrument: str
    party: str
    kind: str
    kind_label: str
    on: dt.date
    effective_on: dt.date | None
    reference: str
    recorded_at: dt.datetime
    recorded_by: str | None


def _event(event: InstrumentEvent) -> EventOut:
    return EventOut(
        id=event.pk,
        instrument=event.instrument.code,
        party=event.party.code,
        kind=event.kind,
        kind_label=str(event.get_kind_display()),
        on=event.on,
        effective_on=event.effective_on,
        reference=event.reference,
        recorded_at=event.recorded_at,
        recorded_by=event.recorded_by.username if event.recorded_by is not None else None,
    )


@router.post(
    "/instruments/{code}/events",
    response={201: EventOut, **ERRORS},
    summary="Record a signature, notification or withdrawal notice",
)
def record_event(request: HttpRequest, code: InstrumentCode, payload: EventIn):
    """The depositary records what a Party sent (P16.1, P16.2); a withdrawal takes effect no earlier than the
    instrument's notice period after its receipt (P18). History is appended to, never rewritten."""
    require(request.user, Permission.MANAGE_INSTRUMENTS)
    instrument = _instrument_or_404(code)
    errors: Errors = {}
    found = _parties(errors, party=payload.party)
    _refuse(errors)
    event = services.record_event(
        actor=request.user,
        instrument=instrument,
        party=found["party"],
        kind=payload.kind.value,
        on=payload.on,
        effective_on=payload.effective_on,
        reference=payload.reference,
    )
    return Status(201, _event(event))


@router.post(
    "/instruments/{code}/original",
    response={201: InstrumentOut, **ERRORS},
    summary="Store the original text (PDF)",
)
def store_original(request: HttpRequest, code: InstrumentCode, file: File[UploadedFile]):
    """The Secretariat keeps the original of an instrument, once, with its SHA-256 (P19). Multipart: `file`."""
    require(request.user, Permission.MANAGE_INSTRUMENTS)
    instrument = services.store_original(actor=request.user, instrument=_instrument_or_404(code), upload=file)
    return Status(201, _instrument_out(_instrument_or_404(instrument.code)))


class CertifiedCopyIn(InputSchema):
    party: str = Field(min_length=1, max_length=8, description="The signatory it was sent to (its code).")
    sent_on: dt.date = Field(description="YYYY-MM-DD")


@router.post(
    "/instruments/{code}/certified-copies",
    response={201: CertifiedCopyOut, **ERRORS},
    summary="Record a certified copy sent (PDF)",
)
def record_certified_copy(
    request: HttpRequest, code: InstrumentCode, payload: Form[CertifiedCopyIn], file: File[UploadedFile]
):
    """The Secretariat records a certified copy sent to a signatory: to whom, when, its SHA-256 (P19).
    Multipart: `party`, `sent_on` and `file`."""
    require(request.user, Permission.MANAGE_INSTRUMENTS)
    instrument = _instrument_or_404(code)
    errors: Errors = {}
    found = _parties(errors, party=payload.party)
    _refuse(errors)
    party = found["party"]
    copy = services.record_certified_copy(
        actor=request.user, instrument=instrument, party=party, sent_on=payload.sent_on, upload=file
    )
    return Status(201, _copy(copy))


class PartyFilterIn(InputSchema):
    party: str = Field(min_length=1, max_length=8, description="The Party's code, e.g. KZ.")


class ObligationOut(Schema):
    label: str
    url: str


@router.get(
    "/instruments/{code}/obligations",
    response={200: list[ObligationOut], **ERRORS},
    summary="A Party's open obligations under an instrument",
)
def list_obligations(request: HttpRequest, code: InstrumentCode, filters: Query[PartyFilterIn]):
    """What a withdrawing Party still has to settle (P18): its open cases under the instrument.

    Open cases are not every Party's business: the Secretariat and the Party's own users see them.
    """
    require(request.user, Permission.VIEW_REGISTRY)
    instrument = _instrument_or_404(code)
    errors: Errors = {}
    found = _parties(errors, party=filters.party)
    _refuse(errors)
    party = found["party"]
    if request.user.role != Role.SECRETARIAT and request.user.body.party_id != party.pk:
        raise PermissionDenied
    return [ObligationOut(label=str(o.label), url=o.url) for o in obligations.open_obligations(instrument, party)]
