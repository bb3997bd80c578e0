"""Every change to a case: drafting and approval on the requesting side, then one service per act between
the two bodies, each sent as a message (`exchange.services.send`) and applied by `recompute`."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, override

from cybercoop.accounts import services as accounts
from cybercoop.accounts.rules import Role
from cybercoop.accounts.selectors import users
from cybercoop.assistance import rules, selectors
from cybercoop.assistance.models import Case, CaseAssignment, Clock, ReleasedInformation, ReusedInformation
from cybercoop.assistance.rules import Kind, Side
from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.core.permissions import Permission, require
from cybercoop.documents import render
from cybercoop.documents import services as documents
from cybercoop.exchange import at_rest
from cybercoop.exchange import selectors as exchange_selectors
from cybercoop.exchange import services as exchange
from cybercoop.exchange.rules import STATE_SECRET_REFUSED, Marking, is_state_secret, safe_file_name
from cybercoop.registry import selectors as registry
from cybercoop.registry.models import Body
from cybercoop.safeguards import rules as safeguards
from cybercoop.safeguards.rules import SEES_EVERY_CASE_OF_THE_BODY

logger = logging.getLogger(__name__)

DRAFT_FIELDS = (
    "subject",
    "scope",
    "purpose",
    "grounds",
    "substance",
    "assistance_kinds",
    "assistance_sought",
    "identifiers",
    "execution_term_days",
    "other_information",
    "offence",
    "dual_criminality_confirmed",
    "annex_language",
    "urgent",
    "marking",
    "purposes",
)
TEXT_LIMITS = {
    "subject": 300,
    "purpose": 5000,
    "grounds": 5000,
    "substance": 20000,
    "assistance_sought": 20000,
    "identifiers": 10000,
    "other_information": 10000,
    "offence": 300,
}
Uploads = Sequence[UploadedFile[bytes]]


def _refuse(message: Any, errors: dict[str, Any]) -> None:
    if errors:
        raise InvalidInput(message, errors={field: [text] for field, text in errors.items()})


def request_facts(case: Case) -> rules.RequestFacts:
    """The request's fields as the rules check them."""
    return rules.RequestFacts(
        subject=case.subject,
        scope=case.scope,
        purpose=case.purpose,
        grounds=case.grounds,
        substance=case.substance,
        assistance_kinds=tuple(case.assistance_kinds),
        assistance_sought=case.assistance_sought,
        identifiers=case.identifiers,
        execution_term_days=case.execution_term_days,
        other_information=case.other_information,
        urgent=case.urgent,
        dual_criminality_confirmed=case.dual_criminality_confirmed,
        offence=case.offence,
        annex_language=case.annex_language,
    )


def _check_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Shape of the draft's fields (lengths, choices, types), field by field."""
    errors: dict[str, Any] = {}
    unknown = set(values) - set(DRAFT_FIELDS)
    if unknown:
        raise ValueError(f"unknown request fields: {sorted(unknown)}")
    for name, limit in TEXT_LIMITS.items():
        if name in values and len(str(values[name] or "")) > limit:
            errors[name] = _("At most %(count)d characters.") % {"count": limit}
    if "scope" in values and values["scope"] and values["scope"] not in rules.Scope.values:
        errors["scope"] = _("Choose what the request concerns from the list of Article 3 (P3.1).")
    if "assistance_kinds" in values and (
        not isinstance(values["assistance_kinds"], list)
        or any(k not in rules.AssistanceKind.values for k in values["assistance_kinds"])
    ):
        errors["assistance_kinds"] = _("Choose operational-search measures, procedural actions or both (P5.2).")
    term = values.get("execution_term_days")
    if term is not None and (not isinstance(term, int) or not 1 <= term <= 365):
        errors["execution_term_days"] = _("An agreed term is from 1 to 365 days.")
    if "marking" in values and is_state_secret(values["marking"]):
        errors["marking"] = STATE_SECRET_REFUSED
    elif "marking" in values and values["marking"] not in Marking.values:
        errors["marking"] = _("Choose a marking from the list.")
    if "purposes" in values and (
        not isinstance(values["purposes"], list)
        or any(not str(p).strip() or len(str(p)) > 300 for p in values["purposes"])
    ):
        errors["purposes"] = _("Each permitted purpose is a line of at most 300 characters.")
    return errors


def _check_parties(*, requesting: Body, requested: Body, instrument: Any, on: dt.date) -> dict[str, Any]:
    """Only bodies designated and under an instrument in force for both Parties may exchange requests."""
    errors: dict[str, Any] = {}
    if requested.party_id == requesting.party_id:
        errors["requested_body"] = _("A request under the Protocol goes to a body of another Party.")
        return errors
    if not registry.in_force_between(
        instrument=instrument, party_a=requesting.party, party_b=requested.party, on=on
    ):  # P16.2, P18
        errors["instrument"] = _("This instrument is not in force between the two Parties today.")
    if registry.protocol() is not None and instrument.code == registry.PROTOCOL_CODE:
        if not registry.is_designated(body=requested, instrument=instrument, on=on):  # P4.2
            errors["requested_body"] = _("This body is not a designated competent body today.")
        if not registry.is_designated(body=requesting, instrument=instrument, on=on):
            errors["requesting_body"] = _("Your body is not a designated competent body today.")
    return errors


# --- drafting and approval (requesting side; no message yet) ------------------------------------------------


@transaction.atomic
def create_draft(*, actor: Any, requested_body: Body, instrument: Any, **fields: Any) -> Case:
    """Start a request to `requested_body` under `instrument` (P6.1, P14); the fields may be completed later."""
    require(actor, Permission.DRAFT_REQUEST)
    errors = _check_fields(fields)
    today = registry.depositary_today()
    errors.update(_check_parties(requesting=actor.body, requested=requested_body, instrument=instrument, on=today))
    _refuse(_("The draft could not be created."), errors)
    now = clock.now()
    case = Case(
        requesting_body=actor.body,
        requested_body=requested_body,
        handling_body=requested_body,
        instrument=instrument,
        drafted_by=actor,
        created_at=now,
        updated_at=now,
        execution_term_days=None,
        purposes=[],
    )
    for name, value in fields.items():
        setattr(case, name, value)
    if not case.purposes and case.purpose:
        case.purposes = [case.purpose[:300]]
    case.save()
    CaseAssignment.objects.create(case=case, user=actor, how=CaseAssignment.How.DRAFTED, assigned_at=now)
    audit.record(action=AuditAction.CASE_DRAFTED, actor=actor, target=case, data={"to": requested_body.code})
    return case


def _lock(case: Case) -> Case:
    """The case's row, and only it (not the bodies, parties and instrument read with it), FOR NO KEY UPDATE: the
    foreign keys that name a case or a body are checked at commit with a key-share lock, which this does not block.
    A plain FOR UPDATE on them deadlocked an act, waiting for the audit chain's head, against a transaction that held
    the head and, committing, checked its entries' keys (tests/assistance/test_act_locks.py)."""
    return (
        Case.objects.select_for_update(no_key=True, of=("self",))
        .select_related("requesting_body__party", "requested_body__party", "handling_body__party", "instrument")
        .get(pk=case.pk)
    )


def _require_draft(case: Case, actor: Any) -> None:
    if case.side_of(actor.body_id) != Side.REQUESTING:
        raise PermissionDenied
    if case.state == rules.CaseState.DISCARDED:
        raise RuleViolation("P6.2", _("The draft has been discarded."))
    if case.state not in rules.DRAFT_STATES:
        raise RuleViolation("P6.2", _("The request has been sent; it can no longer be edited."))


@transaction.atomic
def update_draft(
    *, actor: Any, case: Case, requested_body: Body | None = None, instrument: Any = None, **fields: Any
) -> Case:
    """Change a draft (P6.2 fields, addressee, legal basis); only while it is a draft."""
    require(actor, Permission.DRAFT_REQUEST)
    case = _lock(case)
    _require_draft(case, actor)
    if case.state != rules.CaseState.DRAFT:
        raise RuleViolation("P6.5", _("The draft is awaiting approval; it must be returned before it is edited."))
    errors = _check_fields(fields)
    if requested_body is not None or instrument is not None:
        errors.update(
            _check_parties(
                requesting=case.requesting_body,
                requested=requested_body or case.requested_body,
                instrument=instrument or case.instrument,
                on=registry.depositary_today(),
            )
        )
    _refuse(_("The draft could not be saved."), errors)
    if requested_body is not None:
        case.requested_body = case.handling_body = requested_body
    if instrument is not None:
        case.instrument = instrument
    for name, value in fields.items():
        setattr(case, name, value)
    case.updated_at = clock.now()
    case.save()
    audit.record(action=AuditAction.CASE_DRAFT_EDITED, actor=actor, target=case, data={"fields": sorted(fields)})
    return case


def _check_complete(case: Case) -> None:
    errors = dict(rules.check_request(request_facts(case)))  # P6.2
    errors.update(
        _check_parties(
            requesting=case.requesting_body,
            requested=case.requested_body,
            instrument=case.instrument,
            on=registry.depositary_today(),
        )
    )
    _refuse(_("The request is not complete."), errors)


@transaction.atomic
def submit_for_approval(*, actor: Any, case: Case) -> Case:
    """Hand a complete draft to the head or a deputy, who alone may sign it (P6.5)."""
    require(actor, Permission.DRAFT_REQUEST)
    case = _lock(case)
    _require_draft(case, actor)
    if case.state != rules.CaseState.DRAFT:
        raise RuleViolation("P6.5", _("The request is already awaiting approval."))
    _check_complete(case)
    case.state = rules.CaseState.AWAITING_APPROVAL
    case.submitted_by = actor
    case.return_comment = ""
    case.updated_at = clock.now()
    case.save()
    audit.record(action=AuditAction.CASE_SUBMITTED, actor=actor, target=case)
    return case


@transaction.atomic
def return_to_draft(*, actor: Any, case: Case, comment: str) -> Case:
    """The head or a deputy sends a draft back to be reworked, saying why."""
    require(actor, Permission.APPROVE_REQUEST)
    case = _lock(case)
    _require_draft(case, actor)
    if case.state != rules.CaseState.AWAITING_APPROVAL:
        raise RuleViolation("P6.5", _("Only a request awaiting approval can be returned."))
    _refuse(
        _("The request could not be returned."), {"comment": _("Say what must change.")} if not comment.strip() else {}
    )
    case.state = rules.CaseState.DRAFT
    case.return_comment = comment.strip()[:5000]
    case.updated_at = clock.now()
    case.save()
    audit.record(action=AuditAction.CASE_RETURNED, actor=actor, target=case)
    return case


@transaction.atomic
def discard_draft(*, actor: Any, case: Case) -> Case:
    """Abandon a request that was never sent."""
    require(actor, Permission.DRAFT_REQUEST)
    case = _lock(case)
    _require_draft(case, actor)
    case.state = rules.CaseState.DISCARDED
    case.closed_at = case.updated_at = clock.now()
    case.save()
    audit.record(action=AuditAction.CASE_DISCARDED, actor=actor, target=case)
    return case


def _next_number(body: Body, field: str, prefix: str) -> str:
    # Lock the body row: two requests approved at once must not get the same number.
    Body.objects.select_for_update(no_key=True).get(pk=body.pk)
    count = Case.objects.filter(**{f"{field}__startswith": prefix}).count()
    return f"{prefix}{count + 1:05d}"


def _request_body(case: Case, actor: Any) -> dict[str, Any]:
    return {
        "outgoing_number": case.outgoing_number,
        "requesting_body": case.requesting_body.code,
        "requested_body": case.requested_body.code,
        "urgent": case.urgent,
        "subject": case.subject,
        "scope": case.scope,
        "purpose": case.purpose,
        "grounds": case.grounds,
        "substance": case.substance,
        "assistance_kinds": list(case.assistance_kinds),
        "assistance_sought": case.assistance_sought,
        "identifiers": case.identifiers,
        "execution_term_days": case.execution_term_days or case.instrument.execution_term_days,
        "other_information": case.other_information,
        "offence": case.offence,
        "dual_criminality_confirmed": case.dual_criminality_confirmed,
        "annex_language": case.annex_language,
        "signatory": {"name": actor.full_name, "position": actor.position, "role": actor.role},
    }


def approve_and_send(*, actor: Any, case: Case, uploads: Uploads = (), code: str | None = None) -> Case:
    """The head or a deputy approves the request and it goes to the requested body (P6.1, P6.2, P6.3, P6.5);
    signed with a fresh TOTP `code` where signing is required or the approver holds a signing certificate.

    The code is checked first, outside the approval's transaction, so that a wrong one is counted towards the
    throttling even though the approval is then refused and rolled back."""
    second_factor = _second_factor(actor=actor, case=case, code=code, permission=Permission.APPROVE_REQUEST)
    return _approve_and_send(actor=actor, case=case, uploads=uploads, second_factor=second_factor)


@transaction.atomic
def _approve_and_send(*, actor: Any, case: Case, uploads: Uploads, second_factor: Any) -> Case:
    return _send_request(actor=actor, case=case, uploads=uploads, urgent=False, second_factor=second_factor)


def _second_factor(*, actor: Any, case: Case, code: str | None, permission: Permission) -> Any:
    """The proof of a fresh TOTP code when this act signs (None when it does not): checked before the act's
    transaction begins, after what can be refused without spending the code."""
    require(actor, permission)
    if not signing_required(actor=actor, case=case):
        return None
    _check_code(code)
    return documents.check_code(actor=actor, code=code or "")


@transaction.atomic
def send_urgent(*, actor: Any, case: Case, uploads: Uploads = ()) -> Case:
    """P6.4: urgent operational information goes at once by the technical channel; the head or a deputy
    confirms it in writing within 72 hours (`confirm_urgent`)."""
    return _send_request(actor=actor, case=case, uploads=uploads, urgent=True)


def _send_request(*, actor: Any, case: Case, uploads: Uploads, urgent: bool, second_factor: Any = None) -> Case:
    require(actor, Permission.DRAFT_REQUEST if urgent else Permission.APPROVE_REQUEST)
    case = _lock(case)
    _require_draft(case, actor)
    if urgent and not case.urgent:
        raise RuleViolation("P6.4", _("Only a request marked urgent goes before its written approval."))
    _check_complete(case)
    # P6.4: an urgent request goes by the technical channel unsigned; its written confirmation is signed.
    signing = not urgent and signing_required(actor=actor, case=case)
    if signing:
        if second_factor is None:
            _check_code(None)
        for upload in uploads:  # a file refused after signing would waste the code
            exchange.check_upload(upload=upload)
    now = clock.now()
    case.outgoing_number = _next_number(
        case.requesting_body, "outgoing_number", f"{case.requesting_body.code}-{now:%Y}-"
    )
    if not urgent:
        case.approved_by, case.approved_at = actor, now
    case.updated_at = now
    case.save()
    body = _request_body(case, actor)
    if signing:
        # Any refusal below rolls the whole approval back: no number is used, no message sent.
        data = request_document(case=case, actor=actor, kind=render.DocumentKind.REQUEST)
        signed = _sign(data=data, actor=actor, body=case.requesting_body, second_factor=second_factor)
        uploads = [_signed_upload(signed), *uploads]
        body[SIGNED_DOCUMENT] = _document_reference(signed)
    return _send(case=case, actor=actor, kind=Kind.REQUEST, body=body, uploads=uploads, locked=True)


def confirm_urgent(*, actor: Any, case: Case, code: str | None = None) -> Case:
    """P6.4, P6.5: the written confirmation of an urgent request, signed by the head or a deputy (with a fresh
    TOTP `code` where signing is required or the signer holds a signing certificate; checked first, outside the
    act's transaction, as in `approve_and_send`)."""
    second_factor = _second_factor(actor=actor, case=case, code=code, permission=Permission.APPROVE_REQUEST)
    return _confirm_urgent(actor=actor, case=case, second_factor=second_factor)


@transaction.atomic
def _confirm_urgent(*, actor: Any, case: Case, second_factor: Any) -> Case:
    case = _guard(case=case, actor=actor, kind=Kind.URGENT_CONFIRMATION)
    body: dict[str, Any] = {"signatory": {"name": actor.full_name, "position": actor.position, "role": actor.role}}
    uploads: list[Any] = []
    if second_factor is not None:  # `confirm_urgent` checked the code of a signer (`signing_required`)
        data = request_document(case=case, actor=actor, kind=render.DocumentKind.URGENT_CONFIRMATION)
        signed = _sign(data=data, actor=actor, body=case.requesting_body, second_factor=second_factor)
        uploads = [_signed_upload(signed)]
        body[SIGNED_DOCUMENT] = _document_reference(signed)
    case = _send(
        case=case,
        actor=actor,
        locked=True,
        kind=Kind.URGENT_CONFIRMATION,
        body=body,
        uploads=uploads,
    )
    Case.objects.filter(pk=case.pk).update(approved_by=actor, approved_at=case.urgent_confirmed_at)
    case.refresh_from_db()
    return case


@transaction.atomic
def record_view(*, actor: Any, case: Case) -> None:
    """Reading a case is recorded (P10.1): who opened which case, never what it says."""
    require(actor, Permission.VIEW_CASE, case)
    audit.record(action=AuditAction.CASE_VIEWED, actor=actor, target=case)


# --- the official document: the request as a signed Russian PDF (P6.3, P6.5, P13) ----------------------------

# The key of a message's body naming the signed official document among its attachments, by SHA-256: the
# receiving node verifies that file (and flags it if it fails), not whichever PDF happens to be attached.
SIGNED_DOCUMENT = "document"
# The acts of the requested body that go on from the request: none on a document that fails verification (P6.5).
ACTS_ON_THE_REQUEST = frozenset(
    {Kind.RECEIPT, Kind.FORWARD, Kind.POSTPONEMENT, Kind.CONDITIONS, Kind.PARTICIPATION, Kind.RESULTS}
)
NOT_SIGNED = _("The document could not be signed.")


# Who signs the official documents of their body (P6.5): the head and the deputies.
SIGNATORY_ROLES = frozenset({Role.HEAD, Role.DEPUTY})


def signing_required(*, actor: Any, case: Case) -> bool:
    """P6.5: whether a document `actor` sends in this case (the request, its written confirmation, or a reply of
    the requested body) takes a TOTP code and is signed: `actor` holds a usable signing certificate of the body
    they act for, or this node requires signatures and `actor` is its head or a deputy. An officer's reply goes
    unsigned (the Protocol asks the head's signature of requests; refusals are for the head or a deputy anyway)."""
    side = case.side_of(actor.body_id)
    if side is None:
        return False
    body = case.requesting_body if side == Side.REQUESTING else case.handling_body
    if documents.signing_enabled_for(actor, body):
        return True
    return bool(settings.SIGNING_REQUIRED) and actor.role in SIGNATORY_ROLES


def _check_code(code: str | None) -> None:
    if not (code or "").strip():
        raise InvalidInput(
            NOT_SIGNED,
            errors={"code": [_("Enter the code your authenticator app shows: the document is signed as it is sent.")]},
        )


def _request_sections(case: Case) -> list[render.Section]:
    """The request's fields in the order of P6.2, as the document prints them (in Russian, P13)."""
    kinds = dict(rules.AssistanceKind.choices)
    term = case.execution_term_days or case.instrument.execution_term_days
    with override(render.LANGUAGE):
        offence = case.offence
        if offence and case.dual_criminality_confirmed:
            offence = f"{offence}\n{capfirst(str(Case._meta.get_field('dual_criminality_confirmed').verbose_name))}."
        values = [
            (render.SectionKey.SCOPE, case.get_scope_display() if case.scope else ""),
            (render.SectionKey.PURPOSE, case.purpose),
            (render.SectionKey.GROUNDS, case.grounds),
            (render.SectionKey.SUBSTANCE, case.substance),
            (render.SectionKey.ASSISTANCE_KINDS, ", ".join(str(kinds.get(k, k)) for k in case.assistance_kinds)),
            (render.SectionKey.ASSISTANCE_SOUGHT, case.assistance_sought),
            (render.SectionKey.IDENTIFIERS, case.identifiers),
            (render.SectionKey.OFFENCE, offence),
            (render.SectionKey.EXECUTION_TERM, ngettext("%(count)d day", "%(count)d days", term) % {"count": term}),
            (render.SectionKey.OTHER_INFORMATION, case.other_information),
        ]
        return [render.Section.of(key, str(text)) for key, text in values if str(text).strip()]


def _request_reference(case: Case) -> str:
    """The request a document confirms (P6.4) or answers, by its number and the day it was sent."""
    sent = exchange_selectors.conversation(conversation_id=case.id).filter(kind=Kind.REQUEST).first()
    day = (sent.created_at if sent is not None else clock.now()).astimezone(case.requesting_body.zone).date()
    with override(render.LANGUAGE):
        return str(_("No. %(number)s of %(date)s") % {"number": case.outgoing_number, "date": f"{day:%d.%m.%Y}"})


def _signatory(actor: Any) -> tuple[str, str]:
    """The signatory's name and position as a document prints them (the role's Russian name if no position)."""
    with override(render.LANGUAGE):
        return actor.full_name or actor.username, actor.position or str(Role(actor.role).label)


def request_document(*, case: Case, actor: Any, kind: str = render.DocumentKind.REQUEST) -> render.DocumentData:
    """The request (or the written confirmation of an urgent one) as its official document states it: the two
    bodies, the outgoing number and today's date in the requesting body's zone, the sections of P6.2, the
    instrument as legal basis, and `actor` as the signatory (P6.2, P6.3, P6.5)."""
    sections = _request_sections(case)
    if kind == render.DocumentKind.URGENT_CONFIRMATION:
        sections.insert(0, render.Section.of(render.SectionKey.URGENT_REQUEST, _request_reference(case)))
    name, position = _signatory(actor)
    return render.DocumentData(
        kind=render.DocumentKind(kind),
        number=case.outgoing_number,
        date=clock.now().astimezone(case.requesting_body.zone).date(),
        sender=render.heading_for(case.requesting_body),
        addressee=render.heading_for(case.requested_body),
        sections=sections,
        legal_basis=case.instrument.name_ru,
        signatory_name=name,
        signatory_position=position,
        title=case.subject,
        annex_language=case.annex_language if case.annex_language in render.ANNEX_LANGUAGES else None,
    )


def _sign(*, data: render.DocumentData, actor: Any, body: Body, second_factor: Any) -> documents.SignedDocument:
    """Render and sign the document; a missing certificate is said on the code field, where the signer acts."""
    try:
        return documents.sign_document(data=data, actor=actor, body=body, second_factor=second_factor)
    except InvalidInput as error:
        errors = dict(error.errors)
        if "certificate" in errors:
            errors["code"] = [*errors.get("code", []), *errors.pop("certificate")]
        raise InvalidInput(error.message, errors=errors) from error


def _signed_upload(signed: documents.SignedDocument) -> SimpleUploadedFile:
    return SimpleUploadedFile(signed.filename, signed.pdf, content_type="application/pdf")


def _document_reference(signed: documents.SignedDocument) -> dict[str, str]:
    return {"kind": signed.kind, "sha256": signed.sha256, "name": signed.filename}


def signed_documents(messages: Sequence[Any]) -> dict[Any, Any]:
    """For each message that names a signed document (SIGNED_DOCUMENT), the attachment holding it, by message id."""
    found = {}
    for message in messages:
        reference = message.body.get(SIGNED_DOCUMENT) if isinstance(message.body, dict) else None
        if not isinstance(reference, dict):
            continue
        attachment = next((a for a in message.attachments.all() if a.sha256 == reference.get("sha256")), None)
        if attachment is not None:
            found[message.id] = attachment
    return found


def _document_checks(messages: Sequence[Any]) -> list[Any]:
    """What the check on receipt found of each signed document these messages name (None: not checked yet)."""
    signed = signed_documents(messages)
    checks = documents.checks_for([a.id for a in signed.values()])
    return [checks.get(a.id) for a in signed.values()]


def _first_failed(checks: Sequence[Any]) -> Any:
    return next((check for check in checks if check is not None and not check.valid), None)


def _check_request_document(case: Case, kind: Kind) -> None:
    """P6.5: the requested body acts on a request only if its signed document verified on receipt; where this
    node requires signatures and the requested Party's profile asks for one, an unsigned request is not taken
    up either (an urgent one goes ahead before its signed written confirmation, P6.4, whose clock flags it)."""
    if kind not in ACTS_ON_THE_REQUEST:
        return
    messages = list(
        exchange_selectors.conversation(conversation_id=case.id)
        .filter(kind__in=[Kind.REQUEST, Kind.URGENT_CONFIRMATION])
        .prefetch_related("attachments")
    )
    checks = _document_checks(messages)
    failed = _first_failed(checks)
    if failed is not None:
        raise RuleViolation(
            "P6.5",
            _("The signed document of the request failed verification: %(reasons)s")
            % {"reasons": "; ".join(failed.reasons)},
        )
    if not settings.SIGNING_REQUIRED or not registry.profile(party=case.requested_body.party).signature_required:
        return
    verified = any(check is not None and check.valid for check in checks)
    urgent = any(m.kind == Kind.REQUEST and m.body.get("urgent") for m in messages)
    if not verified and not urgent:
        raise RuleViolation(
            "P6.5",
            _("The request carries no verified signature of the head of the requesting body or a deputy."),
        )


# --- the requested body's replies as signed Russian letters (P7.6, P7.8, P9.2, P13) -----------------------------

# The acts of the requested body that go as an official letter, signed where the sender signs (`signing_required`).
LETTERS = frozenset({Kind.REFUSAL, Kind.POSTPONEMENT, Kind.CONDITIONS, Kind.RESULTS})


def _reply_number(case: Case) -> str:
    """The letter's registration number: the request's incoming number at the requested body (or, before its
    receipt is registered, the requesting body's number) and the letter's place among the signed ones so far."""
    base = case.incoming_number or case.outgoing_number
    count = (
        exchange_selectors.conversation(conversation_id=case.id)
        .filter(kind__in=LETTERS, sender_body=case.handling_body, body__has_key=SIGNED_DOCUMENT)
        .count()
    )
    return f"{base}/{count + 1}"[: render.MAX_NUMBER]


def _reply_sections(kind: Kind, body: dict[str, Any], attachments: Sequence[str]) -> list[render.Section]:
    """What the letter states beyond its reference to the request, in Russian (P13), from the message's body."""
    key = render.SectionKey
    if kind == Kind.REFUSAL:
        values = [(key.REFUSED_PART, body.get("refused_part", "")), (key.REASONS, body["reasons"])]
    elif kind == Kind.POSTPONEMENT:
        values = [(key.UNTIL, f"{dt.date.fromisoformat(body['until']):%d.%m.%Y}"), (key.REASONS, body["reason"])]
    elif kind == Kind.CONDITIONS:
        numbered = "\n".join(f"{n}. {text}" for n, text in enumerate(body["conditions"], start=1))
        values = [(key.CONDITIONS, numbered), (key.REASONS, body["reason"])]
    else:
        costs = body.get("costs") or {}
        stated = " ".join(filter(None, [costs.get("amount", ""), costs.get("currency", ""), costs.get("note", "")]))
        values = [(key.SUMMARY, body["summary"]), (key.COSTS, stated)]
    values.append((key.ATTACHMENTS, "\n".join(attachments)))
    return [render.Section.of(k, str(text)) for k, text in values if str(text).strip()]


def reply_document(
    *, case: Case, actor: Any, kind: Kind, body: dict[str, Any], attachments: Sequence[str] = ()
) -> render.DocumentData:
    """The requested body's letter for a refusal (in full or in part, P9.2), a postponement or conditions (P7.6)
    or the results (P7.8): from the handling body to the requesting body, with the request it answers, the
    act's fields, the names of the files that go with it, and `actor` as the signatory."""
    document_kind = {
        Kind.REFUSAL: render.DocumentKind.PARTIAL_REFUSAL if body.get("partial") else render.DocumentKind.REFUSAL,
        Kind.POSTPONEMENT: render.DocumentKind.POSTPONEMENT,
        Kind.CONDITIONS: render.DocumentKind.CONDITIONS,
        Kind.RESULTS: render.DocumentKind.RESULTS,
    }[kind]
    sections = [render.Section.of(render.SectionKey.REQUEST_REFERENCE, _request_reference(case))]
    sections += _reply_sections(kind, body, attachments)
    name, position = _signatory(actor)
    return render.DocumentData(
        kind=document_kind,
        number=_reply_number(case),
        date=clock.now().astimezone(case.handling_body.zone).date(),
        sender=render.heading_for(case.handling_body),
        addressee=render.heading_for(case.requesting_body),
        sections=sections,
        legal_basis=case.instrument.name_ru,
        signatory_name=name,
        signatory_position=position,
        title=case.subject,
    )


def _send_letter(
    *, case: Case, actor: Any, kind: Kind, body: dict[str, Any], uploads: Uploads, second_factor: Any
) -> Case:
    """Send a reply of LETTERS, with its letter signed and first among the files where `actor` signs (the public
    act checked their code first: `second_factor` is its proof, None when they do not sign); a refusal by the rules
    below (a file refused, no certificate) leaves the case as it was."""
    if second_factor is not None:
        for upload in uploads:  # every file checked before the letter that lists them is drawn and signed
            exchange.check_upload(upload=upload)
        data = reply_document(case=case, actor=actor, kind=kind, body=body, attachments=[u.name or "" for u in uploads])
        signed = _sign(data=data, actor=actor, body=case.handling_body, second_factor=second_factor)
        uploads = [_signed_upload(signed), *uploads]
        body = {**body, SIGNED_DOCUMENT: _document_reference(signed)}
    return _send(case=case, actor=actor, locked=True, kind=kind, body=body, uploads=uploads)


# --- the acts between the two bodies ------------------------------------------------------------------------


def _guard(*, case: Case, actor: Any, kind: Kind) -> Case:
    """Lock the case and check, in this order, the actor's side (403), role (403) and the state (409);
    the act's own fields are checked after, so the answer names the first real obstacle."""
    case = _lock(case)
    transition = rules.TRANSITIONS[kind]
    side = case.side_of(actor.body_id)
    if side is None:
        raise PermissionDenied
    if kind != Kind.REQUEST:
        require(actor, transition.permission, case)
    reason = rules.refusal_reason(kind=kind, state=case.state, side=side, derived=derive(case))
    if reason is not None:
        raise RuleViolation(transition.rules[0], reason)
    if side == Side.REQUESTED:
        _check_request_document(case, kind)
    elif kind == Kind.CONDITIONS_REPLY:
        _check_conditions_document(case)
    return case


def _check_conditions_document(case: Case) -> None:
    """P7.7: conditions are accepted (or declined) on their letter only if it verified on receipt: a signed letter
    that failed is flagged on the case page and not answered."""
    latest = (
        exchange_selectors.conversation(conversation_id=case.id)
        .filter(kind=Kind.CONDITIONS)
        .order_by("-position")
        .first()
    )
    failed = _first_failed(_document_checks([latest] if latest is not None else []))
    if failed is not None:
        raise RuleViolation(
            "P7.7",
            _("The signed letter of the conditions failed verification: %(reasons)s")
            % {"reasons": "; ".join(failed.reasons)},
        )


def _send(
    *, case: Case, actor: Any, kind: Kind, body: dict[str, Any], uploads: Uploads = (), locked: bool = False
) -> Case:
    """Check the act against the state machine and the actor's role, then send it as a message."""
    if not locked:
        case = _lock(case)
    transition = rules.TRANSITIONS[kind]
    side = case.side_of(actor.body_id)
    if side is None:
        raise PermissionDenied
    if kind != Kind.REQUEST:
        require(actor, transition.permission, case)
    reason = rules.refusal_reason(kind=kind, state=case.state, side=side, derived=derive(case))
    if reason is not None:
        raise RuleViolation(transition.rules[0], reason)
    for upload in uploads:  # every file checked before any is stored
        exchange.check_upload(upload=upload)
    attachments = [exchange.store_attachment(upload=upload, actor=actor) for upload in uploads]
    sender, recipient = (
        (case.requesting_body, case.handling_body)
        if side == Side.REQUESTING
        else (case.handling_body, case.requesting_body)
    )
    exchange.send(
        conversation=case.id,
        kind=kind,
        sender_body=sender,
        recipient_body=recipient,
        sender_user=actor,
        instrument=case.instrument.code,
        marking=case.marking,
        purposes=case.purposes,
        conditions=case.conditions_accepted,  # P7.7: accepted conditions go with everything the case produces
        body=body,
        attachments=attachments,
    )
    return Case.objects.get(pk=case.pk)


def _text(value: str, field: str, message: Any, limit: int = 20000) -> str:
    value = (value or "").strip()
    if not value:
        _refuse(message, {field: _("This field is required.")})
    if len(value) > limit:
        _refuse(message, {field: _("At most %(count)d characters.") % {"count": limit}})
    return value


@transaction.atomic
def register_receipt(*, actor: Any, case: Case, received_at: dt.datetime | None = None) -> Case:
    """The requested body registers the request; the execution term runs from receipt (P7.2)."""
    locked = _guard(case=case, actor=actor, kind=Kind.RECEIPT)
    now = clock.now()
    message = _("The receipt could not be registered.")
    if received_at is not None and received_at.tzinfo is None:
        _refuse(message, {"received_at": _("Give the time with its offset from UTC, such as 2026-11-23T10:00:00Z.")})
    received = received_at or now
    sent = exchange_selectors.conversation(conversation_id=locked.id).filter(kind=Kind.REQUEST).first()
    errors: dict[str, Any] = {}
    if received > now:
        errors["received_at"] = _("The request cannot have been received in the future.")
    elif sent is not None and received < sent.created_at:
        errors["received_at"] = _("The request cannot have been received before it was sent.")
    _refuse(message, errors)
    locked.incoming_number = _next_number(
        locked.handling_body, "incoming_number", f"{locked.handling_body.code}-{now:%Y}-I-"
    )
    locked.save(update_fields=["incoming_number"])
    return _send(
        case=locked,
        actor=actor,
        kind=Kind.RECEIPT,
        body={"received_at": received.isoformat(), "incoming_number": locked.incoming_number},
        locked=True,
    )


@transaction.atomic
def forward(*, actor: Any, case: Case, to_body: Body, reason: str) -> Case:
    """P7.4: a request outside the body's competence goes to the competent body of its own State within three
    days of receipt; the requesting body learns of it at the same time (the message goes to it)."""
    case = _guard(case=case, actor=actor, kind=Kind.FORWARD)
    message = _("The request could not be forwarded.")
    errors: dict[str, Any] = {}
    if to_body.party_id != case.handling_body.party_id:
        errors["to_body"] = _("A request is forwarded to a competent body of the same State (P7.4).")
    elif to_body.pk == case.handling_body_id:
        errors["to_body"] = _("Choose another body than your own.")
    elif case.instrument.code == registry.PROTOCOL_CODE and not registry.is_designated(
        body=to_body, instrument=case.instrument, on=registry.depositary_today()
    ):  # P4.2: the Protocol's cooperation runs between designated bodies
        errors["to_body"] = _("This body is not a designated competent body today.")
    _refuse(message, errors)
    reason = _text(reason, "reason", message, 5000)
    return _send(
        case=case, actor=actor, locked=True, kind=Kind.FORWARD, body={"to_body": to_body.code, "reason": reason}
    )


@transaction.atomic
def notify_delay(*, actor: Any, case: Case, reason: str, expected_on: dt.date | None = None) -> Case:
    """P7.3: circumstances that prevent or significantly delay execution, notified at once."""
    case = _guard(case=case, actor=actor, kind=Kind.DELAY)
    message = _("The delay could not be notified.")
    reason = _text(reason, "reason", message, 5000)
    return _send(
        case=case,
        actor=actor,
        locked=True,
        kind=Kind.DELAY,
        body={"reason": reason, "expected_on": expected_on.isoformat() if expected_on else None},
    )


@transaction.atomic
def change_marking(*, actor: Any, case: Case, marking: str, reason: str) -> Case:
    """P10.1: the requesting body changes the marking of a sent request, for both bodies and everything the case
    produces from then on. Whoever works on the case may raise it; only the head or a deputy may lower it. A state
    secret is refused: it never enters the system (P10.3)."""
    case = _guard(case=case, actor=actor, kind=Kind.MARKING)
    message = _("The marking could not be changed.")
    if is_state_secret(marking):
        _refuse(message, {"marking": STATE_SECRET_REFUSED})
    if marking not in Marking.values:
        _refuse(message, {"marking": _("Choose a marking from the list.")})
    if marking == case.marking:
        _refuse(message, {"marking": _("The case already has this marking.")})
    reason = _text(reason, "reason", message, 1000)
    lowering = safeguards.is_lowering(case.marking, marking)
    side = case.side_of(actor.body_id)
    if not safeguards.may_change_marking(role=actor.role, requesting_side=side == Side.REQUESTING, lowering=lowering):
        raise RuleViolation("P10.1", _("Only the head or a deputy of the requesting body may lower the marking."))
    return _send(
        case=case,
        actor=actor,
        locked=True,
        kind=Kind.MARKING,
        body={"marking": marking, "previous": case.marking, "reason": reason},
    )


@transaction.atomic
def request_information(*, actor: Any, case: Case, questions: str, uploads: Uploads = ()) -> Case:
    """P7.5: the requested body asks for additional information. The execution term is not suspended."""
    case = _guard(case=case, actor=actor, kind=Kind.INFO_REQUEST)
    questions = _text(questions, "questions", _("The question could not be sent."))
    return _send(
        case=case, actor=actor, locked=True, kind=Kind.INFO_REQUEST, body={"questions": questions}, uploads=uploads
    )


@transaction.atomic
def provide_information(*, actor: Any, case: Case, answer: str, uploads: Uploads = ()) -> Case:
    """P7.5: the requesting body answers in the same case."""
    case = _guard(case=case, actor=actor, kind=Kind.INFO_REPLY)
    answer = _text(answer, "answer", _("The answer could not be sent."))
    return _send(case=case, actor=actor, locked=True, kind=Kind.INFO_REPLY, body={"answer": answer}, uploads=uploads)


def postpone(*, actor: Any, case: Case, reason: str, until: dt.date, code: str | None = None) -> Case:
    """P7.6: execution is postponed, with notice, where it could hinder proceedings in the requested State; the
    notice is a letter signed with a fresh TOTP `code` where `actor` signs (`signing_required`)."""
    second_factor = _second_factor(actor=actor, case=case, code=code, permission=Permission.WORK_ON_CASE)
    return _postpone(actor=actor, case=case, reason=reason, until=until, second_factor=second_factor)


@transaction.atomic
def _postpone(*, actor: Any, case: Case, reason: str, until: dt.date, second_factor: Any) -> Case:
    case = _guard(case=case, actor=actor, kind=Kind.POSTPONEMENT)
    message = _("The execution could not be postponed.")
    today = clock.now().astimezone(case.handling_body.zone).date()
    if until <= today:
        _refuse(message, {"until": _("The new date must be after today.")})
    if until > today + dt.timedelta(days=730):
        _refuse(message, {"until": _("The new date must be within two years.")})
    reason = _text(reason, "reason", message, 5000)
    body = {"reason": reason, "until": until.isoformat()}
    return _send_letter(
        case=case, actor=actor, kind=Kind.POSTPONEMENT, body=body, uploads=(), second_factor=second_factor
    )


def propose_conditions(
    *, actor: Any, case: Case, conditions: Sequence[str], reason: str, code: str | None = None
) -> Case:
    """P7.6: execution made conditional on terms set after consultations; a letter, signed as in `postpone`."""
    second_factor = _second_factor(actor=actor, case=case, code=code, permission=Permission.WORK_ON_CASE)
    return _propose_conditions(
        actor=actor, case=case, conditions=conditions, reason=reason, second_factor=second_factor
    )


@transaction.atomic
def _propose_conditions(*, actor: Any, case: Case, conditions: Sequence[str], reason: str, second_factor: Any) -> Case:
    case = _guard(case=case, actor=actor, kind=Kind.CONDITIONS)
    message = _("The conditions could not be proposed.")
    cleaned = [c.strip() for c in conditions if c.strip()]
    if not cleaned:
        _refuse(message, {"conditions": _("State at least one condition.")})
    if any(len(c) > 1000 for c in cleaned) or len(cleaned) > 20:
        _refuse(message, {"conditions": _("At most 20 conditions of at most 1,000 characters each.")})
    reason = _text(reason, "reason", message, 5000)
    body = {"conditions": cleaned, "reason": reason}
    return _send_letter(
        case=case, actor=actor, kind=Kind.CONDITIONS, body=body, uploads=(), second_factor=second_factor
    )


@transaction.atomic
def reply_to_conditions(*, actor: Any, case: Case, accepted: bool, comment: str = "") -> Case:
    """P7.7: the requesting body accepts the conditions (and must then comply with them) or declines them."""
    case = _guard(case=case, actor=actor, kind=Kind.CONDITIONS_REPLY)
    if len(comment) > 5000:
        _refuse(_("The reply could not be sent."), {"comment": _("At most %(count)d characters.") % {"count": 5000}})
    return _send(
        case=case,
        actor=actor,
        locked=True,
        kind=Kind.CONDITIONS_REPLY,
        body={"accepted": accepted, "comment": comment.strip()},
    )


def _representatives(value: Sequence[Any], message: Any) -> list[dict[str, str]]:
    people = []
    for item in value:
        name = str(item.get("name", "") if isinstance(item, dict) else item).strip()
        position = str(item.get("position", "") if isinstance(item, dict) else "").strip()
        if name:
            people.append({"name": name[:200], "position": position[:200]})
    if not people:
        _refuse(message, {"representatives": _("Name at least one representative.")})
    if len(people) > 20:
        _refuse(message, {"representatives": _("At most 20 representatives.")})
    return people


def _period(starts_on: dt.date, ends_on: dt.date, message: Any) -> None:
    if ends_on < starts_on:
        _refuse(message, {"ends_on": _("The end date is before the start date.")})


@transaction.atomic
def request_participation(
    *, actor: Any, case: Case, representatives: Sequence[Any], starts_on: dt.date, ends_on: dt.date, note: str = ""
) -> Case:
    """P8: the requesting body asks that its representatives take part in the execution."""
    case = _guard(case=case, actor=actor, kind=Kind.PARTICIPATION_REQUEST)
    message = _("The participation could not be requested.")
    people = _representatives(representatives, message)
    _period(starts_on, ends_on, message)
    return _send(
        case=case,
        actor=actor,
        locked=True,
        kind=Kind.PARTICIPATION_REQUEST,
        body={
            "representatives": people,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
            "note": note.strip()[:5000],
        },
    )


@transaction.atomic
def decide_participation(
    *,
    actor: Any,
    case: Case,
    agreed: bool,
    representatives: Sequence[Any] = (),
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
    reasons: str = "",
) -> Case:
    """P8: the requested body agrees (with names and dates) or refuses, under its law, with reasons."""
    case = _guard(case=case, actor=actor, kind=Kind.PARTICIPATION)
    message = _("The decision could not be sent.")
    body: dict[str, Any] = {"agreed": agreed}
    if agreed:
        if starts_on is None or ends_on is None:
            raise InvalidInput(message, errors={"starts_on": [_("Give the dates of participation.")]})
        _period(starts_on, ends_on, message)
        body.update(
            representatives=_representatives(representatives, message),
            starts_on=starts_on.isoformat(),
            ends_on=ends_on.isoformat(),
        )
    else:
        body["reasons"] = _text(reasons, "reasons", message, 5000)
    return _send(case=case, actor=actor, locked=True, kind=Kind.PARTICIPATION, body=body)


def refuse(
    *,
    actor: Any,
    case: Case,
    reasons: str,
    partial: bool,
    refused_part: str = "",
    uploads: Uploads = (),
    code: str | None = None,
) -> Case:
    """P9.1, P9.2: refuse in full or in part, where execution contradicts national law — always in writing,
    with reasons, by the head or a deputy, the letter signed with a fresh TOTP `code` where they sign
    (`signing_required`). A full refusal closes the case."""
    second_factor = _second_factor(actor=actor, case=case, code=code, permission=Permission.REFUSE_REQUEST)
    return _refuse_request(
        actor=actor,
        case=case,
        reasons=reasons,
        partial=partial,
        refused_part=refused_part,
        uploads=uploads,
        second_factor=second_factor,
    )


@transaction.atomic
def _refuse_request(
    *, actor: Any, case: Case, reasons: str, partial: bool, refused_part: str, uploads: Uploads, second_factor: Any
) -> Case:
    case = _guard(case=case, actor=actor, kind=Kind.REFUSAL)
    message = _("The refusal could not be sent.")
    reasons = _text(reasons, "reasons", message, 10000)  # P9.2: no refusal without reasons
    body: dict[str, Any] = {"reasons": reasons, "partial": partial}
    if partial:
        body["refused_part"] = _text(refused_part, "refused_part", message, 5000)
    return _send_letter(
        case=case, actor=actor, kind=Kind.REFUSAL, body=body, uploads=uploads, second_factor=second_factor
    )


def send_results(
    *,
    actor: Any,
    case: Case,
    summary: str,
    uploads: Uploads = (),
    costs_amount: str = "",
    costs_currency: str = "",
    costs_note: str = "",
    code: str | None = None,
) -> Case:
    """P7.8: the results, as soon as possible, with attachments; this closes execution. P12: each Party bears
    its own costs unless agreed otherwise; any costs and the agreed exception are recorded here. The covering
    letter is signed with a fresh TOTP `code` where `actor` signs (`signing_required`)."""
    second_factor = _second_factor(actor=actor, case=case, code=code, permission=Permission.WORK_ON_CASE)
    costs = {"amount": costs_amount, "currency": costs_currency, "note": costs_note}
    return _send_results(
        actor=actor, case=case, summary=summary, uploads=uploads, costs=costs, second_factor=second_factor
    )


@transaction.atomic
def _send_results(
    *, actor: Any, case: Case, summary: str, uploads: Uploads, costs: dict[str, str], second_factor: Any
) -> Case:
    costs_amount, costs_currency, costs_note = costs["amount"], costs["currency"], costs["note"]
    case = _guard(case=case, actor=actor, kind=Kind.RESULTS)
    message = _("The results could not be sent.")
    summary = _text(summary, "summary", message)
    stated: dict[str, Any] | None = None
    if costs_amount.strip():
        amount = _amount(costs_amount)
        if amount is None:
            _refuse(message, {"costs_amount": _("Enter an amount such as 1500.00.")})
        currency = costs_currency.strip().upper()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            _refuse(message, {"costs_currency": _("Give the currency as a three-letter code, such as KZT or RUB.")})
        stated = {"amount": f"{amount:.2f}", "currency": currency, "note": costs_note.strip()[:2000]}
    body = {"summary": summary, "costs": stated}
    return _send_letter(
        case=case, actor=actor, kind=Kind.RESULTS, body=body, uploads=uploads, second_factor=second_factor
    )


def _amount(text: str) -> decimal.Decimal | None:
    """A non-negative amount with at most two decimals (spaces and a decimal comma allowed), or None."""
    cleaned = text.replace("\xa0", "").replace(" ", "").replace(",", ".")
    if not re.fullmatch(r"\d{1,12}(\.\d{1,2})?", cleaned):
        return None
    return decimal.Decimal(cleaned)


# --- deriving the case from its messages ----------------------------------------------------------------------


def _context(case: Case, messages: Sequence[Any]) -> rules.CaseContext:
    request = next((m for m in messages if m.kind == Kind.REQUEST), None)
    term = int(request.body.get("execution_term_days") or 0) if request is not None else 0
    codes = {case.requesting_body.code, case.requested_body.code, case.handling_body.code}
    codes |= {str(m.body["to_body"]) for m in messages if m.kind == Kind.FORWARD}
    zones = {b.code: str(b.zone) for b in Body.objects.select_related("party").filter(code__in=codes)}
    return rules.CaseContext(
        requesting_body=case.requesting_body.code,
        requested_body=case.requested_body.code,
        execution_term_days=term or case.execution_term_days or case.instrument.execution_term_days,
        forward_term_days=case.instrument.forward_term_days,
        urgent_confirmation_hours=case.instrument.urgent_confirmation_hours,
        zones=zones,
    )


def _facts(messages: Sequence[Any]) -> list[rules.MessageFacts]:
    return [
        rules.MessageFacts(
            id=str(m.id),
            kind=m.kind,
            sender=m.sender_body.code,
            recipient=m.recipient_body.code,
            created_at=m.created_at,
            body=m.body,
        )
        for m in messages
    ]


def derive(case: Case, messages: Sequence[Any] | None = None) -> rules.Derived:
    """The case as its messages make it (for drafts: as it stands); `messages`, the case's conversation if the
    caller has read it already."""
    if messages is None:
        messages = list(exchange_selectors.conversation(conversation_id=case.id))
    draft_state = (
        case.state if case.state in rules.DRAFT_STATES | {rules.CaseState.DISCARDED} else rules.CaseState.DRAFT
    )
    return rules.derive(_facts(messages), _context(case, messages), draft_state=draft_state)


@transaction.atomic
def recompute(*, case: Case) -> Case:
    """Bring the stored case and its clocks in line with its messages (applied after every message)."""
    case = _lock(case)
    derived = derive(case)
    case.state = derived.state
    case.handling_body = Body.objects.get(code=derived.handling_body)
    if derived.state not in rules.DRAFT_STATES | {rules.CaseState.DISCARDED}:  # a draft keeps its own flag
        case.urgent = derived.urgent
    case.received_at = derived.received_at
    if derived.incoming_number:  # on the requesting body's node, the number the requested body's receipt gave
        case.incoming_number = derived.incoming_number[: Case._meta.get_field("incoming_number").max_length]
    case.closed_at = (
        derived.closed_at if derived.state in rules.CLOSED_STATES - {rules.CaseState.DISCARDED} else case.closed_at
    )
    case.postponed_until = derived.postponed_until
    case.urgent_confirmed_at = derived.urgent_confirmed_at
    case.partially_refused = derived.partially_refused
    case.conditions_proposed = list(derived.conditions_proposed)
    case.conditions_accepted = list(derived.conditions_accepted)
    case.participation_pending = derived.participation_pending
    if derived.marking in Marking.values:  # P10.1: changed by the requesting body after sending
        case.marking = derived.marking
    case.next_due_at = derived.next_due_at
    case.updated_at = clock.now()
    case.save()
    bodies = {b.code: b for b in Body.objects.filter(code__in={c.acting_body for c in derived.clocks})}
    for spec in derived.clocks:
        Clock.objects.update_or_create(
            case=case,
            kind=spec.kind,
            started_by=spec.started_by,
            defaults={
                "rule_id": spec.rule_id,
                "started_at": spec.started_at,
                "term": spec.term,
                "unit": spec.unit,
                "zone": spec.zone,
                "until": spec.until,
                "due_at": spec.due_at,
                "acting_body": bodies[spec.acting_body],
                "obligatory": spec.kind in rules.OBLIGATORY_CLOCKS,
                "status": spec.status,
                "closed_by": spec.closed_by,
                "closed_at": spec.closed_at,
            },
        )
    return case


# --- the worker: reminders before and at each deadline -----------------------------------------------------

REMIND_BEFORE = dt.timedelta(hours=24)


def process_due_clocks(*, limit: int = 100) -> int:
    """Remind the responsible users before and at each deadline, for at most `limit` clocks; several workers may run.
    Each reminder is a transaction of its own, so an act on the node waits for one reminder at most, never for a
    batch (a week's backlog is hundreds). A clock that fails keeps its error and is retried on the next pass; the
    others go on."""
    now = clock.now()
    handled = 0
    due = list(selectors.due_clocks(now=now, remind_before=REMIND_BEFORE, limit=limit).values_list("pk", flat=True))
    for pk in due:
        with transaction.atomic():
            # The audit chain's head first, then the clock, skipping it if an act holds it: an act on a case appends
            # to the chain before it updates the case's clocks, so a worker holding a clock while it waited for the
            # chain's head would deadlock with it (PostgreSQL aborts one of the two: if the act, the user's act fails).
            audit.lock_log()
            item = (
                selectors.due_clocks(now=now, remind_before=REMIND_BEFORE)
                .filter(pk=pk)
                .select_for_update(no_key=True, skip_locked=True, of=("self",))
                .select_related("case", "acting_body")
                .first()
            )
            if item is None:  # reminded by another worker, closed by an act, or held by one: the next pass sees it
                continue
            try:
                with transaction.atomic():
                    _remind(item, now)
                handled += 1
            except Exception as error:  # one bad clock must not stop the others
                logger.exception("reminder for clock %s failed", item.pk)
                item.attempts += 1
                item.last_error = f"{type(error).__name__}: {error}"[:2000]
                item.save(update_fields=["attempts", "last_error"])
    return handled


def _remind(item: Clock, now: dt.datetime) -> None:
    fields = []
    if item.due_at <= now and item.reminded_due_at is None:
        item.reminded_due_at = now
        fields.append("reminded_due_at")
    if item.reminded_before_at is None:
        item.reminded_before_at = now
        fields.append("reminded_before_at")
    notify_deadline(clock_row=item, overdue=item.due_at <= now)
    item.last_error = ""
    item.save(update_fields=[*fields, "last_error"])


def responsible_users(*, case: Case, body: Body) -> list[Any]:
    """Who answers for the case in `body`, and so is told what happens in it: its head and deputies, and the
    officers it is assigned to (need to know, P10.1: nobody else of the body learns the case exists)."""
    if case.side_of(body.pk) is None:
        return []
    people = list(users(body=body, role__in=sorted(SEES_EVERY_CASE_OF_THE_BODY), is_active=True).order_by("pk"))
    # `safeguards.rules.case_access` for the rest of the body: the officers the case is assigned to.
    assigned = selectors.assignments(case=case, body_id=body.pk).filter(
        user__is_active=True, user__role__in=sorted(safeguards.SEES_ASSIGNED_CASES)
    )
    people += [item.user for item in assigned if item.user not in people]
    return people


def notify_deadline(*, clock_row: Clock, overdue: bool) -> None:
    """Tell the responsible users of the acting body a deadline is near (24 hours) or has come."""
    case = clock_row.case
    subject = (
        _("Deadline passed: %(clock)s, %(number)s") if overdue else _("Deadline in 24 hours: %(clock)s, %(number)s")
    )
    body = _("Case %(number)s “%(subject)s”: %(clock)s (%(rule)s) is due %(due)s UTC. Open the case to act.")
    accounts.notify_translated(
        recipients=responsible_users(case=case, body=clock_row.acting_body),
        subject=subject,
        body=body,
        url=f"/cases/{case.pk}/",
        params={
            "clock": rules.ClockKind(clock_row.kind).label,
            "number": case.outgoing_number or case.subject[:60],
            "subject": case.subject[:200],
            "rule": clock_row.rule_id,
            "due": clock_row.due_at.strftime("%Y-%m-%d %H:%M"),
        },
    )


def notify_message(*, case: Case, kind: str, recipient_body: Body) -> None:
    """Tell the receiving body's responsible users that something arrived in a case."""
    label = rules.TRANSITIONS[Kind(kind)].label
    accounts.notify_translated(
        recipients=responsible_users(case=case, body=recipient_body),
        subject=_("%(act)s: %(number)s"),
        body=_("Case %(number)s “%(subject)s”: %(act)s."),
        url=f"/cases/{case.pk}/",
        params={"act": label, "number": case.outgoing_number or case.subject[:60], "subject": case.subject[:200]},
    )


# --- need to know: who in a body works on the case (P10.1) -----------------------------------------------------

ASSIGNMENT_NOT_CHANGED = _("The assignment could not be changed.")


def assign_incoming(*, case: Case) -> list[Any]:
    """A request that arrives for a body (or is forwarded to it, P7.4) is assigned to the officers of that body who
    receive its incoming requests; the head and the deputies see it anyway. Returns the officers newly assigned."""
    desk = users(
        body_id=case.handling_body_id,
        receives_incoming=True,
        is_active=True,
        role__in=sorted(safeguards.SEES_ASSIGNED_CASES),
    )
    now = clock.now()
    added = []
    for user in desk.order_by("pk"):
        _item, created = CaseAssignment.objects.get_or_create(
            case=case, user=user, defaults={"how": CaseAssignment.How.INCOMING, "assigned_at": now}
        )
        if created:
            added.append(user)
            audit.record(
                action=AuditAction.CASE_ASSIGNED,
                actor=None,
                body=case.handling_body,
                target=case,
                data={"user": user.username, "how": CaseAssignment.How.INCOMING, "body": user.body.code},
            )
    return added


def _assignment_target(*, actor: Any, case: Case, user: Any) -> Case:
    require(actor, Permission.ASSIGN_CASE, case)
    if user is None or user.body_id != actor.body_id or not user.is_active or user.role != Role.OFFICER:
        _refuse(ASSIGNMENT_NOT_CHANGED, {"user": _("Choose an active officer of your body.")})
    return _lock(case)


@transaction.atomic
def assign(*, actor: Any, case: Case, user: Any) -> CaseAssignment:
    """The head or a deputy assigns an officer of their body to the case (P10.1); the officer is told."""
    locked = _assignment_target(actor=actor, case=case, user=user)
    if CaseAssignment.objects.filter(case=locked, user=user).exists():
        _refuse(ASSIGNMENT_NOT_CHANGED, {"user": _("The case is already assigned to this officer.")})
    item = CaseAssignment.objects.create(
        case=locked, user=user, how=CaseAssignment.How.ASSIGNED, assigned_by=actor, assigned_at=clock.now()
    )
    audit.record(
        action=AuditAction.CASE_ASSIGNED,
        actor=actor,
        target=locked,
        data={"user": user.username, "how": CaseAssignment.How.ASSIGNED, "body": actor.body.code},
    )
    accounts.notify_translated(
        recipients=[user],
        subject=_("Case assigned to you: %(number)s"),
        body=_("%(head)s assigned you the case %(number)s “%(subject)s”."),
        url=f"/cases/{locked.pk}/",
        params={
            "head": str(actor),
            "number": locked.outgoing_number or locked.subject[:60],
            "subject": locked.subject[:200],
        },
    )
    return item


@transaction.atomic
def unassign(*, actor: Any, case: Case, user: Any) -> None:
    """The head or a deputy withdraws an officer from the case: from then on the officer no longer sees it."""
    locked = _assignment_target(actor=actor, case=case, user=user)
    removed, _details = CaseAssignment.objects.filter(case=locked, user=user).delete()
    if not removed:
        _refuse(ASSIGNMENT_NOT_CHANGED, {"user": _("The case is not assigned to this officer.")})
    audit.record(
        action=AuditAction.CASE_UNASSIGNED,
        actor=actor,
        target=locked,
        data={"user": user.username, "body": actor.body.code},
    )


# --- purposes and consent (P10.2, P7.7) ------------------------------------------------------------------------

CONSENT_LIMIT = 5000


def received_files(*, case: Case, body_id: int) -> list[tuple[Any, Any]]:
    """The files the other side provided in the case, as seen by `body_id`'s side: (message, attachment) pairs in
    the order received. Each message carries the purposes and accepted conditions that go with its files (P7.7)."""
    messages = (
        exchange_selectors.conversation(conversation_id=case.id)
        .exclude(sender_body_id=body_id)
        .select_related("sender_body__party")
        .prefetch_related("attachments")
    )
    return [(message, item) for message in messages for item in message.attachments.all()]


def _provided(case: Case, body_id: int, sha256: str) -> tuple[Any, Any] | None:
    return next(((m, a) for m, a in received_files(case=case, body_id=body_id) if a.sha256 == sha256), None)


@transaction.atomic
def request_consent(*, actor: Any, case: Case, attachment_sha256: str, use: str, target: str, purpose: str) -> Case:
    """P10.2: ask the body that provided a file in this case for its consent to use it in another case, export it
    or pass it to another body. Only for a file that body sent; one pending request per file, use and target."""
    case = _guard(case=case, actor=actor, kind=Kind.CONSENT_REQUEST)
    message = _("The consent could not be asked.")
    errors: dict[str, Any] = {}
    found = _provided(case, case.requesting_body_id, attachment_sha256)
    if found is None:  # a consent for information the body did not provide
        errors["attachment"] = _(
            "%(body)s did not provide this file in this case: its consent is asked only for information it sent."
        ) % {"body": case.handling_body.name}
    if use not in rules.ConsentUse.values:
        errors["use"] = _("Choose a use from the list.")
    target, purpose = (target or "").strip(), (purpose or "").strip()
    for name, value, limit in (
        ("target", target, rules.CONSENT_TARGET_MAX),
        ("purpose", purpose, rules.CONSENT_PURPOSE_MAX),
    ):
        if not value:
            errors[name] = _("This field is required.")
        elif len(value) > limit:
            errors[name] = _("At most %(count)d characters.") % {"count": limit}
    _refuse(message, errors)
    earlier = rules.consent_for(derive(case).consents, attachment=attachment_sha256, use=use, targets=[target])
    if earlier is not None and earlier.status == rules.ConsentStatus.PENDING:
        _refuse(message, {"target": _("A request for this use of the file is already awaiting an answer.")})
    if earlier is not None and earlier.status == rules.ConsentStatus.GRANTED:
        _refuse(
            message, {"target": _("%(body)s has already consented to this use.") % {"body": case.handling_body.name}}
        )
    assert found is not None
    body = {"attachment": attachment_sha256, "name": found[1].name, "use": use, "target": target, "purpose": purpose}
    return _send(case=case, actor=actor, locked=True, kind=Kind.CONSENT_REQUEST, body=body)


@transaction.atomic
def reply_to_consent(
    *, actor: Any, case: Case, request_id: Any, granted: bool, conditions: Sequence[str] = (), reason: str = ""
) -> Case:
    """P10.2: the providing body's head or a deputy grants its consent (with conditions, if any) or refuses it
    (with the reason). Each request is answered once."""
    case = _guard(case=case, actor=actor, kind=Kind.CONSENT_REPLY)
    message = _("The answer could not be sent.")
    asked = derive(case).consent(str(request_id))
    if asked is None:
        raise InvalidInput(message, errors={"request": [_("There is no such request for consent in this case.")]})
    if asked.status != rules.ConsentStatus.PENDING:
        raise RuleViolation("P10.2", _("This request for consent has already been answered."))
    body: dict[str, Any] = {"request": asked.request, "granted": bool(granted)}
    if granted:
        cleaned = [str(c).strip() for c in conditions if str(c).strip()]
        if len(cleaned) > 20 or any(len(c) > 1000 for c in cleaned):
            _refuse(message, {"conditions": _("At most 20 conditions of at most 1,000 characters each.")})
        body["conditions"] = cleaned
    else:
        body["reason"] = _text(reason, "reason", message, CONSENT_LIMIT)
    return _send(case=case, actor=actor, locked=True, kind=Kind.CONSENT_REPLY, body=body)


def _when(instant: dt.datetime, body: Body) -> str:
    return formats.date_format(instant.astimezone(body.zone).date(), "SHORT_DATE_FORMAT")


def _carried(sent: Any, consent: rules.Consent) -> dict[str, Any]:
    """What goes with information used beyond its case: the consent, and the purposes and conditions it came with
    (P7.7) followed by the consent's own."""
    return {
        "consent_request": consent.request,
        "consented_at": consent.decided_at or consent.requested_at,
        "purposes": list(sent.purposes),
        "conditions": list(dict.fromkeys([*sent.conditions, *consent.conditions])),
    }


def _require_granted(consent: rules.Consent | None, *, provider: Body, actor: Any) -> None:
    """P10.2: a use beyond the case goes ahead only on a granted consent; otherwise 409 with the reason."""
    names = {"body": provider.name}
    if consent is None:
        raise RuleViolation("P10.2", _("%(body)s has not consented to this use: ask its consent first.") % names)
    if consent.status == rules.ConsentStatus.REFUSED:
        raise RuleViolation(
            "P10.2", _("%(body)s has refused its consent to this use: %(reason)s") % {**names, "reason": consent.reason}
        )
    if consent.status == rules.ConsentStatus.PENDING:
        raise RuleViolation(
            "P10.2",
            _("%(body)s is still to answer your request for consent of %(date)s.")
            % {**names, "date": _when(consent.requested_at, actor.body)},
        )


@transaction.atomic
def use_in_another_case(
    *, actor: Any, source_case: Case, attachment_sha256: str, target_case: Case
) -> ReusedInformation:
    """P10.2: use a file the other body provided in `source_case` in another case of the actor's body — only with
    that body's consent to this use in that case (by its number); its purposes and conditions go with it."""
    first, second = sorted([source_case.pk, target_case.pk], key=str)  # one lock order for concurrent uses
    locked = {pk: _lock(Case(pk=pk)) for pk in dict.fromkeys([first, second])}
    source, target = locked[source_case.pk], locked[target_case.pk]
    for case in (source, target):
        if case.side_of(actor.body_id) is None:
            raise PermissionDenied
        require(actor, Permission.WORK_ON_CASE, case)
    message = _("The information could not be used in that case.")
    errors: dict[str, Any] = {}
    if target.pk == source.pk:
        errors["target_case"] = _("Choose another case than the one the information came in.")
    elif target.state == rules.CaseState.DISCARDED:
        errors["target_case"] = _("That draft has been discarded.")
    found = _provided(source, actor.body_id, attachment_sha256)
    if found is None:
        errors["attachment"] = _("Only a file the other body provided in this case can be used in another case.")
    _refuse(message, errors)
    assert found is not None
    sent, item = found
    provider = sent.sender_body
    consent = rules.consent_for(
        derive(source).consents,
        attachment=attachment_sha256,
        use=rules.ConsentUse.CASE,
        targets=[target.outgoing_number, target.incoming_number],
    )
    _require_granted(consent, provider=provider, actor=actor)
    assert consent is not None  # granted
    if ReusedInformation.objects.filter(target_case=target, attachment=item).exists():
        _refuse(message, {"target_case": _("This file is already used in that case.")})
    reused = ReusedInformation.objects.create(
        target_case=target,
        source_case=source,
        attachment=item,
        body=actor.body,
        provided_by=provider,
        **_carried(sent, consent),
        used_by=actor,
        used_at=clock.now(),
    )
    audit.record(
        action=AuditAction.INFORMATION_REUSED,
        actor=actor,
        target=target,
        data={"source_case": str(source.pk), "attachment": str(item.pk), "consent_request": consent.request},
    )
    return reused


RELEASE_USES = frozenset(ReleasedInformation.Use.values)


@dataclass(frozen=True)
class Release:
    """A file leaving the system with the consent of the body that provided it: the record, and the package."""

    record: ReleasedInformation
    name: str
    package: bytes


@transaction.atomic
def release_information(*, actor: Any, case: Case, attachment_sha256: str, use: str, target: str) -> Release:
    """P10.2: export a file the other body provided in this case, or pass it to another body, only with that body's
    consent to this use and this target. It leaves as a ZIP package: the file and, in Russian, the sheet of its
    purposes, conditions (P7.7 and the consent's) and consent, which go with it wherever it goes."""
    source = _lock(case)
    if source.side_of(actor.body_id) is None:
        raise PermissionDenied
    require(actor, Permission.WORK_ON_CASE, source)
    message = _("The information could not be released.")
    errors: dict[str, Any] = {}
    if use not in RELEASE_USES:
        errors["use"] = _("Choose export or passing to another body.")
    target = (target or "").strip()
    if not target:
        errors["target"] = _("This field is required.")
    elif len(target) > rules.CONSENT_TARGET_MAX:
        errors["target"] = _("At most %(count)d characters.") % {"count": rules.CONSENT_TARGET_MAX}
    found = _provided(source, actor.body_id, attachment_sha256)
    if found is None:
        errors["attachment"] = _("Only a file the other body provided in this case can be released.")
    _refuse(message, errors)
    assert found is not None
    sent, item = found
    provider = sent.sender_body
    consent = rules.consent_for(derive(source).consents, attachment=attachment_sha256, use=use, targets=[target])
    _require_granted(consent, provider=provider, actor=actor)
    assert consent is not None  # granted
    record = ReleasedInformation.objects.create(
        source_case=source,
        attachment=item,
        body=actor.body,
        provided_by=provider,
        use=use,
        target=target,
        **_carried(sent, consent),
        released_by=actor,
        released_at=clock.now(),
    )
    audit.record(
        action=AuditAction.INFORMATION_RELEASED,
        actor=actor,
        target=source,
        data={"attachment": str(item.pk), "use": use, "consent_request": consent.request},
    )
    content = at_rest.open(item)  # decrypted and checked; a damaged file rolls it all back
    name, package = _release_package(record, content)
    return Release(record=record, name=name, package=package)


def _release_package(record: ReleasedInformation, content: bytes) -> tuple[str, bytes]:
    """The ZIP that leaves: the file under its sanitised name, and the conditions sheet in Russian (the official
    language of documents), UTF-8."""
    case = record.source_case
    number = case.outgoing_number or case.incoming_number or str(case.pk)
    with override("ru"):
        facts = [
            (_("Case"), number),
            (_("File"), record.attachment.name),
            ("SHA-256", record.attachment.sha256),
            (_("Provided by"), record.provided_by.name),
            (_("Use"), ReleasedInformation.Use(record.use).label),
            (_("Case number or body"), record.target),
            (_("Consent given"), f"{record.consented_at:%Y-%m-%d %H:%M} UTC"),
            (
                _("Released by"),
                f"{record.released_by.full_name}, {record.body.name}, {record.released_at:%Y-%m-%d %H:%M} UTC",
            ),
        ]
        lists = [(_("Permitted purposes"), record.purposes), (_("Conditions"), record.conditions)]
        lines = [str(_("Information provided under the Protocol: conditions of use (P7.7, P10.2)")), ""]
        lines += [f"{label}: {value}" for label, value in facts]
        for label, items in lists:
            lines += [f"{label}:", *(f"  - {item}" for item in items or ["—"])]
    sheet = "\n".join(lines) + "\n"
    safe = safe_file_name(record.attachment.name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(safe, content)
        archive.writestr("УСЛОВИЯ-ИСПОЛЬЗОВАНИЯ.txt", sheet.encode("utf-8"))
    return f"{number}-{record.use}.zip", buffer.getvalue()


def released_information(*, case: Case, viewer: Any) -> list[ReleasedInformation]:
    """What the viewer's body exported or passed on from this case (P10.2), with its purposes and conditions."""
    return list(
        ReleasedInformation.objects.filter(source_case=case, body_id=viewer.body_id)
        .select_related("attachment", "provided_by", "released_by")
        .order_by("released_at", "pk")
    )


def reused_information(*, case: Case, viewer: Any) -> list[ReusedInformation]:
    """The information the viewer's body uses in this case from its other cases (P10.2): only its own users see
    it, the other side of this case never received it."""
    return list(
        ReusedInformation.objects.filter(target_case=case, body_id=viewer.body_id)
        .select_related("source_case", "attachment", "provided_by__party", "used_by")
        .order_by("used_at")
    )
