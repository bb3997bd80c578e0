"""The receiving side of the federation (POST /federation/v1/messages): each envelope of a batch, in order,
through the receiver's checks of EXCHANGE.md, then applied, kept waiting for its sender's earlier messages,
or rejected; the receipt this node signs is written in the transaction that applied or refused it.

A batch is one transaction: its conversations are locked first, in a fixed order (`_lock_conversations`),
so that two batches naming the same conversations take them one after the other and never deadlock; the
registry is read once per batch (`_Batch`); applying each message is a savepoint inside it, so a message
that fails to apply leaves nothing behind but the row that records its rejection. When the database fails
(a lock timeout, a constraint another batch won, a lost connection) the whole batch rolls back and every
envelope of it is answered `retry`: the receipts it signed were never sent, and nothing was stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction

from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.exchange import dispatch, services
from cybercoop.exchange.federation import attachments, envelope, node, wire
from cybercoop.exchange.federation.envelope import Opened, Rejected
from cybercoop.exchange.federation.keys import NodeKeys
from cybercoop.exchange.models import InboundEnvelope, InboundState, Message
from cybercoop.exchange.rules import Marking, is_state_secret
from cybercoop.registry import selectors as registry

logger = logging.getLogger(__name__)

MAX_AHEAD = dt.timedelta(minutes=5)  # check 4: how far in this node's future a message may have been made
# An envelope that does not open is anyone's: only its start is kept, so junk cannot fill the database.
KEPT_UNOPENED_CHARS = 4096

# Reason codes this module adds to envelope.py's, a closed set as they are: sent back, signed, in receipts.
NOT_SERVED_HERE = "body not served here"
NOT_SENDERS_BODY = "body not served by the sending node"
FROM_THE_FUTURE = "created in the future"
UNKNOWN_KIND = "unknown kind"
UNKNOWN_INSTRUMENT = "unknown instrument"
NOT_IN_FORCE = "instrument not in force"
NOT_DESIGNATED = "body not designated"
STATE_SECRET = "state secret"  # noqa: S105 - a reason code (P10.3: only by the CSTO agreement of 18 June 2004)
BROKEN_CHAIN = "broken chain"
NOT_APPLIED = "not applied"
# Not rejections: answers without a receipt, after which the sender asks again.
WAITING_FOR_ATTACHMENTS = "waiting for attachments"
TEMPORARILY_UNAVAILABLE = "temporarily unavailable"


def waiting_for(seq: int) -> str:
    """The note for a message held until its sender's message number `seq` arrives."""
    return f"waiting for seq {seq}"


@dataclass(frozen=True)
class Result:
    """One envelope's entry in the batch answer. `accepted`, `duplicate` and `rejected` carry this node's
    signed receipt; `waiting` (stored, applied once the gap fills) and `retry` (nothing stored) carry none."""

    id: str | None
    status: str
    reason: str | None = None
    receipt: str | None = None

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.reason is not None:
            answer["reason"] = self.reason
        if self.receipt is not None:
            answer["receipt"] = self.receipt
        return answer


class _Rules:
    """The registry's answers to checks 5 and 7 (instruments, in force, designated), kept by this process while
    `registry.rules_stamp()` stays the same: read once per batch, it changes with any record they depend on."""

    def __init__(self) -> None:
        self.stamp: tuple[int, ...] | None = None
        self.instruments: dict[str, Any] = {}
        self.in_force: dict[tuple[str, str, str, dt.date], bool] = {}
        self.designated: dict[tuple[str, str, dt.date], bool] = {}

    def current(self) -> _Rules:
        stamp = registry.rules_stamp()
        if stamp != self.stamp:
            self.__init__()  # type: ignore[misc]
            self.stamp = stamp
        return self


_rules = _Rules()


class _Batch:
    """What one batch needs from this node: its keys, and the registry's answers. Bodies (which node serves
    them) are read once per batch; the rules' answers are kept across batches while they cannot change."""

    def __init__(self, recipient: NodeKeys) -> None:
        self.recipient = recipient
        self.seen: dict[str, InboundEnvelope] = {}  # message id -> its row, for the batch's message ids
        self._bodies: dict[str, Any] = {}
        self._rules: _Rules | None = None

    @property
    def rules(self) -> _Rules:
        if self._rules is None:
            self._rules = _rules.current()
        return self._rules

    def body(self, code: str) -> Any:
        if code not in self._bodies:
            found = registry.get_body(code=code)
            if found is not None and found.node_id is not None:
                found.node  # noqa: B018 — read now, with the body: is_local and node_of ask for it
            self._bodies[code] = found
        return self._bodies[code]

    def instrument(self, code: str) -> Any:
        known = self.rules.instruments
        if code not in known:
            known[code] = registry.get_instrument(code=code)
        return known[code]

    def in_force(self, instrument: Any, party_a: Any, party_b: Any, on: dt.date) -> bool:
        known = self.rules.in_force
        key = (instrument.code, party_a.code, party_b.code, on)
        if key not in known:
            known[key] = registry.in_force_between(instrument=instrument, party_a=party_a, party_b=party_b, on=on)
        return known[key]

    def designated(self, body: Any, instrument: Any, on: dt.date) -> bool:
        known = self.rules.designated
        key = (body.code, instrument.code, on)
        if key not in known:
            known[key] = registry.is_designated(body=body, instrument=instrument, on=on)
        return known[key]


def receive_batch(envelopes: Sequence[str]) -> list[dict[str, Any]]:
    """The answer to a batch: one entry per envelope, in order. Raises NodeNotConfigured without keys.

    The envelopes are opened first (decrypted and verified: no database but the directory's keys), then
    checked and applied in one transaction."""
    recipient = node.load_keys()
    opened = [_open(token, recipient=recipient) for token in envelopes]
    batch = _Batch(recipient)
    try:
        with transaction.atomic():
            ids = [item.message["id"] for item in opened if isinstance(item, Opened)]
            conversations = {item.message["conversation"] for item in opened if isinstance(item, Opened)}
            _lock_conversations(conversations)
            dispatch.lock_conversations(conversations)  # what the handlers lock, taken before any applies
            batch.seen = {str(row.message_id): row for row in InboundEnvelope.objects.filter(message_id__in=ids)}
            results = [_receive_one(token, item, batch=batch) for token, item in zip(envelopes, opened, strict=True)]
    except (OperationalError, IntegrityError) as error:
        # A deadlock, a lock timeout, a message id another batch stored first, a database gone: nothing of
        # this batch was stored, and the sender asks again (a known id is then answered as a duplicate).
        logger.warning("a batch of %d envelope(s) not taken, the sender will retry: %s", len(envelopes), error)
        return [
            Result(item.message["id"] if isinstance(item, Opened) else None, "retry", TEMPORARILY_UNAVAILABLE).as_json()
            for item in opened
        ]
    return [result.as_json() for result in results]


def _open(token: str, *, recipient: NodeKeys) -> Opened | Rejected | Result:
    """Checks 1–2: the envelope decrypted and its signature verified; a `retry` when our directory failed."""
    try:
        return envelope.open_envelope(token, recipient=recipient, sender_keys=node.peer_keys)
    except Rejected as error:
        if error.reason == envelope.SENDER_LOOKUP_FAILED:  # our directory's fault, not the sender's
            logger.warning("envelope not checked, the sender will retry: %s", error)
            return Result(None, "retry", error.reason)
        return error


def _receive_one(token: str, item: Opened | Rejected | Result, *, batch: _Batch) -> Result:
    if isinstance(item, Result):
        return item
    if isinstance(item, Rejected):
        return _refuse_unopened(token, item, batch=batch)
    return _receive_opened(item, token, batch=batch)


def _refuse_unopened(token: str, error: Rejected, *, batch: _Batch) -> Result:
    """Checks 1–2 (and the message's form) failed: the sender is unknown, so the envelope is its only name."""
    sha = hashlib.sha256(token.encode("utf-8")).hexdigest()
    earlier = InboundEnvelope.objects.filter(envelope_sha256=sha, message_id__isnull=True).order_by("pk").first()
    if earlier is not None:  # the same envelope again: the same answer
        return Result(None, "rejected", earlier.reason, earlier.receipt)
    now = clock.now()
    row = InboundEnvelope(
        envelope=token[:KEPT_UNOPENED_CHARS],
        envelope_sha256=sha,
        state=InboundState.REJECTED,
        reason=error.reason[:200],
        received_at=now,
    )
    row.receipt = envelope.receipt(
        message_id=None,
        envelope_sha256=sha,
        status="rejected",
        received_at=now,
        node=batch.recipient,
        reason=row.reason,
    )
    row.save()
    _record_rejection(row, detail=error.message, batch=batch)
    return Result(None, "rejected", row.reason, row.receipt)


def _receive_opened(opened: Opened, token: str, *, batch: _Batch) -> Result:
    message = opened.message
    now = clock.now()
    earlier = batch.seen.get(message["id"])
    if earlier is not None and earlier.state == InboundState.WAITING and earlier.reason == WAITING_FOR_ATTACHMENTS:
        # Held for its files, which its sender uploads before posting it again: they may be here now.
        result = _apply(earlier, batch=batch, now=now)
        if result.status != "accepted":
            return result
        _apply_waiting(conversation=message["conversation"], sender=message["from"]["body"], batch=batch)
        if earlier.envelope_sha256 == opened.envelope_sha256:
            return result
        # Sealed again since it was held: the receipt names the envelope that was just posted.
        return Result(
            result.id,
            "accepted",
            receipt=envelope.receipt(
                message_id=str(result.id),
                envelope_sha256=opened.envelope_sha256,
                status="accepted",
                received_at=now,
                node=batch.recipient,
            ),
        )
    if earlier is not None:
        return _again(earlier, opened, recipient=batch.recipient, now=now)
    row = InboundEnvelope(
        message_id=message["id"],
        sender_node=message["from"]["node"],
        conversation=message["conversation"],
        seq=message["seq"],
        envelope=token,
        envelope_sha256=opened.envelope_sha256,
        signed_message=opened.jws,
        content=message,
        state=InboundState.WAITING,
        received_at=now,
    )
    batch.seen[message["id"]] = row
    try:
        _check(message, now=now, batch=batch)
    except Rejected as error:
        return _reject(row, error.reason, detail=error.message, batch=batch, now=now)
    row.save()
    result = _apply(row, batch=batch, now=now)
    if result.status == "accepted":
        _apply_waiting(conversation=message["conversation"], sender=message["from"]["body"], batch=batch)
    return result


def _again(earlier: InboundEnvelope, opened: Opened, *, recipient: NodeKeys, now: dt.datetime) -> Result:
    """A message id seen before: never applied twice. The same envelope gets the receipt it got the first time;
    another envelope of the same message (sealed again by its sender) gets a receipt of its own."""
    message_id = opened.message["id"]
    logger.info("message %s received again (%s)", message_id, earlier.state)
    if earlier.state == InboundState.WAITING:
        return Result(message_id, "waiting", earlier.reason)
    status = "duplicate" if earlier.state == InboundState.APPLIED else "rejected"
    reason = earlier.reason if status == "rejected" else None
    receipt = earlier.receipt
    if earlier.envelope_sha256 != opened.envelope_sha256:
        receipt = envelope.receipt(
            message_id=message_id,
            envelope_sha256=opened.envelope_sha256,
            status=status,
            received_at=now,
            node=recipient,
            reason=reason,
        )
    return Result(message_id, status, reason, receipt)


def _check(message: dict[str, Any], *, now: dt.datetime, batch: _Batch) -> None:
    """The receiver's checks 3–6 of EXCHANGE.md, those that need this node's registry; Rejected if one fails."""
    # 3. Addressed to a body served here, from a body the signing node serves.
    if message["to"]["node"] != node.this_node_id():
        raise Rejected(envelope.NOT_FOR_THIS_NODE, "the message is addressed to another node")
    recipient_body = batch.body(message["to"]["body"])
    if recipient_body is None or not node.is_local(recipient_body):
        raise Rejected(NOT_SERVED_HERE, "this node does not serve the receiving body")
    sender_body = batch.body(message["from"]["body"])
    serving = registry.node_of(sender_body) if sender_body is not None else None
    if sender_body is None or serving is None or serving.code != message["from"]["node"]:
        raise Rejected(NOT_SENDERS_BODY, "the directory does not list the sending body as served by the sending node")
    # 4. Not made in this node's future (beyond the clock difference tolerated between nodes).
    created_at = dt.datetime.fromisoformat(message["created_at"])
    if created_at > now + MAX_AHEAD:
        raise Rejected(FROM_THE_FUTURE, "the message was made more than 5 minutes ahead of this node's clock")
    # 6 (the part that does not depend on the kind's schema): a marking this node knows, a kind it applies.
    if is_state_secret(message["marking"]):
        raise Rejected(
            STATE_SECRET, "state secrets go only by the channels of the CSTO agreement of 18 June 2004 (P10.3)"
        )
    if message["marking"] not in Marking.values:
        raise Rejected(envelope.malformed("marking"), "the marking is not one this node knows")
    try:
        dispatch.handler_for(message["kind"])
    except LookupError:
        raise Rejected(UNKNOWN_KIND, "this node applies no message of this kind") from None
    # 5. Under an instrument in force between the two Parties, and (the Protocol) between designated bodies,
    # on the day the message was made in the depositary's calendar, as the sender checked when drafting.
    instrument = batch.instrument(message["instrument"]) if message["instrument"] else None
    if instrument is None:
        raise Rejected(UNKNOWN_INSTRUMENT, "the registry lists no such instrument")
    # Registry messages (P4.2, P4.3) go between a Party's body and the Secretariat's, which is neither a Party to
    # the instrument nor a designated body: they pass check 5 on their kind's own check (a refused notice says why).
    if message["kind"].startswith("registry."):
        from cybercoop.exchange import registry_messages  # above the inbox: its handler's module

        if registry_messages.is_secretariat_body(sender_body) or registry_messages.is_secretariat_body(recipient_body):
            registry_messages.check(message, sender_body=sender_body, recipient_body=recipient_body)
            return
    on = created_at.astimezone(zoneinfo.ZoneInfo(settings.DEPOSITARY_TIME_ZONE)).date()
    if not batch.in_force(instrument, sender_body.party, recipient_body.party, on):  # P16.2, P18
        raise Rejected(NOT_IN_FORCE, "the instrument is not in force between the two Parties on that day")
    if instrument.code == registry.PROTOCOL_CODE:
        for body in (sender_body, recipient_body):
            if not batch.designated(body, instrument, on):  # P4.2
                raise Rejected(NOT_DESIGNATED, f"{body.code} is not a designated competent body on that day")


def _apply(row: InboundEnvelope, *, batch: _Batch, now: dt.datetime) -> Result:
    """Check 7's order and chain, then check 8: store and apply the message with its receipt, or hold it."""
    message = row.content
    assert message is not None  # only opened envelopes are applied
    sender_body = batch.body(message["from"]["body"])
    recipient_body = batch.body(message["to"]["body"])
    previous = (
        Message.objects.filter(conversation=message["conversation"], sender_body=sender_body).order_by("-seq").first()
    )
    expected = previous.seq + 1 if previous is not None else 1
    if message["seq"] > expected:
        return _hold(row, waiting_for(expected))
    if message["seq"] < expected or message["prev"] != (previous.hash if previous is not None else None):
        return _reject(
            row,
            BROKEN_CHAIN,
            detail=f"seq {message['seq']} does not follow the stored message {expected - 1} of its sender",
            batch=batch,
            now=now,
        )
    # Never applied without its files: each whole here, from its sender, with its manifest's SHA-256 and size.
    files = attachments.take_files(message, sender_node=row.sender_node)
    if files is None:
        return _hold(row, WAITING_FOR_ATTACHMENTS)
    try:
        with transaction.atomic():
            services.receive(
                message=wire.from_wire(message, sender_body=sender_body, recipient_body=recipient_body),
                attachments=files,
            )
    except OperationalError:
        raise  # the database, not the message: the whole envelope is retried
    except Exception as error:
        logger.exception("message %s could not be applied", row.message_id)
        return _reject(row, NOT_APPLIED, detail=type(error).__name__, batch=batch, now=now)
    row.state = InboundState.APPLIED
    row.reason = ""
    row.applied_at = now
    row.receipt = envelope.receipt(
        message_id=str(row.message_id),
        envelope_sha256=row.envelope_sha256,
        status="accepted",
        received_at=row.received_at,
        node=batch.recipient,
    )
    row.save(update_fields=["state", "reason", "applied_at", "receipt"])
    return Result(str(row.message_id), "accepted", receipt=row.receipt)


def _apply_waiting(*, conversation: str, sender: str, batch: _Batch) -> None:
    """After a message of `sender` applied, apply its held successors in seq order, as far as they go."""
    if not InboundEnvelope.objects.filter(conversation=conversation, state=InboundState.WAITING).exists():
        return  # the common case: nothing of this conversation is held
    sender_body = batch.body(sender)
    while True:
        last = Message.objects.filter(conversation=conversation, sender_body=sender_body).order_by("-seq").first()
        if last is None:
            return
        candidates = InboundEnvelope.objects.filter(
            conversation=conversation, state=InboundState.WAITING, seq=last.seq + 1
        ).order_by("pk")
        row = next((c for c in candidates if c.content and c.content["from"]["body"] == sender), None)
        if row is None:
            return
        batch.seen[str(row.message_id)] = row  # a later envelope of this batch may carry it again
        if _apply(row, batch=batch, now=clock.now()).status != "accepted":
            return


def _hold(row: InboundEnvelope, reason: str) -> Result:
    row.state = InboundState.WAITING
    row.reason = reason
    row.save()
    logger.info("message %s held: %s", row.message_id, reason)
    return Result(str(row.message_id), "waiting", reason)


def _reject(row: InboundEnvelope, reason: str, *, detail: str, batch: _Batch, now: dt.datetime) -> Result:
    """Refuse an opened envelope for good: the row keeps the reason and the signed receipt that says so."""
    row.state = InboundState.REJECTED
    row.reason = reason[:200]
    row.receipt = envelope.receipt(
        message_id=str(row.message_id),
        envelope_sha256=row.envelope_sha256,
        status="rejected",
        received_at=now,
        node=batch.recipient,
        reason=row.reason,
    )
    row.save()
    _record_rejection(row, detail=detail, batch=batch)
    return Result(str(row.message_id), "rejected", row.reason, row.receipt)


def _record_rejection(row: InboundEnvelope, *, detail: str, batch: _Batch) -> None:
    """Every rejection is logged and audited here; the sender learns it from the signed receipt."""
    content = row.content or {}
    to_body = batch.body(content["to"]["body"]) if content else None
    logger.warning(
        "rejected envelope %s (message %s from node %r): %s (%s)",
        row.envelope_sha256[:12],
        row.message_id,
        row.sender_node,
        row.reason,
        detail,
    )
    audit.record(
        action=AuditAction.ENVELOPE_REJECTED,
        body=to_body if to_body is not None and node.is_local(to_body) else None,
        target=row,
        data={
            "reason": row.reason,
            "detail": detail[:300],
            "sender_node": row.sender_node,
            "message_id": str(row.message_id) if row.message_id else None,
            "kind": content.get("kind"),
            "envelope_sha256": row.envelope_sha256,
        },
    )


def _lock_conversations(conversations: set[str]) -> None:
    """Take a conversation's envelopes one at a time across all web workers, until this transaction ends:
    transaction-scoped advisory locks on PostgreSQL, taken in one order (the keys sorted) so that two
    batches never wait for each other in a circle; SQLite's write transactions (IMMEDIATE) are serial."""
    if connection.vendor != "postgresql" or not conversations:
        return
    keys = sorted({int.from_bytes(uuid.UUID(c).bytes[:8], "big", signed=True) for c in conversations})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k) AS sorted",
            [keys],
        )
