"""Registry messages between nodes (P4.2, P4.3): a Party's designation notices and acknowledgements, made on
its own node, sent to the Secretariat's body on the node that keeps the registry, and filed or recorded there.

The registry does not import the exchange: it calls the publisher installed here (`registry.services.Publisher`)
whenever it does not keep the registry itself. What the Secretariat files comes back to every node, announced
to the Parties, with the next directory version (`registry.directory`). docs/federation.md, "Registry messages".
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from django.utils import translation

from cybercoop.core.errors import InvalidInput
from cybercoop.exchange import dispatch, services
from cybercoop.exchange.federation import directory, envelope, node
from cybercoop.exchange.federation.envelope import Rejected
from cybercoop.exchange.rules import Marking
from cybercoop.registry import rules as registry_rules
from cybercoop.registry import selectors as registry
from cybercoop.registry import services as registry_services
from cybercoop.registry.models import Acknowledgement, Body, DesignationNotice, Instrument, Party

PREFIX: Final = "registry."
DESIGNATION: Final = "registry.designation"  # a Party's notice, to be filed and announced (P4.2, P4.3)
ACKNOWLEDGEMENT: Final = "registry.acknowledgement"  # a Party acknowledged an announcement (P4.3)
# What applies a checked message, given what the audit entry records of where it came from (`remote`).
Apply = Callable[[dict[str, str]], None]

DESIGNATION_FIELDS: Final = frozenset({"party", "kind", "body", "replaces", "effective_on", "reference", "filed_by"})
NOTICE_FIELDS: Final = frozenset({"party", "kind", "body", "replaces", "effective_on", "filed_at"})
ACKNOWLEDGEMENT_FIELDS: Final = frozenset({"notice", "party", "acknowledged_at", "acknowledged_by"})

# Reasons sent back in the signed receipt of a registry message refused by the Secretariat's node (English, as
# every reason on the wire); a refused notice adds the registry's own words, so its registrar can act on them.
DESIGNATION_REFUSED: Final = "designation refused"
NO_SUCH_ANNOUNCEMENT: Final = "acknowledgement refused: no such announcement"
NOT_THE_PARTYS_BODY: Final = "registry: the sending body is not of the Party it speaks for"
NOT_THE_SECRETARIAT: Final = "registry: not addressed to the Secretariat's body"


class RegistryMessageError(ValueError):
    """A registry message this node cannot apply; `reason` is what the receipt says."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail or reason


# --- where the registry is kept ------------------------------------------------------------------------------


def secretariat_body() -> Body | None:
    """The Secretariat's body, to which a Party's registry acts go; None when the registry lists none."""
    return registry.bodies().filter(kind=registry_rules.BodyKind.SECRETARIAT).select_related("node").first()


def keeps_registry_elsewhere() -> bool:
    """Does another node keep the registry? Yes on a federated node whose directory names another node for the
    Secretariat's body. No on a single node, on the node that holds the directory key (the Secretariat's), or
    while the registry names no node for the Secretariat's body (as on the Secretariat's node being set up)."""
    if not node.this_node_id() or directory.is_secretariat():
        return False
    secretariat = secretariat_body()
    return secretariat is not None and secretariat.node_id is not None and not node.is_local(secretariat)


def is_secretariat_body(body: Any) -> bool:
    """Is `body` the Secretariat's? It is neither a Party's competent body nor designated (P4.2)."""
    return body is not None and body.kind == registry_rules.BodyKind.SECRETARIAT


class FederationPublisher:
    """The registry's publisher on a federated node (`registry.services.Publisher`): a Party's notices and
    acknowledgements leave as messages to the Secretariat's body, in the caller's transaction."""

    def keeps_registry_elsewhere(self) -> bool:
        return keeps_registry_elsewhere()

    def send_designation(self, *, actor: Any, notice: DesignationNotice) -> None:
        body = {
            "party": notice.party.code,
            "kind": notice.kind,
            "body": notice.body.code,
            "replaces": notice.replaces.code if notice.replaces is not None else None,
            "effective_on": notice.effective_on.isoformat(),
            "reference": notice.reference,
            "filed_by": _name(actor),
        }
        _send(actor=actor, party=notice.party, kind=DESIGNATION, instrument=notice.instrument.code, body=body)

    def send_acknowledgement(self, *, actor: Any, acknowledgement: Acknowledgement) -> None:
        notice = acknowledgement.notice
        assert acknowledgement.acknowledged_at is not None  # only an acknowledged announcement is sent
        body = {
            "notice": {
                "party": notice.party.code,
                "kind": notice.kind,
                "body": notice.body.code,
                "replaces": notice.replaces.code if notice.replaces is not None else None,
                "effective_on": notice.effective_on.isoformat(),
                "filed_at": _instant(notice.filed_at),
            },
            "party": acknowledgement.party.code,
            "acknowledged_at": _instant(acknowledgement.acknowledged_at),
            "acknowledged_by": _name(actor),
        }
        _send(
            actor=actor,
            party=acknowledgement.party,
            kind=ACKNOWLEDGEMENT,
            instrument=notice.instrument.code,
            body=body,
        )


def _send(*, actor: Any, party: Party, kind: str, instrument: str, body: dict[str, Any]) -> None:
    """One message from the Party's body to the Secretariat's. Each is a conversation of its own: registry
    messages do not chain, so one the Secretariat refuses holds up none after it."""
    recipient = secretariat_body()
    if recipient is None:  # keeps_registry_elsewhere() said there is one, in the same transaction
        raise RuntimeError("the directory names no Secretariat's body to send the registry's messages to")
    services.send(
        conversation=uuid.uuid4(),
        kind=kind,
        sender_body=_sending_body(actor, party),
        recipient_body=recipient,
        sender_user=actor,
        instrument=instrument,
        marking=Marking.OFFICIAL,
        purposes=[],
        conditions=[],
        body=body,
    )


def _sending_body(actor: Any, party: Party) -> Body:
    """The actor's own body; for the system (no actor), the Party's first body served here."""
    own = getattr(actor, "body", None)
    if own is not None and own.party_id == party.pk and node.is_local(own):
        return own
    for body in registry.bodies(party_code=party.code).select_related("node"):
        if node.is_local(body):
            return body
    raise RuntimeError(f"no body of {party.code} is served by this node, so none can speak for it")


def _name(actor: Any) -> str:
    if actor is None:
        return ""
    return str(getattr(actor, "full_name", "") or getattr(actor, "username", ""))


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


# --- the Secretariat's node: checking and applying ------------------------------------------------------------


def check(message: Mapping[str, Any], *, sender_body: Body, recipient_body: Body) -> None:
    """The receiver's check of a registry message (inbox check 6, for this kind): raise Rejected, with the
    reason the sender reads in its receipt, for a body not of its kind's form, a notice the registry refuses,
    or an announcement it does not hold. Writes nothing; applying checks again, under the Party's lock."""
    if not is_secretariat_body(recipient_body):
        return  # not this node's to take: the handler refuses it, as for any other message it cannot apply
    try:
        _verdict(
            kind=message["kind"],
            instrument_code=message["instrument"],
            body=message["body"],
            sender_body=sender_body,
            created_at=dt.datetime.fromisoformat(message["created_at"]),
        )
    except RegistryMessageError as error:
        raise Rejected(error.reason, error.detail) from None


def apply_message(message: Any) -> None:
    """Apply a stored registry message: on the Secretariat's node, file the notice and announce it (P4.2,
    P4.3) or record the Party's acknowledgement (P4.3). The sender's own copy changes nothing on its node: the
    notice comes back with the directory. Raises for a message that cannot be applied (the inbox rejects it)."""
    if not node.is_local(message.recipient_body):
        return
    if not is_secretariat_body(message.recipient_body):
        raise RegistryMessageError(NOT_THE_SECRETARIAT)
    apply = _verdict(
        kind=message.kind,
        instrument_code=message.instrument,
        body=message.body,
        sender_body=message.sender_body,
        created_at=message.created_at,
    )
    apply({"node": node.node_code(message.sender_body), "body": message.sender_body.code, "message": str(message.id)})


def _verdict(*, kind: str, instrument_code: str, body: Any, sender_body: Body, created_at: dt.datetime) -> Apply:
    """Check a registry message against this node's registry; return what applies it (given the `remote`
    facts for the audit log), or raise RegistryMessageError saying why it cannot be."""
    instrument = registry.get_instrument(code=instrument_code)
    if instrument is None:  # the inbox checked it before; the handler does not rely on that
        raise RegistryMessageError("unknown instrument")
    if kind == DESIGNATION:
        return _designation_verdict(instrument=instrument, body=body, sender_body=sender_body)
    if kind == ACKNOWLEDGEMENT:
        return _acknowledgement_verdict(instrument=instrument, body=body, sender_body=sender_body, at=created_at)
    raise RegistryMessageError(envelope.malformed("kind"), f"{kind!r} is not a registry message")


def _designation_verdict(*, instrument: Instrument, body: Any, sender_body: Body) -> Apply:
    fields = _fields(body, DESIGNATION_FIELDS)
    party = _party_of(fields["party"], sender_body)
    kind = _choice(fields["kind"], registry_rules.DesignationKind.values)
    designated = _body(fields["body"])
    replaces = _body(fields["replaces"]) if fields["replaces"] is not None else None
    effective_on = _date(fields["effective_on"])
    reference, filed_by = _text(fields["reference"]), _text(fields["filed_by"])
    values: dict[str, Any] = {
        "instrument": instrument,
        "party": party,
        "kind": kind,
        "body": designated,
        "replaces": replaces,
        "effective_on": effective_on,
        "reference": reference,
    }
    # The registry's reasons go back in the receipt, in English as every reason on the wire: some are made
    # (with a date in them) as the check runs, so it runs in English.
    with translation.override("en"):
        errors = registry_services.designation_errors(**values)
    if errors:
        raise RegistryMessageError(_refusal(errors))

    def apply(remote: dict[str, str]) -> None:
        try:
            with translation.override("en"):
                registry_services.file_designation(actor=None, **values, remote={**remote, "filed_by": filed_by})
        except InvalidInput as error:  # another notice of the Party was filed since the inbox checked this one
            raise RegistryMessageError(_refusal(error.errors)) from error

    return apply


def _acknowledgement_verdict(*, instrument: Instrument, body: Any, sender_body: Body, at: dt.datetime) -> Apply:
    fields = _fields(body, ACKNOWLEDGEMENT_FIELDS)
    party = _party_of(fields["party"], sender_body)
    notice = _fields(fields["notice"], NOTICE_FIELDS, "body.notice")
    acknowledged_at = _moment(fields["acknowledged_at"])
    acknowledged_by = _text(fields["acknowledged_by"])
    replaces = notice["replaces"]
    found = (
        Acknowledgement.objects.filter(
            party=party,
            notice__instrument=instrument,
            notice__party__code=_text(notice["party"]),
            notice__kind=_text(notice["kind"]),
            notice__body__code=_text(notice["body"]),
            notice__effective_on=_date(notice["effective_on"]),
            notice__filed_at=_moment(notice["filed_at"]),
        )
        .filter(**({"notice__replaces__code": _text(replaces)} if replaces is not None else {"notice__replaces": None}))
        .select_related("party")
        .first()
    )
    if found is None:
        raise RegistryMessageError(NO_SUCH_ANNOUNCEMENT)
    # Acknowledged after the announcement and no later than the message saying so was made (its sender's clock).
    if not found.announced_at <= acknowledged_at <= at:
        raise RegistryMessageError(
            envelope.malformed("body"), "acknowledged_at is outside its announcement and message"
        )

    def apply(remote: dict[str, str]) -> None:
        registry_services.acknowledge(
            actor=None,
            acknowledgement=found,
            acknowledged_at=acknowledged_at,
            remote={**remote, "acknowledged_by": acknowledged_by},
        )

    return apply


def _refusal(errors: Mapping[str, Any]) -> str:
    """The registry's reasons in English, for the receipt: "designation refused: body: …"."""
    with translation.override("en"):
        parts = []
        for field, texts in sorted(errors.items()):
            texts = texts if isinstance(texts, list | tuple) else [texts]
            parts.append(f"{field}: {' '.join(str(text) for text in texts)}")
    return f"{DESIGNATION_REFUSED}: {'; '.join(parts)}"


def _party_of(code: Any, sender_body: Body) -> Party:
    """The Party a message speaks for: only the sending body's own (P4.2: a Party notifies for itself)."""
    if code != sender_body.party.code:
        raise RegistryMessageError(NOT_THE_PARTYS_BODY)
    return sender_body.party


def _fields(value: Any, expected: frozenset[str], path: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != expected:
        raise RegistryMessageError(envelope.malformed("body"), f"{path} does not have exactly {sorted(expected)}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 300 or "\x00" in value:
        raise RegistryMessageError(envelope.malformed("body"), "a field is not a short string")
    return value


def _choice(value: Any, choices: list[str]) -> str:
    if value not in choices:
        raise RegistryMessageError(envelope.malformed("body"), f"{value!r} is not one of {choices}")
    return str(value)


def _body(code: Any) -> Body:
    found = registry.get_body(code=_text(code))
    if found is None:
        raise RegistryMessageError(f"{DESIGNATION_REFUSED}: body: no such body in the registry")
    return found


def _date(value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(_text(value))
    except ValueError:
        raise RegistryMessageError(envelope.malformed("body"), "not a date (YYYY-MM-DD)") from None


def _moment(value: Any) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(_text(value))
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() != dt.timedelta(0):
        raise RegistryMessageError(envelope.malformed("body"), "not an RFC 3339 time in UTC")
    return moment


def install() -> None:
    """Apply registry messages here, and send a Party's registry acts from here when another node keeps the
    registry; called once from the exchange app's `ready()`."""
    dispatch.register(PREFIX)(apply_message)
    registry_services.install_publisher(FederationPublisher())
