"""A case as such: the inbox and the outbox, drafting and changing a request, reading it, its timeline and its
attachments."""

from typing import Annotated

from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Status
from ninja.pagination import paginate
from pydantic import Field

from cybercoop.assistance import rules, selectors, services
from cybercoop.assistance.api.common import (
    BODY_CODE,
    CODE_PATTERN,
    AttachmentId,
    CaseId,
    CaseInput,
    CaseItemOut,
    CaseOut,
    CasePagination,
    Errors,
    MessageOut,
    acted,
    body_by_code,
    case_out,
    instrument_by_code,
    messages_out,
    record_view,
    refuse,
    visible_case,
    with_open_clocks,
)
from cybercoop.core import clock
from cybercoop.core.api import ERRORS, ErrorOut
from cybercoop.core.permissions import Permission, require
from cybercoop.exchange import downloads
from cybercoop.exchange import selectors as exchange
from cybercoop.exchange.rules import Marking

router = Router(tags=["cases"])

LIMITS = services.TEXT_LIMITS
Purpose = Annotated[str, Field(min_length=1, max_length=300)]
AssistanceKind = Annotated[str, Field(max_length=32)]


class DraftFields(CaseInput):
    """The request's fields (P6.2). A draft may be incomplete; submitting it checks that it is complete."""

    subject: str = Field(default="", max_length=LIMITS["subject"])
    scope: str = Field(
        default="", max_length=32, description="What it concerns (P3.1): " + ", ".join(rules.Scope.values) + "."
    )
    purpose: str = Field(default="", max_length=LIMITS["purpose"])
    grounds: str = Field(default="", max_length=LIMITS["grounds"])
    substance: str = Field(default="", max_length=LIMITS["substance"], description="The substance of the matter.")
    assistance_kinds: list[AssistanceKind] = Field(
        default=[],
        max_length=len(rules.AssistanceKind.values),
        description="The assistance sought (P5.2): " + ", ".join(rules.AssistanceKind.values) + ".",
    )
    assistance_sought: str = Field(default="", max_length=LIMITS["assistance_sought"])
    identifiers: str = Field(
        default="", max_length=LIMITS["identifiers"], description="Accounts, IP addresses, URLs, names sought."
    )
    execution_term_days: int | None = Field(
        default=None, description="An agreed term of 1 to 365 days; none: the instrument's term (P7.2)."
    )
    other_information: str = Field(default="", max_length=LIMITS["other_information"])
    offence: str = Field(default="", max_length=LIMITS["offence"])
    dual_criminality_confirmed: bool = False
    annex_language: str = Field(default="", max_length=8)
    urgent: bool = Field(default=False, description="P6.4: sent at once, confirmed in writing within 72 hours.")
    marking: str = Field(default=Marking.OFFICIAL.value, max_length=16, description=", ".join(Marking.values) + ".")
    purposes: list[Purpose] = Field(default=[], max_length=20, description="What the information may be used for.")


class DraftIn(DraftFields):
    requested_body: str = Field(min_length=1, **BODY_CODE, description="The requested body's code, e.g. RU-MIA.")
    instrument: str = Field(
        default="", max_length=64, pattern=CODE_PATTERN, description="The legal basis (P14); the Protocol by default."
    )


class DraftChangesIn(DraftFields):
    """Only the fields sent are changed."""

    requested_body: str = Field(default="", **BODY_CODE, description="The requested body's code, e.g. RU-MIA.")
    instrument: str = Field(
        default="", max_length=64, pattern=CODE_PATTERN, description="The legal basis (P14); empty: the Protocol."
    )


class CaseFilterIn(CaseInput):
    state: rules.CaseState | None = Field(default=None, description="Only cases in this state.")
    urgent: bool | None = Field(default=None, description="Only urgent (true) or only ordinary (false) requests.")
    overdue: bool = Field(default=False, description="Only cases with an obligation past its deadline.")
    party: str = Field(default="", max_length=8, pattern=CODE_PATTERN, description="The other side's Party code.")
    q: str = Field(default="", max_length=200, description="Words in the subject, substance, numbers or identifiers.")


def _filters(filters: CaseFilterIn) -> selectors.CaseFilter:
    return selectors.CaseFilter(
        state=filters.state.value if filters.state else "",
        urgent=filters.urgent,
        overdue=filters.overdue,
        party=filters.party.upper(),
        text=filters.q,
    )


@router.get("/incoming", response={200: list[CaseItemOut], **ERRORS}, summary="Requests received (inbox)")
@paginate(CasePagination)
def list_incoming(request: HttpRequest, filters: Query[CaseFilterIn]):
    """Requests the caller's body is executing, newest activity first, each with its next deadline."""
    require(request.user, Permission.VIEW_CASE)
    return with_open_clocks(selectors.inbox(viewer=request.user, filters=_filters(filters), now=clock.now()))


@router.get("/outgoing", response={200: list[CaseItemOut], **ERRORS}, summary="Requests drafted or sent (outbox)")
@paginate(CasePagination)
def list_outgoing(request: HttpRequest, filters: Query[CaseFilterIn]):
    """Requests the caller's body drafted or sent, newest activity first, each with its next deadline."""
    require(request.user, Permission.VIEW_CASE)
    return with_open_clocks(selectors.outbox(viewer=request.user, filters=_filters(filters), now=clock.now()))


@router.get("/{case_id}", response={200: CaseOut, **ERRORS}, summary="A case")
def get_case(request: HttpRequest, case_id: CaseId):
    """The request with every P6.2 field, what its messages made of it, its clocks (P6.4, P7.2, P7.4, P7.6) and
    the actions open to the caller now. A case of other bodies is not found."""
    case = visible_case(request, case_id)
    record_view(request, case)
    return case_out(case, request.user)


@router.post("", response={201: CaseOut, **ERRORS}, summary="Draft a request")
def create_draft(request: HttpRequest, payload: DraftIn):
    """Start a request to a body of another Party under an instrument in force between the two (P6.1, P14,
    P16.2); only designated bodies (P4.2). The fields may be completed later."""
    require(request.user, Permission.DRAFT_REQUEST)
    errors: Errors = {}
    requested_body = body_by_code(errors, "requested_body", payload.requested_body)
    instrument = instrument_by_code(errors, "instrument", payload.instrument)
    refuse(errors, _("The draft could not be created."))
    fields = payload.model_dump(exclude_unset=True, exclude={"requested_body", "instrument"})
    case = services.create_draft(actor=request.user, requested_body=requested_body, instrument=instrument, **fields)
    return Status(201, acted(request, case))


@router.patch("/{case_id}", response={200: CaseOut, **ERRORS}, summary="Change a draft")
def update_draft(request: HttpRequest, case_id: CaseId, payload: DraftChangesIn):
    """Change the fields sent (and only those) while the request is a draft (P6.2)."""
    case = visible_case(request, case_id)
    require(request.user, Permission.DRAFT_REQUEST)
    fields = payload.model_dump(exclude_unset=True)
    errors: Errors = {}
    requested_body = (
        body_by_code(errors, "requested_body", fields.pop("requested_body")) if "requested_body" in fields else None
    )
    instrument = instrument_by_code(errors, "instrument", fields.pop("instrument")) if "instrument" in fields else None
    refuse(errors, _("The draft could not be saved."))
    case = services.update_draft(
        actor=request.user, case=case, requested_body=requested_body, instrument=instrument, **fields
    )
    return acted(request, case)


@router.get("/{case_id}/messages", response={200: list[MessageOut], **ERRORS}, summary="A case's timeline")
def list_messages(request: HttpRequest, case_id: CaseId):
    """Every message of the case in the order this node applied it, with its marking, permitted purposes,
    accepted conditions (P7.7) and attachments."""
    case = visible_case(request, case_id)
    record_view(request, case)
    return messages_out(case, selectors.messages(case=case))


@router.get(
    "/{case_id}/attachments/{attachment_id}",
    response={**ERRORS, 500: ErrorOut},
    summary="Download an attachment",
    url_name="case_attachment",
    openapi_extra={
        "responses": {
            "200": {
                "description": "The file, as it was sent.",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def download_attachment(request: HttpRequest, case_id: CaseId, attachment_id: AttachmentId):
    """A file sent with a message of the case; only for a case the caller's body takes part in."""
    case = visible_case(request, case_id)
    attachment = exchange.attachment(attachment_id=attachment_id, conversation_id=case.id)
    if attachment is None:
        raise Http404
    record_view(request, case)
    # Decrypted and checked before a byte is sent; a damaged file is an error with its message (AttachmentUnreadable,
    # a DomainError), never a corrupted download. Safe headers: exchange.downloads.
    return downloads.attachment_response(attachment)
