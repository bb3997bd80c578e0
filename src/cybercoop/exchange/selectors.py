"""Reads of the exchange."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.fields.json import KT

from cybercoop.audit.models import AuditEntry
from cybercoop.audit.rules import AuditAction
from cybercoop.core.permissions import Permission, require
from cybercoop.exchange.models import Attachment, InboundEnvelope, InboundState, Message, OutboxItem, OutboxState
from cybercoop.registry.models import Body


def conversation(*, conversation_id: uuid.UUID) -> QuerySet[Message]:
    """A conversation's messages in the order this node applied them, with senders and attachments."""
    return (
        Message.objects.filter(conversation=conversation_id)
        .select_related("sender_body", "recipient_body", "sender_user")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("position")))
        .order_by("position")
    )


def deliveries(*, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, OutboxItem]:
    """How the messages this node sent to other nodes stand (one query, without the envelopes): by message id;
    a message that went by the local transport, or arrived here, has none."""
    rows = OutboxItem.objects.filter(message_id__in=message_ids).defer("envelope", "receipt")
    return {row.message_id: row for row in rows}


def attachment(*, attachment_id: uuid.UUID, conversation_id: uuid.UUID) -> Attachment | None:
    """An attachment of a message of that conversation, or None."""
    return (
        Attachment.objects.select_related("message")
        .filter(pk=attachment_id, message__conversation=conversation_id)
        .first()
    )


# --- the node administrator's screens of deliveries to and from other nodes (docs/federation.md, Screens) ---


@dataclass(frozen=True)
class DeliveryFilter:
    """The filters of the delivery screens, both optional: a state and the other node's code."""

    state: str = ""
    node: str = ""


# What the lists never read: the envelopes (up to a megabyte each), the signed receipts, and the messages' content.
_OUTGOING_UNREAD = ("envelope", "receipt", "message__body", "message__purposes", "message__conditions")
_INCOMING_UNREAD = ("envelope", "signed_message", "content", "receipt")


def _party_scope(viewer: Any) -> int | None:
    """The Party whose deliveries `viewer` sees, or None for every delivery of this node.

    As in the audit log: a node serves one Party, so its registrar sees the whole node; the Secretariat's node
    also serves the Parties without a node of their own, and the Secretariat, which keeps the directory, sees
    them all there, while another Party's registrar on it sees only its own Party's."""
    require(viewer, Permission.VIEW_DELIVERIES)
    return None if viewer.has_perm(Permission.MANAGE_NODES) else int(viewer.body.party_id)


def _outgoing_scope(viewer: Any) -> QuerySet[OutboxItem]:
    party = _party_scope(viewer)
    items = OutboxItem.objects.all()
    return items if party is None else items.filter(message__sender_body__party_id=party)


def outgoing(*, viewer: Any, filters: DeliveryFilter | None = None) -> QuerySet[OutboxItem]:
    """The envelopes this node sends to others that `viewer` may see, newest first: metadata, never content."""
    f = filters or DeliveryFilter()
    items = _outgoing_scope(viewer)
    if f.state:
        items = items.filter(state=f.state)
    if f.node:
        items = items.filter(peer=f.node)
    return (
        items.select_related("message__sender_body", "message__recipient_body").defer(*_OUTGOING_UNREAD).order_by("-pk")
    )


def outgoing_counts(*, viewer: Any) -> dict[str, int]:
    """How many of the envelopes `viewer` may see are in each state (every state, zero included)."""
    counts = {state.value: 0 for state in OutboxState}
    for row in _outgoing_scope(viewer).values("state").annotate(n=Count("pk")).order_by():
        counts[row["state"]] = row["n"]
    return counts


def get_outgoing(*, viewer: Any, item_id: int) -> OutboxItem | None:
    """One outgoing envelope `viewer` may see, with its receipt (not the envelope itself), or None."""
    return (
        _outgoing_scope(viewer)
        .select_related("message__sender_body", "message__recipient_body")
        .defer("envelope", "message__body", "message__purposes", "message__conditions")
        .filter(pk=item_id)
        .first()
    )


_DELIVERY_ACTIONS = (AuditAction.MESSAGE_SENT, AuditAction.DELIVERY_REJECTED, AuditAction.DELIVERY_RETRY_REQUESTED)


def delivery_history(*, message_id: uuid.UUID) -> QuerySet[AuditEntry]:
    """The audit log's entries on a message's sending and delivery, oldest first: when it was sent, rejected
    by the receiving node, or retried at once by an administrator."""
    return AuditEntry.objects.filter(
        object_type=Message._meta.label_lower, object_id=str(message_id), action__in=_DELIVERY_ACTIONS
    ).order_by("seq")


def _incoming_scope(viewer: Any) -> QuerySet[InboundEnvelope]:
    party = _party_scope(viewer)
    rows = InboundEnvelope.objects.all()
    if party is None:
        return rows
    # An envelope that never opened is addressed to no one known: the whole node's, as a body-less audit entry is.
    codes = list(Body.objects.filter(party_id=party).values_list("code", flat=True))
    return rows.filter(Q(content__isnull=True) | Q(content__to__body__in=codes))


def incoming(*, viewer: Any, filters: DeliveryFilter | None = None) -> QuerySet[InboundEnvelope]:
    """The envelopes other nodes sent here that `viewer` may see, newest first, with the kind and the two bodies
    read out of the stored message; its content is never read."""
    f = filters or DeliveryFilter()
    rows = _incoming_scope(viewer)
    if f.state:
        rows = rows.filter(state=f.state)
    if f.node:
        rows = rows.filter(sender_node=f.node)
    return (
        rows.annotate(kind=KT("content__kind"), from_body=KT("content__from__body"), to_body=KT("content__to__body"))
        .defer(*_INCOMING_UNREAD)
        .order_by("-pk")
    )


def incoming_counts(*, viewer: Any) -> dict[str, int]:
    """How many of the incoming envelopes `viewer` may see are in each state (every state, zero included)."""
    counts = {state.value: 0 for state in InboundState}
    for row in _incoming_scope(viewer).values("state").annotate(n=Count("pk")).order_by():
        counts[row["state"]] = row["n"]
    return counts
