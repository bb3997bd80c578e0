"""Storing messages and attachments, applying them, and handing them to their transport."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.core.errors import DomainError, InvalidInput, RuleViolation
from cybercoop.core.files import stored_before, stored_files
from cybercoop.core.keyring import Rotation, reseal_rows
from cybercoop.core.permissions import Permission, require
from cybercoop.exchange import at_rest, dispatch, rules, transports
from cybercoop.exchange.models import Attachment, Message, OutboxItem, OutboxState

logger = logging.getLogger(__name__)


def check_upload(*, upload: UploadedFile[bytes], field: str = "attachments") -> tuple[bytes, str, str]:
    """An uploaded file's content, safe name and media type, or a field error: type checked by content,
    size capped, name sanitised. Nothing is stored."""
    name = rules.safe_file_name(upload.name or "")
    if upload.size is None or upload.size > rules.MAX_ATTACHMENT_BYTES:
        raise InvalidInput(
            _("The file could not be attached."),
            errors={field: [_("“%(name)s” is larger than 25 MB.") % {"name": name}]},
        )
    upload.seek(0)
    content = upload.read()
    upload.seek(0)
    media_type = rules.sniff_media_type(content[:512], name)
    if media_type is None:
        raise InvalidInput(
            _("The file could not be attached."),
            errors={
                field: [
                    _("“%(name)s” is not an accepted type (PDF, PNG, JPEG, text, ZIP, DOCX, XLSX).") % {"name": name}
                ]
            },
        )
    return content, name, media_type


@transaction.atomic
def store_attachment(*, upload: UploadedFile[bytes], actor: Any, field: str = "attachments") -> Attachment:
    """Keep an uploaded file for a message to come (see `check_upload`), encrypted at rest (P10.1, `at_rest`)."""
    content, name, media_type = check_upload(upload=upload, field=field)
    attachment = Attachment(
        name=name,
        media_type=media_type,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=actor,
        uploaded_at=clock.now(),
    )
    at_rest.store_file(attachment, content)
    attachment.save()
    return attachment


# A file with no attachment row is left when the transaction that stored it rolled back (an act refused after its
# files were sealed, a lost connection). None lasts an hour: older ones are removed, once an hour at most.
ORPHAN_GRACE_SECONDS = 3600.0
ATTACHMENTS_FOLDER = "attachments"  # the attachments' `upload_to`, without its dated folders
ORPHAN_SWEEP_EVERY_SECONDS = 3600.0


def sweep_orphan_files(*, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> list[str]:
    """Remove the sealed files under the attachments' folder that no attachment names and that are older than
    `grace_seconds` (so not those of a store still in its transaction); returns their names, recorded in the audit
    log when there are any. They hold only ciphertext, but a refused act should leave nothing behind."""
    storage = Attachment._meta.get_field("file").storage
    known = set(Attachment.objects.values_list("file", flat=True))
    removed = []
    for name in stored_files(storage, ATTACHMENTS_FOLDER):
        if name in known or not stored_before(storage, name, seconds_ago=grace_seconds):
            continue
        if Attachment.objects.filter(file=name).exists():  # stored since the list was read
            continue
        storage.delete(name)
        removed.append(name)
    if removed:
        logger.info("removed %d attachment file(s) that no attachment names", len(removed))
        audit.record(
            action=AuditAction.ATTACHMENT_ORPHANS_REMOVED, data={"count": len(removed), "files": removed[:100]}
        )
    return removed


# --- the attachments key: rotation (`cybercoop keys attachments …`, docs/security-at-rest.md) ------------------------


def _rewrap_attachments(keys: dict[str, bytes], current: str, batch: int) -> tuple[int, list[str]]:
    """Re-wrap under the key `current` the data key of every attachment under another one; no file is touched."""

    def rewrap(row: Attachment) -> None:
        row.wrapped_key, row.key_id = at_rest.rewrapped(row, keys=keys, to=current)  # AttachmentUnreadable: logged
        row.save(update_fields=["wrapped_key", "key_id"])

    rows = Attachment.objects.exclude(key_id="").exclude(key_id=current)
    return reseal_rows(rows, rewrap, unreadable=at_rest.AttachmentUnreadable, batch=batch)


def attachments_by_key() -> dict[str, int]:
    """How many attachments each key id holds ("" for those stored before encryption at rest)."""
    return dict(Attachment.objects.values_list("key_id").annotate(n=Count("pk")).order_by())


ROTATION = Rotation(
    key=at_rest.KEY,
    reseal=_rewrap_attachments,
    in_use=attachments_by_key,
    record=audit.key_steps(
        rotated=AuditAction.ATTACHMENTS_KEY_ROTATED,
        rewrapped=AuditAction.ATTACHMENTS_REWRAPPED,
        retired=AuditAction.ATTACHMENTS_KEYS_RETIRED,
    ),
)


def sweep_orphan_files_job() -> int:
    """The worker's `exchange.sweep_orphan_files`: `sweep_orphan_files` once an hour at most. When it last ran is
    the time of a file in the data folder (a restarted worker or a second one does not sweep again at once)."""
    marker = Path(settings.DATA_DIR) / "attachments-swept"
    try:
        if time.time() - marker.stat().st_mtime < ORPHAN_SWEEP_EVERY_SECONDS:
            return 0
    except FileNotFoundError:
        marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return len(sweep_orphan_files())


@transaction.atomic
def send(
    *,
    conversation: uuid.UUID,
    kind: str,
    sender_body: Any,
    recipient_body: Any,
    sender_user: Any,
    instrument: str,
    marking: str,
    purposes: Sequence[str],
    conditions: Sequence[str],
    body: dict[str, Any],
    attachments: Sequence[Attachment] = (),
) -> Message:
    """Store a message from `sender_body`, apply it on this node, and hand it to its transport.

    The caller holds the lock on whatever the conversation belongs to (the case row), so numbering here
    cannot race. Each side numbers only its own messages (`seq`, `prev`): order and conflicts are never
    settled by wall-clock time.
    """
    if not transports.serves(sender_body):
        # The directory says another node speaks for this body (or none does): its messages cannot leave here.
        raise RuleViolation(
            "P4.1",
            _("This node does not serve the sending body: the directory assigns it to another node, or to none."),
        )
    previous = Message.objects.filter(conversation=conversation, sender_body=sender_body).order_by("-seq").first()
    position = Message.objects.filter(conversation=conversation).count() + 1
    manifests = []
    for index, attachment in enumerate(attachments):
        attachment.position = index
        manifests.append(attachment.manifest())
    transport = transports.for_recipient(recipient_body)
    message = Message(
        conversation=conversation,
        kind=kind,
        sender_body=sender_body,
        recipient_body=recipient_body,
        sender_user=sender_user,
        seq=previous.seq + 1 if previous else 1,
        prev_hash=previous.hash if previous else "",
        position=position,
        created_at=clock.now(),
        instrument=instrument,
        marking=marking,
        purposes=list(purposes),
        conditions=list(conditions),
        body=body,
        transport=transport.name,
    )
    message.hash = rules.message_digest(message.hashed_fields(attachments=manifests))
    message.save(force_insert=True)
    for attachment in attachments:
        attachment.message = message
        attachment.save(update_fields=["message", "position"])
    audit.record(
        action=AuditAction.MESSAGE_SENT,
        actor=sender_user,
        body=sender_body,
        target=message,
        data={
            "kind": kind,
            "conversation": str(conversation),
            "seq": message.seq,
            "to": recipient_body.code,
            "attachments": len(manifests),
        },
    )
    dispatch.handler_for(kind)(message)
    transport.deliver(message)
    return message


@transaction.atomic
def receive(*, message: Message, attachments: Sequence[Attachment] = ()) -> Message:
    """Store a message that arrived from another node, exactly as its sender made it, and apply it here (P4.1).

    The federation inbox calls this once its checks pass, holding the conversation's inbox lock; `message`
    comes from `federation.wire.from_wire`, with the sender's id, numbering and hash; `attachments` are its
    files, unsaved rows in the order of its manifest (`federation.attachments.take_files`)."""
    message.transport = "federation"
    message.sender_user = None
    # A local `send` in the same conversation holds the case's lock, not the inbox's, so both may reach for
    # the same position at once: the loser of that race takes the next one.
    for attempt in range(3):
        message.position = Message.objects.filter(conversation=message.conversation).count() + 1
        try:
            with transaction.atomic():
                message.save(force_insert=True)
        except IntegrityError:
            if attempt == 2:
                raise
        else:
            break
    for position, attachment in enumerate(attachments):
        attachment.message = message
        attachment.position = position
        attachment.save(force_insert=True)  # the sender's id: never an update of a row that has it already
    # Applied first, recorded after: the handler locks what it changes (a case) before it appends to the audit chain,
    # the order every local act takes (the case, then the chain's head). The other order deadlocked on PostgreSQL
    # against a user acting on the same case while the worker applied an arriving message.
    dispatch.handler_for(message.kind)(message)
    audit.record(
        action=AuditAction.MESSAGE_RECEIVED,
        body=message.recipient_body,
        target=message,
        data={
            "kind": message.kind,
            "conversation": str(message.conversation),
            "seq": message.seq,
            "from": message.sender_body.code,
        },
    )
    return message


# What "retry now" applies to: a failure waiting for its backoff, or an envelope sent without a receipt yet (held
# by the receiving node, or a worker's lease running). Queued ones are due already; the others are final.
RETRYABLE_STATES = (OutboxState.FAILED, OutboxState.SENT)


@transaction.atomic
def retry_delivery(*, item: OutboxItem, actor: Any) -> OutboxItem:
    """Make an outgoing envelope due now instead of after its backoff: the worker's next pass posts it again.

    Safe even while a worker holds it: the receiver answers a second copy with its first answer, and only the
    latest claim's answer is recorded (docs/federation.md, The sender)."""
    require(actor, Permission.RETRY_DELIVERY)
    # Lock the row: the worker claims and records under the same lock.
    current = (
        OutboxItem.objects.select_for_update(no_key=True, of=("self",))
        .select_related("message__sender_body")
        .get(pk=item.pk)
    )
    if current.state not in RETRYABLE_STATES:
        raise DomainError(_("Only a failed envelope, or one sent without a receipt yet, can be retried now."))
    now = clock.now()
    current.next_attempt_at = now
    current.updated_at = now
    current.save(update_fields=["next_attempt_at", "updated_at"])
    audit.record(
        action=AuditAction.DELIVERY_RETRY_REQUESTED,
        actor=actor,
        body=current.message.sender_body,
        target=current.message,
        data={"peer": current.peer, "state": current.state, "attempts": current.attempts},
    )
    return current
