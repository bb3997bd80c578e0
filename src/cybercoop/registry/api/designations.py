"""Designations of competent bodies, their announcement and acknowledgement (P4.2, P4.3)."""

import datetime as dt

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from cybercoop.core import clock
from cybercoop.core.api import ERRORS, InputSchema
from cybercoop.core.permissions import Permission, require
from cybercoop.registry import rules, selectors, services
from cybercoop.registry.api.common import (
    BodyOut,
    Errors,
    RowId,
    _body,
    _body_by_code,
    _instrument,
    _parties,
    _refuse,
)
from cybercoop.registry.models import (
    Acknowledgement,
    DesignationNotice,
    Instrument,
    Party,
)

router = Router()

# --- designations of competent bodies and their announcement (P4.2, P4.3) -------------------------------


class DesignationFilterIn(InputSchema):
    instrument: str = Field(default="", max_length=64, description="The instrument's code; the Protocol by default.")
    party: str = Field(default="", max_length=8, description="Only this Party's (its code).")
    on: dt.date | None = Field(default=None, description="The date (YYYY-MM-DD); today by default.")


class HistoryFilterIn(InputSchema):
    instrument: str = Field(default="", max_length=64, description="The instrument's code; the Protocol by default.")
    party: str = Field(default="", max_length=8, description="Only this Party's notices (its code).")


class NoticeOut(Schema):
    id: int
    instrument: str
    party: str
    kind: str
    kind_label: str
    body: str
    replaces: str | None
    effective_on: dt.date
    reference: str
    filed_at: dt.datetime
    filed_by: str | None


class AcknowledgementOut(Schema):
    party: str
    announced_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None


class NoticeFiledOut(NoticeOut):
    acknowledgements: list[AcknowledgementOut]


def _notice(notice: DesignationNotice) -> NoticeOut:
    return NoticeOut(
        id=notice.pk,
        instrument=notice.instrument.code,
        party=notice.party.code,
        kind=notice.kind,
        kind_label=str(notice.get_kind_display()),
        body=notice.body.code,
        replaces=notice.replaces.code if notice.replaces is not None else None,
        effective_on=notice.effective_on,
        reference=notice.reference,
        filed_at=notice.filed_at,
        filed_by=notice.filed_by.username if notice.filed_by is not None else None,
    )


def _acknowledgement(ack: Acknowledgement) -> AcknowledgementOut:
    return AcknowledgementOut(
        party=ack.party.code,
        announced_at=ack.announced_at,
        acknowledged_at=ack.acknowledged_at,
        acknowledged_by=ack.acknowledged_by.username if ack.acknowledged_by is not None else None,
    )


def _designation_scope(filters: DesignationFilterIn | HistoryFilterIn) -> tuple[Instrument, Party | None]:
    errors: Errors = {}
    instrument = _instrument(errors, "instrument", filters.instrument)
    party = _parties(errors, party=filters.party).get("party") if filters.party else None
    _refuse(errors)
    return instrument, party


@router.get("/designations", response={200: list[BodyOut], **ERRORS}, summary="Designated competent bodies")
def list_designated_bodies(request: HttpRequest, filters: Query[DesignationFilterIn]):
    """The authorised competent bodies designated under the instrument on the date (P4.2)."""
    require(request.user, Permission.VIEW_REGISTRY)
    instrument, party = _designation_scope(filters)
    on = filters.on or selectors.depositary_today()
    return [_body(b) for b in selectors.designated_bodies(instrument=instrument, on=on, party=party)]


@router.get("/designations/history", response={200: list[NoticeOut], **ERRORS}, summary="Designation history")
def list_designation_notices(request: HttpRequest, filters: Query[HistoryFilterIn]):
    """Every designation, change and withdrawal filed, in order of effect (P4.2)."""
    require(request.user, Permission.VIEW_REGISTRY)
    instrument, party = _designation_scope(filters)
    notices = selectors.designation_notices(instrument=instrument, party=party).select_related("instrument")
    return [_notice(n) for n in notices]


class DesignationIn(InputSchema):
    instrument: str = Field(default="", max_length=64, description="The instrument's code; the Protocol by default.")
    party: str = Field(min_length=1, max_length=8, description="The designating Party's code, e.g. KZ.")
    kind: rules.DesignationKind
    body: str = Field(min_length=1, max_length=32, description="The body's code, e.g. KZ-MIA.")
    replaces: str | None = Field(default=None, max_length=32, description="For a change of body: the body replaced.")
    effective_on: dt.date = Field(description="The date it takes effect (YYYY-MM-DD).")
    reference: str = Field(default="", max_length=200, description="For example, the note's number.")


class NoticeSentOut(Schema):
    status: str = Field(
        description="`sent`: this node does not keep the registry; the notice went to the Secretariat's node, which "
        "files and announces it, and it comes back with the next directory (or the refusal, in its receipt)."
    )


@router.post(
    "/designations",
    response={201: NoticeFiledOut, 202: NoticeSentOut, **ERRORS},
    summary="File a designation notice",
)
def file_designation(request: HttpRequest, payload: DesignationIn):
    """A Party's registrar (or the Secretariat) designates, changes or withdraws a body (P4.2); the notice is
    announced at once to every other Party (P4.3). On a Party's own node it is sent to the Secretariat's (202)."""
    require(request.user, Permission.FILE_DESIGNATION)
    errors: Errors = {}
    found = _parties(errors, party=payload.party)
    _refuse(errors)
    party = found["party"]
    # P4.2: only that Party's registrar files for it; refused before any other code is looked up.
    require(request.user, Permission.FILE_DESIGNATION, party)
    instrument = _instrument(errors, "instrument", payload.instrument)
    body = _body_by_code(errors, "body", payload.body)
    replaces = _body_by_code(errors, "replaces", payload.replaces) if payload.replaces else None
    _refuse(errors)
    notice = services.notify_designation(
        actor=request.user,
        instrument=instrument,
        party=party,
        kind=payload.kind.value,
        body=body,
        effective_on=payload.effective_on,
        replaces=replaces,
        reference=payload.reference,
    )
    if notice is None:
        return Status(202, NoticeSentOut(status="sent"))
    acknowledgements = notice.acknowledgements.select_related("party", "acknowledged_by").order_by("party__code")
    return Status(
        201,
        NoticeFiledOut(
            **_notice(notice).model_dump(), acknowledgements=[_acknowledgement(a) for a in acknowledgements]
        ),
    )


class AnnouncementOut(Schema):
    id: int
    notice: NoticeOut
    announced_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None


def _announcement(ack: Acknowledgement) -> AnnouncementOut:
    return AnnouncementOut(
        id=ack.pk,
        notice=_notice(ack.notice),
        announced_at=ack.announced_at,
        acknowledged_at=ack.acknowledged_at,
        acknowledged_by=ack.acknowledged_by.username if ack.acknowledged_by is not None else None,
    )


def _own_inbox(request: HttpRequest):
    return selectors.inbox(party=request.user.body.party)


@router.get("/announcements", response={200: list[AnnouncementOut], **ERRORS}, summary="My Party's announcements")
def list_announcements(request: HttpRequest):
    """The designation notices announced to the caller's Party, unacknowledged first (P4.3)."""
    require(request.user, Permission.VIEW_REGISTRY)
    return [_announcement(a) for a in _own_inbox(request)]


@router.post(
    "/announcements/{announcement_id}/acknowledge",
    response={200: AnnouncementOut, **ERRORS},
    summary="Acknowledge an announcement",
)
def acknowledge(request: HttpRequest, announcement_id: RowId):
    """The caller's Party acknowledges a designation announced to it (P4.3); twice changes nothing."""
    require(request.user, Permission.VIEW_REGISTRY)
    # Another Party's announcement is not found rather than forbidden: nothing about it leaks.
    ack = _own_inbox(request).filter(pk=announcement_id).first()
    if ack is None:
        raise Http404
    ack = services.acknowledge(actor=request.user, acknowledgement=ack)
    return _announcement(_own_inbox(request).get(pk=ack.pk))


class PendingOut(Schema):
    id: int
    party: str = Field(description="The Party that has not acknowledged.")
    notice: NoticeOut
    announced_at: dt.datetime
    seconds_outstanding: int
    days_outstanding: int


@router.get(
    "/announcements/pending", response={200: list[PendingOut], **ERRORS}, summary="Unacknowledged announcements"
)
def list_pending(request: HttpRequest):
    """Who has not acknowledged which notice, and since when (P4.3): all for the Secretariat, the notices of
    their own Party for a registrar."""
    require(request.user, Permission.VIEW_ACKNOWLEDGEMENTS)
    pending = selectors.pending_acknowledgements(viewer=request.user)
    now = clock.now()
    rows = []
    for ack in pending:
        seconds = max(0, int((now - ack.announced_at).total_seconds()))
        rows.append(
            PendingOut(
                id=ack.pk,
                party=ack.party.code,
                notice=_notice(ack.notice),
                announced_at=ack.announced_at,
                seconds_outstanding=seconds,
                days_outstanding=seconds // 86400,
            )
        )
    return rows
