"""Reads of the exchange."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from cybercoop.exchange.models import Attachment, Message


def conversation(*, conversation_id: uuid.UUID) -> QuerySet[Message]:
    """A conversation's messages in the order this node applied them, with senders and attachments."""
    return (
        Message.objects.filter(conversation=conversation_id)
        .select_related("sender_body", "recipient_body", "sender_user")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("position")))
        .order_by("position")
    )


def attachment(*, attachment_id: uuid.UUID, conversation_id: uuid.UUID) -> Attachment | None:
    """An attachment of a message of that conversation, or None."""
    return (
        Attachment.objects.select_related("message")
        .filter(pk=attachment_id, message__conversation=conversation_id)
        .first()
    )
