"""A stored message as it travels between nodes (EXCHANGE.md, Message), and back.

The hash a node keeps for a message (`Message.hash`, which the sender's next message names as `prev`) is
computed from the same fields on both sides: by the sender when it stores the message, by the receiver from
the wire form it was sent. `from_wire` therefore rebuilds exactly what `Message.hashed_fields` covers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cybercoop.exchange import rules
from cybercoop.exchange.federation.node import node_code, this_node_id
from cybercoop.exchange.models import Message


def timestamp(value: dt.datetime) -> str:
    """RFC 3339 in UTC with microseconds: the form `rules.message_digest` hashes a datetime in."""
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def to_wire(message: Message, *, attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The version 1 wire form of a stored message; `attachments` are its manifests (read from it if None)."""
    manifests = (
        attachments if attachments is not None else [a.manifest() for a in message.attachments.order_by("position")]
    )
    return {
        "v": rules.PROTOCOL_VERSION,
        "id": str(message.id),
        "conversation": str(message.conversation),
        "kind": message.kind,
        "from": {"node": this_node_id(), "body": message.sender_body.code},  # the sender is always this node
        "to": {"node": node_code(message.recipient_body), "body": message.recipient_body.code},
        "seq": message.seq,
        "prev": message.prev_hash or None,
        "created_at": timestamp(message.created_at),
        "instrument": message.instrument,
        "marking": message.marking,
        "purposes": list(message.purposes),
        "conditions": list(message.conditions),
        "body": message.body,
        "attachments": manifests,
    }


def from_wire(data: dict[str, Any], *, sender_body: Any, recipient_body: Any) -> Message:
    """An unsaved Message for a checked wire message (`envelope.check_message`), with its hash computed as the
    sender computed it. The bodies are the registry's rows for `from.body` and `to.body`; `position` and
    `transport` are this node's to set when it stores the message."""
    message = Message(
        id=uuid.UUID(data["id"]),
        conversation=uuid.UUID(data["conversation"]),
        kind=data["kind"],
        sender_body=sender_body,
        recipient_body=recipient_body,
        sender_user=None,
        seq=data["seq"],
        prev_hash=data["prev"] or "",
        created_at=dt.datetime.fromisoformat(data["created_at"]).astimezone(dt.UTC),
        instrument=data["instrument"],
        marking=data["marking"],
        purposes=list(data["purposes"]),
        conditions=list(data["conditions"]),
        body=data["body"],
    )
    message.hash = rules.message_digest(message.hashed_fields(attachments=list(data["attachments"])))
    return message
