"""What the case API's modules share: path types, input bases, the case as it is answered, and lookups."""

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from django.core.exceptions import SuspiciousOperation
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponseBase
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from ninja import File, Path, Schema
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from cybercoop.assistance import rules, selectors, services
from cybercoop.assistance.models import Case, Clock, ReusedInformation
from cybercoop.assistance.rules import CaseState, Kind, Side
from cybercoop.core import clock
from cybercoop.core.api import InputSchema
from cybercoop.core.errors import DomainError, InvalidInput
from cybercoop.core.permissions import Permission, decided_once, require
from cybercoop.documents import services as documents
from cybercoop.exchange.models import Attachment, Message
from cybercoop.registry import selectors as registry
from cybercoop.registry.models import Body, Instrument

CaseId = Annotated[uuid.UUID, Path(description="The case's id (a UUID).")]
AttachmentId = Annotated[uuid.UUID, Path(description="The attachment's id (a UUID), from the case's messages.")]
CODE_PATTERN = r"^[A-Za-z0-9_-]*$"
BODY_CODE = {"max_length": 32, "pattern": CODE_PATTERN}
MAX_ATTACHMENTS = 20  # files sent with one message
Uploads = File[list[UploadedFile]]

Errors = dict[str, str | Promise]  # field → the reason it is refused
SOME_FIELDS_NOT_VALID = _("Some fields are not valid.")
TOTP_CODE = Field(
    default="",
    max_length=16,
    description="P6.5: the signer's current TOTP code. Required when the caller signs what this act sends (they "
    "hold a signing certificate of their body, or this node requires signatures and they are its head or a "
    "deputy): the document is then signed and sent as the message's first attachment.",
)

UNKNOWN_BODY = _("Unknown body code.")
UNKNOWN_INSTRUMENT = _("Unknown instrument code.")
MALFORMED_FORM = _("The request body is not valid multipart form data.")
NAIVE_TIME = _("Give the time with its offset from UTC, such as 2026-11-23T10:00:00Z or 2026-11-23T15:00:00+05:00.")


# --- input ------------------------------------------------------------------------------------------------


def _storable(value: Any) -> Any:
    """Text anywhere in the value (list items too) must be storable: no NUL, no lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise PydanticCustomError("null_character", "null characters are not allowed")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PydanticCustomError("string_pattern_mismatch", "the text has unpaired surrogates") from None
    elif isinstance(value, list | tuple):
        for item in value:
            _storable(item)
    return value


class CaseInput(InputSchema):
    """Base of the case API's inputs: `InputSchema` checks only top-level text; lists of text are checked here."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _storable(value)


def refuse(errors: Errors, message: str | Promise = SOME_FIELDS_NOT_VALID) -> None:
    """One 422 naming every field at fault (an unknown code, a time without its zone); nothing is stored."""
    if errors:
        raise InvalidInput(message, errors={field: [reason] for field, reason in errors.items()})


def body_by_code(errors: Errors, field: str, code: str) -> Body | None:
    body = registry.get_body(code=code) if code else None
    if body is None:
        errors[field] = UNKNOWN_BODY
    return body


def instrument_by_code(errors: Errors, field: str, code: str) -> Instrument | None:
    """The instrument named in the input; the Protocol when the field is left empty."""
    instrument = registry.get_instrument(code=code or registry.PROTOCOL_CODE)
    if instrument is None:
        errors[field] = UNKNOWN_INSTRUMENT
    return instrument


def aware(errors: Errors, field: str, value: dt.datetime | None) -> dt.datetime | None:
    """An instant must say its offset from UTC: a local time alone would be read in no one's zone."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        errors[field] = NAIVE_TIME
    return value


def multipart_checked(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """For `decorate_view` on the actions that take files: a multipart body Django cannot parse is a 400 in the
    API's error format, where it would otherwise reach the catch-all handler as a 500. The body is parsed before
    authentication, as Django's CSRF check does for any form; the proxy and Django's upload limits bound it."""

    @functools.wraps(run)
    def run_parsed(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST" and request.content_type == "multipart/form-data":
            try:
                request.POST  # noqa: B018 - parsing is the point
            except (MultiPartParserError, SuspiciousOperation):
                api = run.__self__.api  # type: ignore[attr-defined]  # `run` is the bound Operation.run
                return api.on_exception(request, DomainError(MALFORMED_FORM))
        return run(request, *args, **kwargs)

    return run_parsed


def check_uploads(uploads: list[Any] | None) -> list[Any]:
    uploads = list(uploads or [])
    if len(uploads) > MAX_ATTACHMENTS:
        refuse({"attachments": _("At most %(count)s items.") % {"count": MAX_ATTACHMENTS}})
    return uploads


# --- finding the case -----------------------------------------------------------------------------------------


def visible_case(request: HttpRequest, case_id: uuid.UUID) -> Case:
    """The case, if the caller may see it (its body takes part in it, and need to know: the head or a deputy, or an
    officer it is assigned to; `safeguards.rules.case_access`). Any other case is not found (404), never forbidden:
    whether it exists is not the caller's business."""
    require(request.user, Permission.VIEW_CASE)
    case = selectors.get_case(viewer=request.user, case_id=case_id)
    if case is None:
        raise Http404
    return case


def record_view(request: HttpRequest, case: Case) -> None:
    """P10.1: reading a case is recorded (who opened which case, never what it says)."""
    services.record_view(actor=request.user, case=case)


# --- output ----------------------------------------------------------------------------------------------------

# The POST under /cases/{id}/ that sends each message (what `allowed_actions` names).
ACTION_OF_KIND: dict[Kind, str] = {
    Kind.REQUEST: "approve",
    Kind.URGENT_CONFIRMATION: "confirm-urgent",
    Kind.RECEIPT: "receipt",
    Kind.FORWARD: "forward",
    Kind.DELAY: "delay",
    Kind.INFO_REQUEST: "information-request",
    Kind.INFO_REPLY: "information",
    Kind.POSTPONEMENT: "postpone",
    Kind.CONDITIONS: "conditions",
    Kind.CONDITIONS_REPLY: "conditions-reply",
    Kind.PARTICIPATION_REQUEST: "participation-request",
    Kind.PARTICIPATION: "participation",
    Kind.REFUSAL: "refusal",
    Kind.RESULTS: "results",
    Kind.CONSENT_REQUEST: "consent-requests",
    Kind.CONSENT_REPLY: "consent-replies",
    Kind.MARKING: "marking",
}


class AttachmentOutRef(Schema):
    """A file, and where to download it (GET, with the same token)."""

    id: uuid.UUID
    name: str
    media_type: str
    size_bytes: int
    sha256: str
    url: str


class NextDueOut(Schema):
    kind: str
    kind_label: str
    due_at: dt.datetime
    overdue: bool


class CaseItemOut(Schema):
    id: uuid.UUID
    outgoing_number: str
    incoming_number: str
    subject: str
    state: str
    state_label: str
    urgent: bool
    requesting_body: str = Field(description="The requesting body's code.")
    requesting_party: str
    requested_body: str = Field(description="The body the request was addressed to.")
    requested_party: str
    handling_body: str = Field(description="The body executing the request now (after any forwarding, P7.4).")
    handling_party: str
    instrument: str = Field(description="The legal basis: the instrument's code (P14).")
    next_due: NextDueOut | None = Field(description="The soonest running obligation (P6.4, P7.2, P7.6).")
    updated_at: dt.datetime


class ClockOut(Schema):
    kind: str
    kind_label: str
    rule_id: str
    started_at: dt.datetime
    term: int
    unit: str = Field(description="days, hours, or date (a postponement's new date).")
    until: dt.date | None
    zone: str = Field(description="The time zone the term is counted in (the acting body's).")
    due_at: dt.datetime
    acting_body: str
    status: str
    status_label: str
    closed_at: dt.datetime | None
    overdue: bool


class ConsentOut(Schema):
    """P10.2: a request for consent to use a file the other body provided, and its answer once given."""

    request: uuid.UUID = Field(description="The consent request's message id (answer it by this id).")
    attachment: str = Field(description="SHA-256 of the file.")
    name: str
    use: str = Field(description=", ".join(rules.ConsentUse.values) + ".")
    use_label: str
    target: str = Field(description="The other case's number, or the body the information would go to.")
    purpose: str
    requested_at: dt.datetime
    status: str = Field(description=", ".join(rules.ConsentStatus.values) + ".")
    status_label: str
    conditions: list[str] = Field(description="The conditions of a granted consent.")
    reason: str = Field(description="Why it was refused.")
    decided_at: dt.datetime | None


class ReusedOut(Schema):
    """P10.2: a file of another case of the caller's body, used in this case with the providing body's consent."""

    source_case: uuid.UUID
    source_number: str
    target_case: uuid.UUID
    attachment: AttachmentOutRef = Field(description="The file; downloaded through its source case.")
    provided_by: str = Field(description="The providing body's code.")
    consent_request: uuid.UUID
    consented_at: dt.datetime
    purposes: list[str]
    conditions: list[str] = Field(description="P7.7 and the consent's: they go with the file.")
    used_by: str
    used_at: dt.datetime


class CaseOut(CaseItemOut):
    side: str | None = Field(description="The caller's side: requesting, requested, or none.")
    # P6.2: what the request states.
    scope: str
    scope_label: str
    purpose: str
    grounds: str
    substance: str
    assistance_kinds: list[str]
    assistance_sought: str
    identifiers: str
    execution_term_days: int | None
    other_information: str
    offence: str
    dual_criminality_confirmed: bool
    annex_language: str
    marking: str
    purposes: list[str]
    # The people of the workflow.
    drafted_by: str | None = Field(description="Empty for a request received from another node.")
    submitted_by: str | None
    approved_by: str | None
    approved_at: dt.datetime | None
    return_comment: str
    # Derived from the messages.
    received_at: dt.datetime | None
    closed_at: dt.datetime | None
    postponed_until: dt.date | None
    urgent_confirmed_at: dt.datetime | None
    partially_refused: bool
    conditions_proposed: list[str]
    conditions_accepted: list[str] = Field(description="P7.7: they bind everything the case produces.")
    participation_pending: bool
    created_at: dt.datetime
    clocks: list[ClockOut]
    allowed_actions: list[str] = Field(
        description="What the caller may do now: `edit` (PATCH) or the name of the POST under /cases/{case_id}/."
    )
    consents: list[ConsentOut] = Field(description="P10.2: consents asked to use information of the case.")
    reused_information: list[ReusedOut] = Field(
        description="P10.2: files of the caller's body's other cases used in this one, with their purposes and "
        "conditions."
    )


def _next_due(clocks: list[Clock], now: dt.datetime) -> NextDueOut | None:
    running = sorted(
        (c for c in clocks if c.status == rules.ClockStatus.RUNNING and c.kind in rules.OBLIGATORY_CLOCKS),
        key=lambda c: c.due_at,
    )
    if not running:
        return None
    first = running[0]
    return NextDueOut(
        kind=first.kind, kind_label=str(first.get_kind_display()), due_at=first.due_at, overdue=now >= first.due_at
    )


def _item_fields(case: Case, clocks: list[Clock], now: dt.datetime) -> dict[str, Any]:
    return {
        "id": case.id,
        "outgoing_number": case.outgoing_number,
        "incoming_number": case.incoming_number,
        "subject": case.subject,
        "state": case.state,
        "state_label": str(case.get_state_display()),
        "urgent": case.urgent,
        "requesting_body": case.requesting_body.code,
        "requesting_party": case.requesting_body.party.code,
        "requested_body": case.requested_body.code,
        "requested_party": case.requested_body.party.code,
        "handling_body": case.handling_body.code,
        "handling_party": case.handling_body.party.code,
        "instrument": case.instrument.code,
        "next_due": _next_due(clocks, now),
        "updated_at": case.updated_at,
    }


def with_open_clocks(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Lists show each case's next deadline: its running obligations in one query for the page."""
    running = Clock.objects.filter(status=rules.ClockStatus.RUNNING, obligatory=True).order_by("due_at")
    return cases.select_related(
        "requesting_body__party", "requested_body__party", "handling_body__party", "instrument"
    ).prefetch_related(Prefetch("clocks", queryset=running, to_attr="open_clocks"))


class CasePagination(LimitOffsetPagination):
    """Ninja's limit/offset pages, each case mapped to its list item; the offset is bounded (a huge one is a
    422, not a database error)."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=200, description="Cases per page (at most 200).")
        offset: int = Field(0, ge=0, le=10**9)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_limit=200, **kwargs)

    def paginate_queryset(self, queryset: QuerySet[Case], pagination: Any, request: HttpRequest, **params: Any) -> Any:
        page = super().paginate_queryset(queryset, pagination, request, **params)
        now = clock.now()
        page[self.items_attribute] = [
            CaseItemOut(**_item_fields(case, case.open_clocks, now)) for case in page[self.items_attribute]
        ]
        return page


def _clock(item: Clock, now: dt.datetime) -> ClockOut:
    return ClockOut(
        kind=item.kind,
        kind_label=str(item.get_kind_display()),
        rule_id=item.rule_id,
        started_at=item.started_at,
        term=item.term,
        unit=item.unit,
        until=item.until,
        zone=item.zone,
        due_at=item.due_at,
        acting_body=item.acting_body.code,
        status=item.status,
        status_label=str(item.get_status_display()),
        closed_at=item.closed_at,
        overdue=item.spec().is_overdue(now),
    )


def allowed_actions(case: Case, user: Any, derived: rules.Derived | None = None) -> list[str]:
    """What the caller may do now, as the services would allow it (the state machine, the side, the role)."""
    side = case.side_of(user.body_id)
    if side is None or case.state == CaseState.DISCARDED:
        return []
    if case.state in rules.DRAFT_STATES:
        if side != Side.REQUESTING:
            return []
        drafts, approves = user.has_perm(Permission.DRAFT_REQUEST), user.has_perm(Permission.APPROVE_REQUEST)
        actions = []
        if case.state == CaseState.DRAFT and drafts:
            actions += ["edit", "submit"]
        if case.state == CaseState.AWAITING_APPROVAL and approves:
            actions.append("return")
        if approves:
            actions.append("approve")
        if case.urgent and drafts:
            actions.append("send-urgent")
        if drafts:
            actions.append("discard")
        return actions
    kinds = rules.allowed_kinds(state=case.state, side=side, derived=derived or services.derive(case))
    if Kind.CONSENT_REQUEST in kinds and not services.received_files(case=case, body_id=user.body_id):
        kinds.remove(Kind.CONSENT_REQUEST)  # P10.2: consent is asked for a file the other body provided
    with decided_once():  # need to know asked once for all the acts weighed, not once per act
        return [ACTION_OF_KIND[k] for k in kinds if user.has_perm(rules.TRANSITIONS[k].permission, case)]


def consent_out(consent: rules.Consent) -> ConsentOut:
    return ConsentOut(
        request=uuid.UUID(consent.request),
        attachment=consent.attachment,
        name=consent.name,
        use=consent.use,
        use_label=consent.use_label,
        target=consent.target,
        purpose=consent.purpose,
        requested_at=consent.requested_at,
        status=consent.status,
        status_label=consent.status_label,
        conditions=list(consent.conditions),
        reason=consent.reason,
        decided_at=consent.decided_at,
    )


def reused_out(item: ReusedInformation) -> ReusedOut:
    source = item.source_case
    return ReusedOut(
        source_case=source.id,
        source_number=source.outgoing_number or source.incoming_number,
        target_case=item.target_case_id,
        attachment=_attachment_ref(source, item.attachment),
        provided_by=item.provided_by.code,
        consent_request=item.consent_request,
        consented_at=item.consented_at,
        purposes=list(item.purposes),
        conditions=list(item.conditions),
        used_by=item.used_by.username,
        used_at=item.used_at,
    )


def case_out(case: Case, user: Any) -> CaseOut:
    """The case as the caller sees it: every P6.2 field, what follows from the messages, the clocks and the
    actions open to the caller now."""
    now = clock.now()
    clocks = list(selectors.clocks(case=case))
    side = case.side_of(user.body_id)
    derived = services.derive(case) if side is not None else None
    return CaseOut(
        **_item_fields(case, clocks, now),
        side=side.value if side is not None else None,
        scope=case.scope,
        scope_label=str(case.get_scope_display()) if case.scope else "",
        purpose=case.purpose,
        grounds=case.grounds,
        substance=case.substance,
        assistance_kinds=list(case.assistance_kinds),
        assistance_sought=case.assistance_sought,
        identifiers=case.identifiers,
        execution_term_days=case.execution_term_days,
        other_information=case.other_information,
        offence=case.offence,
        dual_criminality_confirmed=case.dual_criminality_confirmed,
        annex_language=case.annex_language,
        marking=case.marking,
        purposes=list(case.purposes),
        drafted_by=case.drafted_by.username if case.drafted_by else None,
        submitted_by=case.submitted_by.username if case.submitted_by is not None else None,
        approved_by=case.approved_by.username if case.approved_by is not None else None,
        approved_at=case.approved_at,
        return_comment=case.return_comment,
        received_at=case.received_at,
        closed_at=case.closed_at,
        postponed_until=case.postponed_until,
        urgent_confirmed_at=case.urgent_confirmed_at,
        partially_refused=case.partially_refused,
        conditions_proposed=list(case.conditions_proposed),
        conditions_accepted=list(case.conditions_accepted),
        participation_pending=case.participation_pending,
        created_at=case.created_at,
        clocks=[_clock(c, now) for c in clocks],
        allowed_actions=allowed_actions(case, user, derived),
        consents=[consent_out(c) for c in derived.consents] if derived is not None else [],
        reused_information=[reused_out(r) for r in services.reused_information(case=case, viewer=user)],
    )


def acted(request: HttpRequest, case: Case) -> CaseOut:
    """The case after the caller's act. A body that has just forwarded the case no longer sees it afterwards;
    it is still answered with the case as its act left it."""
    seen = selectors.get_case(viewer=request.user, case_id=case.id)
    return case_out(seen if seen is not None else case, request.user)


class SignatureOut(Schema):
    """P6.5: what the check of a signed document found when it arrived (or was sent) here."""

    valid: bool
    reasons: list[str] = Field(description="Why it fails, in the language of the check; empty when valid.")
    signer_name: str
    signer_position: str = Field(description="`head` or `deputy`, as the certificate states it.")
    body_code: str
    signed_at: dt.datetime | None
    document_sha256: str


class AttachmentOut(Schema):
    id: uuid.UUID
    name: str
    media_type: str
    size_bytes: int
    sha256: str
    url: str = Field(description="Where to download it (GET, with the same token).")
    signature: SignatureOut | None = Field(
        default=None, description="The check of the signed official document this file is; absent for other files."
    )


def _attachment_ref(case: Case, attachment: Attachment) -> AttachmentOutRef:
    return AttachmentOutRef(
        id=attachment.id,
        name=attachment.name,
        media_type=attachment.media_type,
        size_bytes=attachment.size_bytes,
        sha256=attachment.sha256,
        url=reverse("api:case_attachment", kwargs={"case_id": str(case.id), "attachment_id": str(attachment.id)}),
    )


class MessageOut(Schema):
    id: uuid.UUID
    kind: str
    seq: int = Field(description="The sender's number for its messages in this case.")
    position: int = Field(description="The order this node applied the messages in.")
    sender_body: str
    recipient_body: str
    sender: str | None = Field(description="The username of the sender, when known on this node.")
    created_at: dt.datetime
    body: dict[str, Any]
    marking: str
    purposes: list[str]
    conditions: list[str] = Field(description="P7.7: the accepted conditions the message is bound by.")
    hash: str
    attachments: list[AttachmentOut]


def _signature(check: Any) -> SignatureOut | None:
    if check is None:
        return None
    return SignatureOut(
        valid=check.valid,
        reasons=[str(reason) for reason in check.reasons],
        signer_name=check.signer_name,
        signer_position=check.signer_position,
        body_code=check.body_code,
        signed_at=check.signed_at,
        document_sha256=check.document_sha256,
    )


def _attachment(case: Case, attachment: Attachment, check: Any = None) -> AttachmentOut:
    return AttachmentOut(
        id=attachment.id,
        name=attachment.name,
        media_type=attachment.media_type,
        size_bytes=attachment.size_bytes,
        sha256=attachment.sha256,
        url=reverse("api:case_attachment", kwargs={"case_id": str(case.id), "attachment_id": str(attachment.id)}),
        signature=_signature(check),
    )


def messages_out(case: Case, messages: Any) -> list[MessageOut]:
    """The case's messages, each attachment with its signature check, if it has one (two queries for them all)."""
    messages = list(messages)
    files = [attachment for message in messages for attachment in message.attachments.all()]
    checks = documents.checks_for([attachment.id for attachment in files])
    return [message_out(case, message, checks) for message in messages]


def message_out(case: Case, message: Message, checks: dict[Any, Any] | None = None) -> MessageOut:
    return MessageOut(
        id=message.id,
        kind=message.kind,
        seq=message.seq,
        position=message.position,
        sender_body=message.sender_body.code,
        recipient_body=message.recipient_body.code,
        sender=message.sender_user.username if message.sender_user is not None else None,
        created_at=message.created_at,
        body=message.body,
        marking=message.marking,
        purposes=list(message.purposes),
        conditions=list(message.conditions),
        hash=message.hash,
        attachments=[_attachment(case, a, (checks or {}).get(a.id)) for a in message.attachments.all()],
    )
