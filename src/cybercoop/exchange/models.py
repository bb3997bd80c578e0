"""Messages between competent bodies, and their attachments."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from cybercoop.core.append_only import AppendOnlyModel
from cybercoop.exchange import rules


class Message(AppendOnlyModel):
    """One act between two bodies in a conversation (a case is a conversation): a request, a receipt,
    a refusal, results … Never changed once stored; the conversation's state is derived from its messages."""

    id = models.UUIDField(_("message id"), primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.UUIDField(_("conversation"), db_index=True)
    kind = models.CharField(_("kind"), max_length=64)
    sender_body = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("sending body")
    )
    recipient_body = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="+", verbose_name=_("receiving body")
    )
    sender_user = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("sent by")
    )
    seq = models.PositiveIntegerField(_("sender's number in the conversation"))
    position = models.PositiveIntegerField(_("order of application on this node"))
    prev_hash = models.CharField(_("hash of the sender's previous message"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"))
    instrument = models.CharField(_("legal basis"), max_length=64)
    marking = models.CharField(_("marking"), max_length=16, choices=rules.Marking.choices)
    purposes = models.JSONField(_("permitted purposes"), default=list)
    conditions = models.JSONField(_("accepted conditions"), default=list)
    body = models.JSONField(_("content"), default=dict)
    hash = models.CharField(_("hash"), max_length=64)
    transport = models.CharField(_("transport"), max_length=16, default="local")

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["conversation", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "sender_body", "seq"], name="exchange_message_seq_per_sender"
            ),
            models.UniqueConstraint(fields=["conversation", "position"], name="exchange_message_position"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq}"

    def hashed_fields(self, attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """What the message's hash covers: everything but how this node ordered and carried it."""
        return {
            "v": rules.PROTOCOL_VERSION,
            "id": str(self.id),
            "conversation": str(self.conversation),
            "kind": self.kind,
            "from": self.sender_body.code,
            "to": self.recipient_body.code,
            "seq": self.seq,
            "prev": self.prev_hash or None,
            "created_at": self.created_at,
            "instrument": self.instrument,
            "marking": self.marking,
            "purposes": self.purposes,
            "conditions": self.conditions,
            "body": self.body,
            "attachments": attachments
            if attachments is not None
            else [a.manifest() for a in self.attachments.order_by("position")],
        }


class Attachment(models.Model):
    """A file sent with a message, referenced by its SHA-256; content-checked, size-limited, name sanitised."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(
        Message, on_delete=models.PROTECT, null=True, blank=True, related_name="attachments", verbose_name=_("message")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    name = models.CharField(_("file name"), max_length=120)
    media_type = models.CharField(_("type"), max_length=100)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    file = models.FileField(_("file"), upload_to="attachments/%Y/%m/")
    # Encryption at rest (`at_rest`): the file's data key, wrapped by the node's attachments key of this id. Both
    # empty for a file stored before encryption at rest, read as it is. Database defaults, so rows loaded in bulk
    # (bench) need not name them.
    key_id = models.CharField(_("attachments key id"), max_length=16, blank=True, default="", db_default="")
    wrapped_key = models.BinaryField(_("data key (wrapped)"), blank=True, default=b"", db_default=b"", editable=False)
    uploaded_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded"))

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["position", "uploaded_at"]

    def __str__(self) -> str:
        return self.name

    def manifest(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "media_type": self.media_type,
            "size": self.size_bytes,
            "sha256": self.sha256,
        }


# --- the federation: what leaves this node and what arrives (docs/federation.md) ---------------------------


class OutboxState(models.TextChoices):
    """Where a message to another node stands. One state per message, never a cursor per peer."""

    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent, no receipt yet")
    RECEIPTED = "receipted", _("Receipted")
    FAILED = "failed", _("Failed, will be retried")
    REJECTED = "rejected", _("Rejected by the receiving node")


class OutboxItem(models.Model):
    """A message on its way to the node serving its recipient: the sealed envelope, written in the transaction
    that stored the message, and its delivery's progress up to the receiving node's signed receipt."""

    message = models.OneToOneField(
        Message, on_delete=models.PROTECT, related_name="outbox_item", verbose_name=_("message")
    )
    peer = models.CharField(_("receiving node"), max_length=100)
    envelope = models.TextField(_("envelope"))
    envelope_sha256 = models.CharField(_("SHA-256 of the envelope"), max_length=64)
    state = models.CharField(_("state"), max_length=16, choices=OutboxState.choices, default=OutboxState.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    last_error = models.TextField(_("last error"), blank=True)
    reason = models.CharField(_("reason for rejection"), max_length=200, blank=True)
    receipt = models.TextField(_("receipt"), blank=True)
    receipted_at = models.DateTimeField(_("receipted"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        verbose_name = _("outgoing envelope")
        verbose_name_plural = _("outgoing envelopes")
        ordering = ["pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="exchange_outbox_due")]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.peer} ({self.state})"


class InboundState(models.TextChoices):
    """What became of an envelope that arrived from another node."""

    APPLIED = "applied", _("Applied")
    WAITING = "waiting", _("Waiting for an earlier message")
    REJECTED = "rejected", _("Rejected")


class InboundEnvelope(models.Model):
    """An envelope received from another node, whatever became of it: applied (with the receipt this node
    signed), waiting for an earlier message of its sender, or rejected with the reason sent back."""

    message_id = models.UUIDField(_("message id"), unique=True, null=True, blank=True)
    sender_node = models.CharField(_("sending node"), max_length=100, blank=True)
    conversation = models.UUIDField(_("conversation"), null=True, blank=True)
    seq = models.PositiveIntegerField(_("sender's number in the conversation"), null=True, blank=True)
    envelope = models.TextField(_("envelope"))
    envelope_sha256 = models.CharField(_("SHA-256 of the envelope"), max_length=64, db_index=True)
    # The sender's signed message (JWS) and its content, kept as proof and to apply a waiting one later.
    signed_message = models.TextField(_("signed message"), blank=True)
    content = models.JSONField(_("message as received"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=InboundState.choices)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    receipt = models.TextField(_("receipt"), blank=True)
    received_at = models.DateTimeField(_("received"))
    applied_at = models.DateTimeField(_("applied"), null=True, blank=True)

    class Meta:
        verbose_name = _("incoming envelope")
        verbose_name_plural = _("incoming envelopes")
        ordering = ["pk"]
        indexes = [models.Index(fields=["conversation", "state"], name="exchange_inbound_waiting")]

    def __str__(self) -> str:
        return f"{self.message_id or self.envelope_sha256[:12]} ({self.state})"
