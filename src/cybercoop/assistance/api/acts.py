"""The acts between the two bodies once a request is sent, one POST each (P7.2–P7.8, P8, P9.1, P9.2, P10.2, P12).
Each is a message; the services check the state machine, the side and the role, and nothing half-applies."""

import datetime as dt
import uuid
from typing import Annotated

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Form, Router, Status
from ninja.decorators import decorate_view
from pydantic import Field

from cybercoop.assistance import rules, selectors, services
from cybercoop.assistance.api.common import (
    BODY_CODE,
    TOTP_CODE,
    CaseId,
    CaseInput,
    CaseOut,
    Errors,
    ReusedOut,
    Uploads,
    acted,
    aware,
    body_by_code,
    check_uploads,
    multipart_checked,
    refuse,
    reused_out,
    visible_case,
)
from cybercoop.core.api import ERRORS, ErrorOut
from cybercoop.exchange import downloads

router = Router()

REASON = 5000
Condition = Annotated[str, Field(max_length=1000)]


class ReceiptIn(CaseInput):
    received_at: dt.datetime | None = Field(
        default=None, description="When it was received, with its UTC offset; now by default."
    )


class ForwardIn(CaseInput):
    to_body: str = Field(min_length=1, **BODY_CODE, description="The competent body of the same State.")
    reason: str = Field(max_length=REASON)


class DelayIn(CaseInput):
    reason: str = Field(max_length=REASON, description="What prevents or significantly delays execution.")
    expected_on: dt.date | None = Field(default=None, description="When execution is now expected (YYYY-MM-DD).")


class MarkingIn(CaseInput):
    marking: str = Field(
        max_length=32, description="The new marking (P10.1): public, official or confidential; never a state secret."
    )
    reason: str = Field(max_length=1000, description="Why the marking changes.")


class InformationRequestIn(CaseInput):
    questions: str = Field(max_length=20000)


class InformationIn(CaseInput):
    answer: str = Field(max_length=20000)


class PostponeIn(CaseInput):
    reason: str = Field(max_length=REASON)
    until: dt.date = Field(description="The new date (YYYY-MM-DD), within two years.")
    code: str = TOTP_CODE


class ConditionsIn(CaseInput):
    conditions: list[Condition] = Field(max_length=20, description="At most 20, each at most 1,000 characters.")
    reason: str = Field(max_length=REASON)
    code: str = TOTP_CODE


class ConditionsReplyIn(CaseInput):
    accepted: bool = Field(description="P7.7: accepted conditions bind everything the case produces.")
    comment: str = Field(default="", max_length=REASON)


class RepresentativeIn(CaseInput):
    name: str = Field(max_length=200)
    position: str = Field(default="", max_length=200)


class ParticipationRequestIn(CaseInput):
    representatives: list[RepresentativeIn] = Field(max_length=20)
    starts_on: dt.date
    ends_on: dt.date
    note: str = Field(default="", max_length=REASON)


class ParticipationIn(CaseInput):
    agreed: bool
    representatives: list[RepresentativeIn] = Field(default=[], max_length=20, description="When agreed.")
    starts_on: dt.date | None = Field(default=None, description="When agreed.")
    ends_on: dt.date | None = Field(default=None, description="When agreed.")
    reasons: str = Field(default="", max_length=REASON, description="When refused: why, under national law.")


class RefusalIn(CaseInput):
    reasons: str = Field(max_length=10000, description="P9.2: a refusal always states its reasons.")
    partial: bool = Field(default=False, description="Refuse only part of the request (P9.1).")
    refused_part: str = Field(default="", max_length=REASON, description="For a partial refusal: which part.")
    code: str = TOTP_CODE


class ResultsIn(CaseInput):
    summary: str = Field(max_length=20000)
    costs_amount: str = Field(default="", max_length=32, description="P12: costs, if any, such as 1500.00.")
    costs_currency: str = Field(default="", max_length=16, description="A three-letter code, such as KZT or RUB.")
    costs_note: str = Field(default="", max_length=2000, description="P12: the agreement on costs, if any.")
    code: str = TOTP_CODE


def _representatives(people: list[RepresentativeIn]) -> list[dict[str, str]]:
    return [person.model_dump() for person in people]


@router.post("/{case_id}/receipt", response={200: CaseOut, **ERRORS}, summary="Register receipt")
def register_receipt(request: HttpRequest, case_id: CaseId, payload: ReceiptIn | None = None):
    """The requested body registers the request; the execution term runs from receipt (P7.2). No body: now."""
    case = visible_case(request, case_id)
    errors: Errors = {}
    received_at = aware(errors, "received_at", payload.received_at if payload is not None else None)
    refuse(errors)
    return acted(request, services.register_receipt(actor=request.user, case=case, received_at=received_at))


@router.post("/{case_id}/forward", response={200: CaseOut, **ERRORS}, summary="Forward to the competent body")
def forward(request: HttpRequest, case_id: CaseId, payload: ForwardIn):
    """P7.4: to the competent body of the same State within three days of receipt; the requesting body is
    told at the same time. The case moves to that body."""
    case = visible_case(request, case_id)
    errors: Errors = {}
    to_body = body_by_code(errors, "to_body", payload.to_body)
    refuse(errors)
    return acted(request, services.forward(actor=request.user, case=case, to_body=to_body, reason=payload.reason))


@router.post("/{case_id}/delay", response={200: CaseOut, **ERRORS}, summary="Notify a delay or an obstacle")
def notify_delay(request: HttpRequest, case_id: CaseId, payload: DelayIn):
    """P7.3: circumstances that prevent or significantly delay execution, notified at once."""
    case = services.notify_delay(
        actor=request.user,
        case=visible_case(request, case_id),
        reason=payload.reason,
        expected_on=payload.expected_on,
    )
    return acted(request, case)


@router.post(
    "/{case_id}/information-request", response={200: CaseOut, **ERRORS}, summary="Ask for additional information"
)
@decorate_view(multipart_checked)
def request_information(
    request: HttpRequest, case_id: CaseId, payload: Form[InformationRequestIn], attachments: Uploads = None
):
    """P7.5: the requested body asks for more; the execution term runs on. Multipart: `questions` and up to
    20 `attachments`."""
    case = visible_case(request, case_id)
    uploads = check_uploads(attachments)
    case = services.request_information(actor=request.user, case=case, questions=payload.questions, uploads=uploads)
    return acted(request, case)


@router.post("/{case_id}/information", response={200: CaseOut, **ERRORS}, summary="Provide additional information")
@decorate_view(multipart_checked)
def provide_information(
    request: HttpRequest, case_id: CaseId, payload: Form[InformationIn], attachments: Uploads = None
):
    """P7.5: the requesting body answers in the same case. Multipart: `answer` and up to 20 `attachments`."""
    case = visible_case(request, case_id)
    uploads = check_uploads(attachments)
    case = services.provide_information(actor=request.user, case=case, answer=payload.answer, uploads=uploads)
    return acted(request, case)


@router.post("/{case_id}/postpone", response={200: CaseOut, **ERRORS}, summary="Postpone execution")
def postpone(request: HttpRequest, case_id: CaseId, payload: PostponeIn):
    """P7.6: execution postponed to a new date, with reasons, where it could hinder proceedings at home."""
    case = services.postpone(
        actor=request.user,
        case=visible_case(request, case_id),
        reason=payload.reason,
        until=payload.until,
        code=payload.code,
    )
    return acted(request, case)


@router.post("/{case_id}/conditions", response={200: CaseOut, **ERRORS}, summary="Propose conditions")
def propose_conditions(request: HttpRequest, case_id: CaseId, payload: ConditionsIn):
    """P7.6: execution made conditional on terms; the requesting body accepts or declines them."""
    case = services.propose_conditions(
        actor=request.user,
        case=visible_case(request, case_id),
        conditions=payload.conditions,
        reason=payload.reason,
        code=payload.code,
    )
    return acted(request, case)


@router.post(
    "/{case_id}/conditions-reply", response={200: CaseOut, **ERRORS}, summary="Accept or decline the conditions"
)
def reply_to_conditions(request: HttpRequest, case_id: CaseId, payload: ConditionsReplyIn):
    """P7.7: accepted conditions bind everything the case produces from then on."""
    case = services.reply_to_conditions(
        actor=request.user, case=visible_case(request, case_id), accepted=payload.accepted, comment=payload.comment
    )
    return acted(request, case)


@router.post(
    "/{case_id}/participation-request",
    response={200: CaseOut, **ERRORS},
    summary="Ask for representatives to take part",
)
def request_participation(request: HttpRequest, case_id: CaseId, payload: ParticipationRequestIn):
    """P8: the requesting body asks that its representatives take part in the execution, naming them."""
    case = services.request_participation(
        actor=request.user,
        case=visible_case(request, case_id),
        representatives=_representatives(payload.representatives),
        starts_on=payload.starts_on,
        ends_on=payload.ends_on,
        note=payload.note,
    )
    return acted(request, case)


@router.post(
    "/{case_id}/participation",
    response={200: CaseOut, **ERRORS},
    summary="Agree to or refuse the participation of representatives",
)
def decide_participation(request: HttpRequest, case_id: CaseId, payload: ParticipationIn):
    """P8: the requested body agrees, with names and dates, or refuses under its law, with reasons."""
    case = services.decide_participation(
        actor=request.user,
        case=visible_case(request, case_id),
        agreed=payload.agreed,
        representatives=_representatives(payload.representatives),
        starts_on=payload.starts_on,
        ends_on=payload.ends_on,
        reasons=payload.reasons,
    )
    return acted(request, case)


@router.post("/{case_id}/refusal", response={200: CaseOut, **ERRORS}, summary="Refuse in full or in part")
@decorate_view(multipart_checked)
def refuse_request(request: HttpRequest, case_id: CaseId, payload: Form[RefusalIn], attachments: Uploads = None):
    """P9.1, P9.2: only in writing, with reasons, by the head or a deputy; a full refusal closes the case.
    Multipart: `reasons`, `partial`, `refused_part` and up to 20 `attachments`."""
    case = visible_case(request, case_id)
    uploads = check_uploads(attachments)
    case = services.refuse(
        actor=request.user,
        case=case,
        reasons=payload.reasons,
        partial=payload.partial,
        refused_part=payload.refused_part,
        uploads=uploads,
        code=payload.code,
    )
    return acted(request, case)


@router.post("/{case_id}/results", response={200: CaseOut, **ERRORS}, summary="Send the results")
@decorate_view(multipart_checked)
def send_results(request: HttpRequest, case_id: CaseId, payload: Form[ResultsIn], attachments: Uploads = None):
    """P7.8: the results, with attachments, close execution; P12: any costs are recorded. Multipart: `summary`,
    `costs_amount`, `costs_currency`, `costs_note` and up to 20 `attachments`."""
    case = visible_case(request, case_id)
    uploads = check_uploads(attachments)
    case = services.send_results(
        actor=request.user,
        case=case,
        summary=payload.summary,
        uploads=uploads,
        costs_amount=payload.costs_amount,
        costs_currency=payload.costs_currency,
        costs_note=payload.costs_note,
        code=payload.code,
    )
    return acted(request, case)


# --- purposes and consent (P10.2) ------------------------------------------------------------------------------

SHA256 = {"min_length": 64, "max_length": 64, "pattern": r"^[0-9a-fA-F]{64}$"}


class ConsentRequestIn(CaseInput):
    attachment: str = Field(**SHA256, description="SHA-256 of a file the other body sent in this case.")
    use: str = Field(max_length=16, description=", ".join(rules.ConsentUse.values) + ".")
    target: str = Field(
        max_length=rules.CONSENT_TARGET_MAX, description="The other case's number, or the body it would go to."
    )
    purpose: str = Field(max_length=rules.CONSENT_PURPOSE_MAX)


class ConsentReplyIn(CaseInput):
    request: str = Field(min_length=1, max_length=64, description="The consent request's id (from `consents`).")
    granted: bool
    conditions: list[Condition] = Field(default=[], max_length=20, description="When granted: its conditions.")
    reason: str = Field(default="", max_length=REASON, description="When refused: why.")


class ReuseIn(CaseInput):
    attachment: str = Field(**SHA256, description="SHA-256 of a file the other body sent in this case.")
    target_case: uuid.UUID = Field(description="The id of another case of the caller's body.")


class ReleaseIn(CaseInput):
    attachment: str = Field(**SHA256, description="SHA-256 of a file the other body sent in this case.")
    use: str = Field(max_length=16, description="export, or transfer (pass to another body).")
    target: str = Field(max_length=300, description="Where it goes, as named in the consent.")


@router.post(
    "/{case_id}/release",
    response={**ERRORS, 500: ErrorOut},
    summary="Export information or pass it to another body",
    openapi_extra={
        "responses": {
            "200": {
                "description": "A ZIP package: the file and its conditions sheet (purposes, conditions, consent).",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def release_information(request: HttpRequest, case_id: CaseId, payload: ReleaseIn):
    """P10.2: a file the other body provided in this case leaves the system (exported, or passed to another body)
    only with that body's consent to this use and target (409 with the reason otherwise). It leaves as a package
    with its purposes, conditions and consent."""
    released = services.release_information(
        actor=request.user,
        case=visible_case(request, case_id),
        attachment_sha256=payload.attachment.lower(),
        use=payload.use,
        target=payload.target,
    )
    return downloads.bytes_response(released.package, name=released.name, media_type="application/zip")


@router.post("/{case_id}/consent-requests", response={200: CaseOut, **ERRORS}, summary="Ask consent to use information")
def request_consent(request: HttpRequest, case_id: CaseId, payload: ConsentRequestIn):
    """P10.2: ask the body that provided a file in this case for its consent to use it in another case, export it
    or pass it to another body. Only for a file that body sent (422 otherwise, nothing stored)."""
    case = services.request_consent(
        actor=request.user,
        case=visible_case(request, case_id),
        attachment_sha256=payload.attachment.lower(),
        use=payload.use,
        target=payload.target,
        purpose=payload.purpose,
    )
    return acted(request, case)


@router.post("/{case_id}/consent-replies", response={200: CaseOut, **ERRORS}, summary="Answer a request for consent")
def reply_to_consent(request: HttpRequest, case_id: CaseId, payload: ConsentReplyIn):
    """P10.2: the providing body's head or a deputy grants the consent (with any conditions) or refuses it (with
    the reason); each request is answered once."""
    case = services.reply_to_consent(
        actor=request.user,
        case=visible_case(request, case_id),
        request_id=payload.request,
        granted=payload.granted,
        conditions=payload.conditions,
        reason=payload.reason,
    )
    return acted(request, case)


@router.post("/{case_id}/reuse", response={201: ReusedOut, **ERRORS}, summary="Use information in another case")
def use_in_another_case(request: HttpRequest, case_id: CaseId, payload: ReuseIn):
    """P10.2: use a file the other body provided in this case in another case of the caller's body — only with
    that body's consent to this use in that case (409 with the reason otherwise). Its purposes and conditions go
    with it."""
    case = visible_case(request, case_id)
    errors: Errors = {}
    target = selectors.get_case(viewer=request.user, case_id=payload.target_case)
    if target is None:
        errors["target_case"] = _("Unknown case.")
    refuse(errors)
    assert target is not None  # refused above
    reused = services.use_in_another_case(
        actor=request.user, source_case=case, attachment_sha256=payload.attachment.lower(), target_case=target
    )
    return Status(201, reused_out(reused))


@router.post("/{case_id}/marking", response={200: CaseOut, **ERRORS}, summary="Change the marking")
def change_marking(request: HttpRequest, case_id: CaseId, payload: MarkingIn):
    """P10.1: the requesting body raises the marking of a sent request (whoever works on the case) or lowers it
    (only its head or a deputy: 409 otherwise); a state secret is refused (P10.3). Both bodies' cases take it."""
    case = services.change_marking(
        actor=request.user, case=visible_case(request, case_id), marking=payload.marking, reason=payload.reason
    )
    return acted(request, case)
