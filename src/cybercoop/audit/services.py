"""The only code that writes the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models, transaction

from cybercoop.audit import rules, selectors
from cybercoop.audit.models import AuditEntry, AuditHead
from cybercoop.core import clock
from cybercoop.core.context import get_request_id

Target = models.Model | tuple[str, str] | None


def _storable(value: Any) -> Any:
    """JSON any database keeps: PostgreSQL refuses NUL characters, so they become U+FFFD (visibly)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def describe(target: Target) -> tuple[str, str]:
    """The (type, id) an entry or an archived document stores for `target`: e.g. ("registry.instrument", "7")."""
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        return target
    return target._meta.label_lower, str(target.pk)


def lock_log() -> AuditHead:
    """Take the lock every append takes (the head's row), held until the caller's transaction ends.

    The archive takes it too, before it writes a file, so that a sweep of files without a record, which takes it
    as well, never removes the file of a document whose record is not committed yet."""
    head, _ = AuditHead.objects.select_for_update(no_key=True).get_or_create(pk=1)
    return head


@transaction.atomic
def record(
    *,
    action: rules.AuditAction,
    actor: Any = None,
    body: Any = None,
    target: Target = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction.

    `actor` is the user who acted (None for the system), `body` defaults to the actor's body, `target`
    is the object acted on (a model instance or a (type, id) pair). `data` holds metadata only, never
    the content of a case, since auditors see metadata, not content.
    """
    # Lock the head: two requests may append at once, and the chain must not fork.
    head = lock_log()
    if body is None and actor is not None:
        body = getattr(actor, "body", None)
    object_type, object_id = describe(target)
    entry = AuditEntry(
        seq=head.last_seq + 1,
        # Stored to the microsecond by both databases; the hash is computed over the stored value.
        at=clock.now(),
        actor=actor,
        actor_label=getattr(actor, "username", "") if actor is not None else "",
        body=body,
        body_label=getattr(body, "code", "") if body is not None else "",
        action=str(action),
        object_type=object_type,
        object_id=_storable(object_id)[:64],
        data=_storable(data or {}),
        request_id=get_request_id(),
        prev_hash=head.last_hash,
    )
    entry.hash = rules.entry_digest(entry.hashed_fields())
    entry.save(force_insert=True)
    head.last_seq, head.last_hash = entry.seq, entry.hash
    head.save(update_fields=["last_seq", "last_hash"])
    return entry


def key_steps(
    *, rotated: rules.AuditAction, rewrapped: rules.AuditAction, retired: rules.AuditAction
) -> Callable[[str, Any, dict[str, Any]], None]:
    """The audit log's side of a node key's rotation (`core.keyring.Rotation.record`): each step recorded as its
    action, in the system's name unless an actor is given; the data holds key ids and counts, never a key."""
    actions = {"rotated": rotated, "rewrapped": rewrapped, "retired": retired}

    def record_step(step: str, actor: Any, data: dict[str, Any]) -> None:
        record(action=actions[step], actor=actor, data=data)

    return record_step


def verify_chain(*, actor: Any = None) -> rules.ChainReport:
    """Walk the whole chain (`cybercoop audit verify`); record the check when a person asked for it."""
    report = rules.check_chain(selectors.chain_entries(), selectors.head())
    if actor is not None:
        record(
            action=rules.AuditAction.CHAIN_VERIFIED,
            actor=actor,
            data={"ok": report.ok, "checked": report.checked, "problem_seq": report.seq},
        )
    return report
