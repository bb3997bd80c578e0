"""Reads of the audit log, limited to what the viewer may see."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from cybercoop.audit import rules
from cybercoop.audit.models import AuditEntry, AuditHead
from cybercoop.core.permissions import Permission, require


@dataclass(frozen=True)
class EntryFilter:
    """The filters of the audit log screen and API, all optional."""

    action: str = ""
    actor: str = ""
    body: str = ""  # a body's code
    object_type: str = ""
    object_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def visible_entries(*, viewer: Any, filters: EntryFilter | None = None) -> QuerySet[AuditEntry]:
    """The entries an auditor may read: those of the bodies of the auditor's Party, and node-wide ones.

    On a production node every body belongs to one Party, so this is the node's whole log; on a demo
    node hosting several Parties, each Party's auditor sees only its own.
    """
    require(viewer, Permission.VIEW_AUDIT_LOG)
    entries = AuditEntry.objects.filter(Q(body__isnull=True) | Q(body__party_id=viewer.body.party_id))
    f = filters or EntryFilter()
    if f.action:
        entries = entries.filter(action=f.action)
    if f.actor:
        entries = entries.filter(actor_label__iexact=f.actor)
    if f.body:
        entries = entries.filter(body_label__iexact=f.body)
    if f.object_type:
        entries = entries.filter(object_type=f.object_type)
    if f.object_id:
        entries = entries.filter(object_id=f.object_id)
    if f.since is not None:
        entries = entries.filter(at__gte=f.since)
    if f.until is not None:
        entries = entries.filter(at__lt=f.until)
    return entries.select_related("body").order_by("-seq")


def chain_entries() -> Iterator[rules.ChainEntry]:
    """Every entry in chain order, streamed, as the chain check takes them."""
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=2000):
        yield rules.ChainEntry(seq=entry.seq, prev_hash=entry.prev_hash, hash=entry.hash, fields=entry.hashed_fields())


def head() -> tuple[int, str] | None:
    """The (last seq, last hash) recorded by the last append, or None before the first."""
    row = AuditHead.objects.filter(pk=1).first()
    return None if row is None else (row.last_seq, row.last_hash)
