"""The requesting side before and at sending: submission, approval by the head or a deputy, urgent sending
(P6.1–P6.5)."""

from django.http import HttpRequest
from ninja import Form, Router
from ninja.decorators import decorate_view
from pydantic import Field

from cybercoop.assistance import services
from cybercoop.assistance.api.common import (
    TOTP_CODE,
    CaseId,
    CaseInput,
    CaseOut,
    Uploads,
    acted,
    check_uploads,
    multipart_checked,
    visible_case,
)
from cybercoop.core.api import ERRORS

router = Router()


class ReturnIn(CaseInput):
    comment: str = Field(max_length=5000, description="What must change.")


class ApproveIn(CaseInput):
    code: str = TOTP_CODE


class ConfirmIn(CaseInput):
    code: str = TOTP_CODE


@router.post("/{case_id}/submit", response={200: CaseOut, **ERRORS}, summary="Submit a draft for approval")
def submit(request: HttpRequest, case_id: CaseId):
    """Hand a complete draft (P6.2) to the head or a deputy, who alone may approve it (P6.5)."""
    case = services.submit_for_approval(actor=request.user, case=visible_case(request, case_id))
    return acted(request, case)


@router.post("/{case_id}/return", response={200: CaseOut, **ERRORS}, summary="Return a draft for rework")
def return_to_draft(request: HttpRequest, case_id: CaseId, payload: ReturnIn):
    """The head or a deputy sends a request awaiting approval back to its drafter, saying why (P6.5)."""
    case = services.return_to_draft(actor=request.user, case=visible_case(request, case_id), comment=payload.comment)
    return acted(request, case)


@router.post("/{case_id}/discard", response={200: CaseOut, **ERRORS}, summary="Discard a draft")
def discard(request: HttpRequest, case_id: CaseId):
    """Abandon a request that was never sent."""
    case = services.discard_draft(actor=request.user, case=visible_case(request, case_id))
    return acted(request, case)


@router.post("/{case_id}/approve", response={200: CaseOut, **ERRORS}, summary="Approve and send a request")
@decorate_view(multipart_checked)
def approve(request: HttpRequest, case_id: CaseId, payload: Form[ApproveIn], attachments: Uploads = None):
    """The head or a deputy approves the request and it goes to the requested body (P6.1–P6.3, P6.5).
    Multipart (or a form): `code` to sign it, up to 20 `attachments`; or no body at all where nothing is signed."""
    case = visible_case(request, case_id)
    uploads = check_uploads(attachments)
    case = services.approve_and_send(actor=request.user, case=case, uploads=uploads, code=payload.code)
    return acted(request, case)


@router.post("/{case_id}/send-urgent", response={200: CaseOut, **ERRORS}, summary="Send an urgent request at once")
@decorate_view(multipart_checked)
def send_urgent(request: HttpRequest, case_id: CaseId, attachments: Uploads = None):
    """P6.4: a request marked urgent goes at once, before its written approval, which the head or a deputy
    gives within 72 hours (`confirm-urgent`). Multipart: up to 20 `attachments`."""
    case = visible_case(request, case_id)
    uploads = check_uploads(attachments)
    return acted(request, services.send_urgent(actor=request.user, case=case, uploads=uploads))


@router.post(
    "/{case_id}/confirm-urgent", response={200: CaseOut, **ERRORS}, summary="Confirm an urgent request in writing"
)
def confirm_urgent(request: HttpRequest, case_id: CaseId, payload: ConfirmIn | None = None):
    """P6.4, P6.5: the head or a deputy confirms an urgent request in writing; the 72-hour clock stops. JSON:
    `code` to sign the confirmation, or no body where nothing is signed."""
    code = payload.code if payload is not None else ""
    case = services.confirm_urgent(actor=request.user, case=visible_case(request, case_id), code=code)
    return acted(request, case)
