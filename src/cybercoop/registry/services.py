"""Every change to the registry: Parties, bodies, instruments and the depositary's records,
designations and their announcement, acknowledgements, Party profiles. Each writes its audit entry."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from cybercoop.audit import archive
from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction, archive_name
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput
from cybercoop.core.permissions import Permission, require
from cybercoop.registry import rules, selectors
from cybercoop.registry.models import (
    Acknowledgement,
    Body,
    CertifiedCopy,
    DesignationNotice,
    Instrument,
    InstrumentEvent,
    Node,
    Party,
    PartyProfile,
)

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
# The kinds the archive keeps the depositary's documents under (P19).
ORIGINAL_KIND = "instrument_original"
CERTIFIED_COPY_KIND = "certified_copy"


def _require(actor: Any, permission: Permission, obj: Any = None) -> None:
    """People act within their permissions; `actor=None` is the system itself (seeding, migrations)."""
    if actor is not None:
        require(actor, permission, obj)


def _validated(instance: Any, message: Any, exclude: list[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as error:
        raise InvalidInput(message, errors={k: list(v) for k, v in error.message_dict.items()}) from error


def _refuse(message: Any, errors: dict[str, Any]) -> None:
    if errors:
        raise InvalidInput(message, errors={field: [text] for field, text in errors.items()})


def _read_pdf(upload: UploadedFile[bytes], field: str, message: Any) -> tuple[bytes, str]:
    """The bytes and SHA-256 of an uploaded PDF, or a field error (type and size checked)."""
    if upload.size is None or upload.size > MAX_DOCUMENT_BYTES:
        _refuse(message, {field: _("The file is larger than 20 MB.")})
    content = upload.read()
    if not content.startswith(PDF_MAGIC):
        _refuse(message, {field: _("The file is not a PDF document.")})
    return content, hashlib.sha256(content).hexdigest()


# --- Parties and bodies -------------------------------------------------------------------------------


@transaction.atomic
def register_party(
    *, actor: Any, code: str, kind: str, time_zone: str, name_ru: str, name_kk: str = "", name_en: str = ""
) -> Party:
    """Register a Party (or the CSTO as an organisation)."""
    _require(actor, Permission.MANAGE_INSTRUMENTS)
    party = Party(code=code, kind=kind, time_zone=time_zone, name_ru=name_ru, name_kk=name_kk, name_en=name_en)
    _validated(party, _("The Party could not be registered."))
    party.save()
    audit.record(action=AuditAction.PARTY_CREATED, actor=actor, target=party, data={"code": code})
    return party


@transaction.atomic
def register_body(
    *,
    actor: Any,
    party: Party,
    code: str,
    kind: str,
    name_ru: str,
    name_kk: str = "",
    name_en: str = "",
    time_zone: str = "",
) -> Body:
    """Register a competent body of a Party, to be designated (R5, R7: several bodies of several kinds)."""
    _require(actor, Permission.REGISTER_BODY, party)
    body = Body(
        party=party, code=code, kind=kind, name_ru=name_ru, name_kk=name_kk, name_en=name_en, time_zone=time_zone
    )
    _validated(body, _("The competent body could not be registered."))
    body.save()
    audit.record(action=AuditAction.BODY_CREATED, actor=actor, body=body, target=body, data={"code": code})
    return body


# --- nodes of the federation (EXCHANGE.md, Directory) --------------------------------------------------

NODE_URL_SCHEMES = ("https://", "http://")


@transaction.atomic
def register_node(
    *,
    actor: Any,
    code: str,
    name: str,
    base_url: str,
    signing_jwk: dict[str, Any],
    encryption_jwk: dict[str, Any],
    software_version: str = "",
    protocol_version: int = 1,
) -> Node:
    """Register a node of the federation in the Secretariat's directory, or update one registered before (its
    name, URL, versions, or keys after a rotation); registering a withdrawn node again reinstates it.

    The keys are stored as given: whether they are keys at all is the exchange domain's to check, and
    `exchange.federation.directory.register_peer` is the way in that checks them. Registering the same
    values again changes nothing and records nothing.
    """
    _require(actor, Permission.MANAGE_NODES)
    message = _("The node could not be registered.")
    errors: dict[str, Any] = {}
    base_url = base_url.strip().rstrip("/")
    if not base_url.startswith(NODE_URL_SCHEMES):
        errors["base_url"] = _("Give the node's address starting with https:// or http://.")
    for field, jwk in (("signing_jwk", signing_jwk), ("encryption_jwk", encryption_jwk)):
        if not isinstance(jwk, dict) or not jwk:
            errors[field] = _("Give the key as a JWK.")
    _refuse(message, errors)
    values: dict[str, Any] = {
        "name": name,
        "base_url": base_url,
        "signing_jwk": signing_jwk,
        "encryption_jwk": encryption_jwk,
        "software_version": software_version,
        "protocol_version": protocol_version,
    }
    now = clock.now()
    # Lock the node: two officers updating it at once must not each record a half of the change.
    node = Node.objects.select_for_update(no_key=True).filter(code=code).first()
    if node is None:
        node = Node(code=code, registered_at=now, updated_at=now, **values)
        _validated(node, message)
        node.save()
        audit.record(
            action=AuditAction.NODE_REGISTERED,
            actor=actor,
            target=node,
            data={
                "code": code,
                "base_url": base_url,
                "signing_kid": signing_jwk.get("kid"),
                "encryption_kid": encryption_jwk.get("kid"),
            },
        )
        return node
    changed = sorted(field for field, value in values.items() if getattr(node, field) != value)
    if node.withdrawn_at is not None:
        changed.append("withdrawn_at")
    if not changed:
        return node
    for field, value in values.items():
        setattr(node, field, value)
    node.withdrawn_at = None
    node.updated_at = now
    _validated(node, message)
    node.save()
    audit.record(
        action=AuditAction.NODE_UPDATED,
        actor=actor,
        target=node,
        data={
            "code": code,
            "changed": changed,
            "signing_kid": signing_jwk.get("kid"),
            "encryption_kid": encryption_jwk.get("kid"),
        },
    )
    return node


@transaction.atomic
def withdraw_node(*, actor: Any, node: Node) -> Node:
    """Take a node out of the federation: its keys are no longer trusted. The row stays, so what it signed
    stays attributable; the bodies it served must first be assigned to another node."""
    _require(actor, Permission.MANAGE_NODES)
    node = Node.objects.select_for_update(no_key=True).get(pk=node.pk)
    if node.withdrawn_at is not None:
        return node
    if node.bodies.exists():
        _refuse(
            _("The node could not be withdrawn."),
            {"node": _("Assign the bodies this node serves to another node first.")},
        )
    node.withdrawn_at = node.updated_at = clock.now()
    node.save(update_fields=["withdrawn_at", "updated_at"])
    audit.record(action=AuditAction.NODE_WITHDRAWN, actor=actor, target=node, data={"code": node.code})
    return node


@transaction.atomic
def assign_body_node(*, actor: Any, body: Body, node: Node | None) -> Body:
    """Say which node serves a body (None: no node, as on a single-node deployment). Messages to the body go
    to that node, and what the body sends must come from it (EXCHANGE.md, the receiver's check 3)."""
    _require(actor, Permission.MANAGE_NODES)
    body = Body.objects.select_for_update(no_key=True).get(pk=body.pk)
    if node is not None:
        node = Node.objects.get(pk=node.pk)  # its current state, not the caller's copy
        if node.withdrawn_at is not None:
            _refuse(_("The body could not be assigned."), {"node": _("This node is withdrawn.")})
    if body.node_id == (node.pk if node is not None else None):
        return body
    previous = body.node.code if body.node is not None else None
    body.node = node
    body.save(update_fields=["node"])
    audit.record(
        action=AuditAction.BODY_NODE_ASSIGNED,
        actor=actor,
        body=body,
        target=body,
        data={"body": body.code, "node": node.code if node is not None else None, "previous": previous},
    )
    return body


# --- instruments and the depositary's records (P14–P19) -----------------------------------------------


@transaction.atomic
def create_instrument(
    *,
    actor: Any,
    code: str,
    kind: str,
    name_ru: str,
    adopted_on: dt.date,
    name_kk: str = "",
    name_en: str = "",
    place: str = "",
    amends: Instrument | None = None,
    execution_term_days: int = 30,
    forward_term_days: int = 3,
    urgent_confirmation_hours: int = 72,
    notifications_required: int = 4,
    withdrawal_notice_months: int = 6,
) -> Instrument:
    """Register an instrument with its parameters (P14, R4); an amendment names the instrument it amends (P15)."""
    _require(actor, Permission.MANAGE_INSTRUMENTS)
    instrument = Instrument(
        code=code,
        kind=kind,
        name_ru=name_ru,
        name_kk=name_kk,
        name_en=name_en,
        adopted_on=adopted_on,
        place=place,
        amends=amends,
        execution_term_days=execution_term_days,
        forward_term_days=forward_term_days,
        urgent_confirmation_hours=urgent_confirmation_hours,
        notifications_required=notifications_required,
        withdrawal_notice_months=withdrawal_notice_months,
    )
    errors: dict[str, Any] = {}
    if kind == rules.InstrumentKind.AMENDMENT and amends is None:
        errors["amends"] = _("Choose the instrument this protocol amends.")
    if kind != rules.InstrumentKind.AMENDMENT and amends is not None:
        errors["amends"] = _("Only an amending protocol amends another instrument.")
    if amends is not None and adopted_on < amends.adopted_on:
        errors["adopted_on"] = _("An amendment cannot be adopted before the instrument it amends.")
    for field, value, low, high in (
        ("execution_term_days", execution_term_days, 1, 365),
        ("forward_term_days", forward_term_days, 1, 60),
        ("urgent_confirmation_hours", urgent_confirmation_hours, 1, 720),
        ("notifications_required", notifications_required, 1, 50),
        ("withdrawal_notice_months", withdrawal_notice_months, 0, 60),
    ):
        if not low <= value <= high:
            errors[field] = _("Must be from %(low)d to %(high)d.") % {"low": low, "high": high}
    try:
        instrument.full_clean(
            exclude=["original", "original_sha256", "original_uploaded_at"], validate_constraints=False
        )
    except ValidationError as error:
        errors.update({k: v[0] for k, v in error.message_dict.items() if k not in errors})
    _refuse(_("The instrument could not be registered."), errors)
    instrument.save()
    audit.record(
        action=AuditAction.INSTRUMENT_CREATED,
        actor=actor,
        target=instrument,
        data={"code": code, "kind": kind, "amends": amends.code if amends else None},
    )
    return instrument


@transaction.atomic
def record_event(
    *,
    actor: Any,
    instrument: Instrument,
    party: Party,
    kind: str,
    on: dt.date,
    effective_on: dt.date | None = None,
    reference: str = "",
) -> InstrumentEvent:
    """Record what the depositary received: a signature, a notification (P16.1, P16.2) or a withdrawal
    notice (P18). The six-month rule, the order of events and 'once per Party' are checked first."""
    _require(actor, Permission.MANAGE_INSTRUMENTS)
    # Lock the instrument: two clerks recording for the same Party at once must not both pass the checks.
    instrument = Instrument.objects.select_for_update(no_key=True).get(pk=instrument.pk)
    errors: dict[str, Any] = {}
    if party.kind != rules.PartyKind.STATE:
        errors["party"] = _("Only a state can be a party to an instrument.")
    if kind != rules.EventKind.WITHDRAWAL_NOTIFIED and effective_on is not None:
        errors["effective_on"] = _("Only a withdrawal has a date of effect.")
    if len(reference) > 200:
        errors["reference"] = _("At most 200 characters.")
    event = rules.TreatyEvent(party=party.code, kind=kind, on=on, effective_on=effective_on)
    errors.update(
        {
            field: text
            for field, text in rules.check_event(
                facts=selectors.facts(instrument),
                event=event,
                adopted_on=instrument.adopted_on,
                today=selectors.depositary_today(),
                notice_months=instrument.withdrawal_notice_months,
            ).items()
            if field not in errors
        }
    )
    _refuse(_("The record could not be made."), errors)
    record = InstrumentEvent.objects.create(
        instrument=instrument,
        party=party,
        kind=kind,
        on=on,
        effective_on=effective_on,
        reference=reference,
        recorded_at=clock.now(),
        recorded_by=actor,
    )
    audit.record(
        action=AuditAction.INSTRUMENT_EVENT_RECORDED,
        actor=actor,
        target=record,
        data={
            "instrument": instrument.code,
            "party": party.code,
            "kind": kind,
            "on": on.isoformat(),
            "effective_on": effective_on.isoformat() if effective_on else None,
        },
    )
    return record


@transaction.atomic
def store_original(*, actor: Any, instrument: Instrument, upload: UploadedFile[bytes]) -> Instrument:
    """Keep the original text of an instrument (P19): once, as a PDF, with its SHA-256."""
    _require(actor, Permission.MANAGE_INSTRUMENTS)
    instrument = Instrument.objects.select_for_update(no_key=True).get(pk=instrument.pk)
    message = _("The original could not be stored.")
    if instrument.original_sha256:
        _refuse(message, {"file": _("The original of this instrument is already stored; it is never replaced.")})
    content, _digest = _read_pdf(upload, "file", message)
    # The original lives in the archive (hashed again on every download); the instrument names its file.
    kept = archive.keep(
        content=content,
        kind=ORIGINAL_KIND,
        name=f"{instrument.code}.pdf",
        reference=instrument.code,
        target=instrument,
        actor=actor,
    )
    instrument.original = kept.file.name
    instrument.original_sha256 = kept.sha256
    instrument.original_uploaded_at = clock.now()
    instrument.save(update_fields=["original", "original_sha256", "original_uploaded_at"])
    audit.record(
        action=AuditAction.ORIGINAL_STORED,
        actor=actor,
        target=instrument,
        data={"sha256": kept.sha256, "size_bytes": len(content)},
    )
    return instrument


@transaction.atomic
def record_certified_copy(
    *, actor: Any, instrument: Instrument, party: Party, sent_on: dt.date, upload: UploadedFile[bytes]
) -> CertifiedCopy:
    """Record a certified copy sent to a signatory (P19): to whom, when, and the copy's SHA-256."""
    _require(actor, Permission.MANAGE_INSTRUMENTS)
    message = _("The certified copy could not be recorded.")
    errors: dict[str, Any] = {}
    if not instrument.original_sha256:
        errors["file"] = _("Store the original first: a certified copy is a copy of the original.")
    if not any(e.party_id == party.pk and e.kind == rules.EventKind.SIGNED for e in instrument.events.all()):
        errors["party"] = _("Certified copies go to the signatories; this Party has not signed.")
    if sent_on > selectors.depositary_today():
        errors["sent_on"] = _("The date cannot be in the future.")
    elif sent_on < instrument.adopted_on:
        errors["sent_on"] = _("This date is before the instrument was adopted for signature.")
    _refuse(message, errors)
    content, digest = _read_pdf(upload, "file", message)
    reference = f"{instrument.code}-{party.code}-{sent_on.isoformat()}"
    copy = CertifiedCopy(
        instrument=instrument,
        party=party,
        sent_on=sent_on,
        # The copy lives in the archive, under the name its bytes give (kept just below, once the copy has its id).
        file=archive_name(digest, archive.PDF),
        sha256=digest,
        size_bytes=len(content),
        recorded_at=clock.now(),
        recorded_by=actor,
    )
    copy.save()
    kept = archive.keep(
        content=content,
        kind=CERTIFIED_COPY_KIND,
        name=f"{reference}.pdf",
        reference=reference,
        target=copy,
        actor=actor,
    )
    if kept.file.name != copy.file.name:  # the same bytes archived before under another type: never for a PDF
        raise RuntimeError(f"certified copy {copy.pk}: archived as {kept.file.name}, recorded as {copy.file.name}")
    audit.record(
        action=AuditAction.CERTIFIED_COPY_RECORDED,
        actor=actor,
        target=copy,
        data={"instrument": instrument.code, "party": party.code, "sent_on": sent_on.isoformat(), "sha256": digest},
    )
    return copy


# --- designations and their announcement (P4.2, P4.3) ----------------------------------------------------


class Publisher(Protocol):
    """Carries a Party's notices and acknowledgements to the node that keeps the registry (the Secretariat's),
    on a federated node that does not keep it. The exchange domain installs one at its `ready()`
    (`install_publisher`): the registry never imports the exchange."""

    def keeps_registry_elsewhere(self) -> bool:
        """True when another node keeps the registry, so that a Party's acts must be sent there."""
        ...

    def send_designation(self, *, actor: Any, notice: DesignationNotice) -> None:
        """Send an unsaved, checked notice to the node that keeps the registry, to be filed there."""
        ...

    def send_acknowledgement(self, *, actor: Any, acknowledgement: Acknowledgement) -> None:
        """Tell the node that keeps the registry that this Party acknowledged an announcement."""
        ...


_publisher: Publisher | None = None


def install_publisher(publisher: Publisher | None) -> None:
    """Set (or, with None, remove) the publisher that sends a Party's acts to the node keeping the registry."""
    global _publisher
    _publisher = publisher


def _forwarding() -> Publisher | None:
    """The publisher when this node does not keep the registry; None when the registry is kept here."""
    return _publisher if _publisher is not None and _publisher.keeps_registry_elsewhere() else None


def designation_errors(
    *,
    instrument: Instrument,
    party: Party,
    kind: str,
    body: Body,
    effective_on: dt.date,
    replaces: Body | None,
    reference: str,
) -> dict[str, Any]:
    """Why a notice cannot be filed against the Party's history held here (P4.2), by field; empty when it can.
    Writes nothing: the inbox also asks it before it takes a notice sent from a Party's node."""
    errors: dict[str, Any] = {}
    if body.party_id != party.pk:
        errors["body"] = _("This body belongs to another Party.")
    if replaces is not None and replaces.party_id != party.pk:
        errors["replaces"] = _("This body belongs to another Party.")
    if kind != rules.DesignationKind.CHANGED and replaces is not None:
        errors["replaces"] = _("Only a change of body replaces another body.")
    if len(reference) > 200:
        errors["reference"] = _("At most 200 characters.")
    fact = rules.DesignationFact(
        kind=kind, body=body.code, effective_on=effective_on, replaces=replaces.code if replaces else None
    )
    checked = rules.check_designation(
        facts=selectors.designation_facts(instrument=instrument, party=party), fact=fact, earliest=instrument.adopted_on
    )
    errors.update({k: v for k, v in checked.items() if k not in errors})
    return errors


@transaction.atomic
def notify_designation(
    *,
    actor: Any,
    instrument: Instrument,
    party: Party,
    kind: str,
    body: Body,
    effective_on: dt.date,
    replaces: Body | None = None,
    reference: str = "",
) -> DesignationNotice | None:
    """A Party notifies a designation, change or withdrawal of a competent body (P4.2): filed and announced
    here when this node keeps the registry (the notice is returned); otherwise checked against the history
    held here and sent to the node that keeps it, which files and announces it (None is returned: nothing is
    stored here until the directory brings the notice back)."""
    publisher = _forwarding()
    if publisher is None:
        return file_designation(
            actor=actor,
            instrument=instrument,
            party=party,
            kind=kind,
            body=body,
            effective_on=effective_on,
            replaces=replaces,
            reference=reference,
        )
    _require(actor, Permission.FILE_DESIGNATION, party)
    errors = designation_errors(
        instrument=instrument,
        party=party,
        kind=kind,
        body=body,
        effective_on=effective_on,
        replaces=replaces,
        reference=reference,
    )
    _refuse(_("The designation notice could not be filed."), errors)
    notice = DesignationNotice(
        instrument=instrument,
        party=party,
        kind=kind,
        body=body,
        replaces=replaces,
        effective_on=effective_on,
        reference=reference,
        filed_at=clock.now(),
        filed_by=actor,
    )
    publisher.send_designation(actor=actor, notice=notice)
    return None


@transaction.atomic
def file_designation(
    *,
    actor: Any,
    instrument: Instrument,
    party: Party,
    kind: str,
    body: Body,
    effective_on: dt.date,
    replaces: Body | None = None,
    reference: str = "",
    remote: Mapping[str, Any] | None = None,
) -> DesignationNotice:
    """File a Party's designation, change or withdrawal of a competent body (P4.2) and announce it at once
    to every other Party, each of which acknowledges it (P4.3). `remote` says, for the audit log, who sent
    a notice that came from the Party's own node (its filer's name, node and message)."""
    _require(actor, Permission.FILE_DESIGNATION, party)
    # Lock the Party: its notices are checked against its whole history.
    Party.objects.select_for_update(no_key=True).get(pk=party.pk)
    errors = designation_errors(
        instrument=instrument,
        party=party,
        kind=kind,
        body=body,
        effective_on=effective_on,
        replaces=replaces,
        reference=reference,
    )
    _refuse(_("The designation notice could not be filed."), errors)
    now = clock.now()
    notice = DesignationNotice.objects.create(
        instrument=instrument,
        party=party,
        kind=kind,
        body=body,
        replaces=replaces,
        effective_on=effective_on,
        reference=reference,
        filed_at=now,
        filed_by=actor,
    )
    audit.record(
        action=AuditAction.DESIGNATION_FILED,
        actor=actor,
        body=body,
        target=notice,
        data={
            "party": party.code,
            "kind": kind,
            "body": body.code,
            "replaces": replaces.code if replaces else None,
            "effective_on": effective_on.isoformat(),
            **({"remote": dict(remote)} if remote else {}),
        },
    )
    # P4.3: announced "immediately" to every Party — in the same transaction as the notice itself.
    recipients = selectors.parties(states_only=True).exclude(pk=party.pk)
    Acknowledgement.objects.bulk_create(
        [Acknowledgement(notice=notice, party=recipient, announced_at=now) for recipient in recipients]
    )
    audit.record(
        action=AuditAction.DESIGNATION_ANNOUNCED,
        actor=actor,
        target=notice,
        data={"to": sorted(p.code for p in recipients)},
    )
    return notice


@transaction.atomic
def acknowledge(
    *,
    actor: Any,
    acknowledgement: Acknowledgement,
    acknowledged_at: dt.datetime | None = None,
    remote: Mapping[str, Any] | None = None,
) -> Acknowledgement:
    """A Party acknowledges a designation announcement (P4.3); acknowledging twice changes nothing.

    On a node that does not keep the registry the acknowledgement is kept here and sent to the node that
    does. There, it is recorded with the time the Party acknowledged (`acknowledged_at`), no local user, and
    `remote` (who acknowledged on which node, by which message) in the audit entry."""
    _require(actor, Permission.ACKNOWLEDGE_ANNOUNCEMENT, acknowledgement)
    acknowledgement = Acknowledgement.objects.select_for_update(no_key=True).get(pk=acknowledgement.pk)
    if acknowledgement.acknowledged_at is None:
        acknowledgement.acknowledged_at = acknowledged_at or clock.now()
        acknowledgement.acknowledged_by = actor
        acknowledgement.save(update_fields=["acknowledged_at", "acknowledged_by"])
        audit.record(
            action=AuditAction.DESIGNATION_ACKNOWLEDGED,
            actor=actor,
            target=acknowledgement,
            data={
                "notice": acknowledgement.notice_id,
                "party": acknowledgement.party.code,
                **({"remote": dict(remote)} if remote else {}),
            },
        )
        publisher = _forwarding()
        if publisher is not None:
            publisher.send_acknowledgement(actor=actor, acknowledgement=acknowledgement)
    return acknowledgement


# --- the Parties' signing authorities (P6.5) --------------------------------------------------------------


@transaction.atomic
def add_signing_authority(*, party: Party, certificate_pem: str, actor: Any = None) -> bool:
    """Publish a certificate authority of `party`'s signers (a PEM certificate, checked by the caller): every node
    that mirrors the directory then trusts the official documents its signers sign. Returns False when it was
    listed already. Called by the documents domain when an authority is created or registered on this node."""
    profile, _created = PartyProfile.objects.select_for_update(no_key=True).get_or_create(party=party)
    if certificate_pem in profile.signing_authorities:
        return False
    profile.signing_authorities = sorted([*profile.signing_authorities, certificate_pem])
    profile.updated_at = clock.now()
    profile.save(update_fields=["signing_authorities", "updated_at"])
    audit.record(
        action=AuditAction.PARTY_PROFILE_UPDATED,
        actor=actor,
        target=profile,
        data={"party": party.code, "fields": ["signing_authorities"]},
    )
    return True


# --- Party profiles -----------------------------------------------------------------------------------

PROFILE_FIELDS = (
    "accepted_languages",
    "signature_required",
    "dual_criminality_required",
    "evidence_use_limits",
    "working_days",
    "office_opens_at",
    "office_closes_at",
    "contact_name",
    "contact_phone",
    "contact_email",
)
PROFILE_LANGUAGES = tuple(rules.PROFILE_LANGUAGE_LABELS)


@transaction.atomic
def update_party_profile(*, actor: Any, party: Party, **values: Any) -> PartyProfile:
    """Keep a Party's requirements for incoming requests current; only that Party's registrar may."""
    _require(actor, Permission.EDIT_PARTY_PROFILE, party)
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"unknown profile fields: {sorted(unknown)}")
    profile = PartyProfile.objects.select_for_update(no_key=True).filter(party=party).first() or PartyProfile(
        party=party
    )
    errors: dict[str, Any] = {}
    languages = values.get("accepted_languages", profile.accepted_languages)
    if not isinstance(languages, list) or any(code not in PROFILE_LANGUAGES for code in languages):
        errors["accepted_languages"] = _("Choose languages from the list.")
    days = values.get("working_days", profile.working_days)
    if not isinstance(days, list) or any(not isinstance(d, int) or not 1 <= d <= 7 for d in days):
        errors["working_days"] = _("Choose working days from Monday to Sunday.")
    opens = values.get("office_opens_at", profile.office_opens_at)
    closes = values.get("office_closes_at", profile.office_closes_at)
    if opens is not None and closes is not None and closes <= opens:
        errors["office_closes_at"] = _("The office must close after it opens.")
    normalised = {
        field: sorted(set(value))
        if field in ("accepted_languages", "working_days") and isinstance(value, list)
        else value
        for field, value in values.items()
    }
    changed = sorted(
        field for field, value in normalised.items() if profile.pk is None or getattr(profile, field) != value
    )
    for field, value in normalised.items():
        setattr(profile, field, value)
    try:
        profile.full_clean(exclude=["party", "updated_by"])
    except ValidationError as error:
        errors.update({k: v[0] for k, v in error.message_dict.items() if k not in errors})
    _refuse(_("The profile could not be saved."), errors)
    profile.updated_at = clock.now()
    profile.updated_by = actor
    profile.save()
    audit.record(
        action=AuditAction.PARTY_PROFILE_UPDATED,
        actor=actor,
        target=profile,
        data={"party": party.code, "changed": changed},
    )
    return profile
