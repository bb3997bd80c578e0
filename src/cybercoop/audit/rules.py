"""Pure rules of the audit chain: what an entry's hash covers, and how a chain is checked.

Each entry's hash is SHA-256 over the RFC 8785 canonical JSON of its fields, including the hash of the
entry before it; changing, removing or moving any entry breaks the chain from that point on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import rfc8785
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class AuditAction(StrEnum):
    """Every audited action, as `domain:subject:verb` (after warehouse/events/tags.py)."""

    USER_CREATED = "accounts:user:created"
    USER_LANGUAGE_CHANGED = "accounts:user:language_changed"
    SIGNED_IN = "accounts:session:signed_in"
    SIGNED_OUT = "accounts:session:signed_out"
    SIGN_IN_FAILED = "accounts:session:sign_in_failed"
    LOCKED_OUT = "accounts:session:locked_out"
    API_TOKEN_ISSUED = "accounts:api_token:issued"  # noqa: S105 - an action name, not a secret
    API_TOKEN_REVOKED = "accounts:api_token:revoked"  # noqa: S105 - an action name, not a secret
    NOTIFICATION_SENT = "accounts:notification:sent"
    LOG_VIEWED = "audit:log:viewed"
    CHAIN_VERIFIED = "audit:chain:verified"
    DOCUMENT_ARCHIVED = "audit:document:archived"
    ARCHIVE_ORPHANS_REMOVED = "audit:archive:orphans_removed"
    PARTY_CREATED = "registry:party:created"
    BODY_CREATED = "registry:body:created"
    INSTRUMENT_CREATED = "registry:instrument:created"
    INSTRUMENT_EVENT_RECORDED = "registry:instrument:event_recorded"
    ORIGINAL_STORED = "registry:instrument:original_stored"
    CERTIFIED_COPY_RECORDED = "registry:certified_copy:recorded"
    DESIGNATION_FILED = "registry:designation:filed"
    DESIGNATION_ANNOUNCED = "registry:designation:announced"
    DESIGNATION_ACKNOWLEDGED = "registry:designation:acknowledged"
    PARTY_PROFILE_UPDATED = "registry:party_profile:updated"
    NODE_REGISTERED = "registry:node:registered"
    NODE_UPDATED = "registry:node:updated"
    NODE_WITHDRAWN = "registry:node:withdrawn"
    BODY_NODE_ASSIGNED = "registry:body:node_assigned"
    DIRECTORY_PUBLISHED = "registry:directory:published"
    DIRECTORY_APPLIED = "registry:directory:applied"
    DIRECTORY_REFUSED = "registry:directory:refused"
    DIRECTORY_KEY_PINNED = "registry:directory:key_pinned"
    MESSAGE_SENT = "exchange:message:sent"
    MESSAGE_RECEIVED = "exchange:message:received"
    ENVELOPE_REJECTED = "exchange:envelope:rejected"
    DELIVERY_REJECTED = "exchange:delivery:rejected"
    DELIVERY_RETRY_REQUESTED = "exchange:delivery:retry_requested"
    ATTACHMENT_ORPHANS_REMOVED = "exchange:attachment:orphans_removed"
    ATTACHMENTS_KEY_ROTATED = "exchange:attachments_key:rotated"
    ATTACHMENTS_REWRAPPED = "exchange:attachments_key:rewrapped"
    ATTACHMENTS_KEYS_RETIRED = "exchange:attachments_key:retired"
    SIGNING_AUTHORITY_CREATED = "documents:authority:created"
    SIGNING_AUTHORITY_REGISTERED = "documents:authority:registered"
    SIGNER_CERTIFICATE_ISSUED = "documents:signer_certificate:issued"
    SIGNER_CERTIFICATE_IMPORTED = "documents:signer_certificate:imported"
    SECOND_FACTOR_ENROLLED = "documents:second_factor:enrolled"
    SECOND_FACTOR_RESET = "accounts:second_factor:reset"
    SECRETS_KEY_ROTATED = "accounts:secrets_key:rotated"
    SECRETS_REWRAPPED = "accounts:secrets_key:rewrapped"
    SECRETS_KEYS_RETIRED = "accounts:secrets_key:retired"
    DOCUMENT_SIGNED = "documents:document:signed"
    DOCUMENTS_KEY_ROTATED = "documents:documents_key:rotated"
    DOCUMENTS_REWRAPPED = "documents:documents_key:rewrapped"
    DOCUMENTS_KEYS_RETIRED = "documents:documents_key:retired"
    CASE_DRAFTED = "assistance:case:drafted"
    CASE_DRAFT_EDITED = "assistance:case:draft_edited"
    CASE_SUBMITTED = "assistance:case:submitted_for_approval"
    CASE_RETURNED = "assistance:case:returned_to_draft"
    CASE_DISCARDED = "assistance:case:discarded"
    CASE_VIEWED = "assistance:case:viewed"
    INFORMATION_REUSED = "assistance:information:reused"
    INFORMATION_RELEASED = "assistance:information:released"
    CASE_ASSIGNED = "assistance:case:assigned"
    CASE_UNASSIGNED = "assistance:case:unassigned"


ACTION_LABELS: dict[AuditAction, Promise] = {
    AuditAction.USER_CREATED: _("User created"),
    AuditAction.USER_LANGUAGE_CHANGED: _("Interface language changed"),
    AuditAction.SIGNED_IN: _("Signed in"),
    AuditAction.SIGNED_OUT: _("Signed out"),
    AuditAction.SIGN_IN_FAILED: _("Failed sign-in"),
    AuditAction.LOCKED_OUT: _("Sign-in locked out"),
    AuditAction.API_TOKEN_ISSUED: _("API token issued"),
    AuditAction.API_TOKEN_REVOKED: _("API token revoked"),
    AuditAction.NOTIFICATION_SENT: _("Notification sent"),
    AuditAction.LOG_VIEWED: _("Audit log viewed"),
    AuditAction.CHAIN_VERIFIED: _("Audit chain verified"),
    AuditAction.DOCUMENT_ARCHIVED: _("Document archived"),
    AuditAction.ARCHIVE_ORPHANS_REMOVED: _("Files without a record removed from the archive"),
    AuditAction.PARTY_CREATED: _("Party registered"),
    AuditAction.BODY_CREATED: _("Competent body registered"),
    AuditAction.INSTRUMENT_CREATED: _("Instrument registered"),
    AuditAction.INSTRUMENT_EVENT_RECORDED: _("Depositary record made"),
    AuditAction.ORIGINAL_STORED: _("Original of an instrument stored"),
    AuditAction.CERTIFIED_COPY_RECORDED: _("Certified copy recorded"),
    AuditAction.DESIGNATION_FILED: _("Designation notice filed"),
    AuditAction.DESIGNATION_ANNOUNCED: _("Designation announced to the Parties"),
    AuditAction.DESIGNATION_ACKNOWLEDGED: _("Designation acknowledged"),
    AuditAction.PARTY_PROFILE_UPDATED: _("Party profile updated"),
    AuditAction.NODE_REGISTERED: _("Node registered"),
    AuditAction.NODE_UPDATED: _("Node updated"),
    AuditAction.NODE_WITHDRAWN: _("Node withdrawn"),
    AuditAction.BODY_NODE_ASSIGNED: _("Body assigned to a node"),
    AuditAction.DIRECTORY_PUBLISHED: _("Directory published"),
    AuditAction.DIRECTORY_APPLIED: _("Directory applied"),
    AuditAction.DIRECTORY_REFUSED: _("Directory refused"),
    AuditAction.DIRECTORY_KEY_PINNED: _("Directory key pinned"),
    AuditAction.MESSAGE_SENT: _("Message sent"),
    AuditAction.MESSAGE_RECEIVED: _("Message received from another node"),
    AuditAction.ENVELOPE_REJECTED: _("Envelope from another node rejected"),
    AuditAction.DELIVERY_REJECTED: _("Message rejected by the receiving node"),
    AuditAction.DELIVERY_RETRY_REQUESTED: _("Delivery to another node retried now"),
    AuditAction.ATTACHMENT_ORPHANS_REMOVED: _("Encrypted files of attachments never stored removed"),
    AuditAction.ATTACHMENTS_KEY_ROTATED: _("Attachments key replaced by a new one"),
    AuditAction.ATTACHMENTS_REWRAPPED: _("Attachments' data keys re-wrapped under the current attachments key"),
    AuditAction.ATTACHMENTS_KEYS_RETIRED: _("Previous attachments keys retired"),
    AuditAction.SIGNING_AUTHORITY_CREATED: _("Certificate authority for signers created"),
    AuditAction.SIGNING_AUTHORITY_REGISTERED: _("Certificate authority of a Party registered"),
    AuditAction.SIGNER_CERTIFICATE_ISSUED: _("Signer's certificate issued"),
    AuditAction.SIGNER_CERTIFICATE_IMPORTED: _("Signer's certificate imported"),
    AuditAction.SECOND_FACTOR_ENROLLED: _("Second factor (TOTP) enrolled"),
    AuditAction.SECOND_FACTOR_RESET: _("Second factor (TOTP) reset by the node's administrator"),
    AuditAction.SECRETS_KEY_ROTATED: _("Secrets key replaced by a new one"),
    AuditAction.SECRETS_REWRAPPED: _("Second-factor secrets sealed again under the current secrets key"),
    AuditAction.SECRETS_KEYS_RETIRED: _("Previous secrets keys retired"),
    AuditAction.DOCUMENT_SIGNED: _("Document signed"),
    AuditAction.DOCUMENTS_KEY_ROTATED: _("Documents key replaced by a new one"),
    AuditAction.DOCUMENTS_REWRAPPED: _("Signers' private keys sealed again under the current documents key"),
    AuditAction.DOCUMENTS_KEYS_RETIRED: _("Previous documents keys retired"),
    AuditAction.CASE_DRAFTED: _("Request drafted"),
    AuditAction.CASE_DRAFT_EDITED: _("Draft request edited"),
    AuditAction.CASE_SUBMITTED: _("Request submitted for approval"),
    AuditAction.CASE_RETURNED: _("Request returned to draft"),
    AuditAction.CASE_DISCARDED: _("Draft request discarded"),
    AuditAction.CASE_VIEWED: _("Case opened"),
    AuditAction.INFORMATION_REUSED: _("Information used in another case with consent"),
    AuditAction.INFORMATION_RELEASED: _("Information exported or passed on with consent"),
    AuditAction.CASE_ASSIGNED: _("Case assigned"),
    AuditAction.CASE_UNASSIGNED: _("Case assignment withdrawn"),
}


def action_label(action: str) -> str:
    """The translated label of an action; the raw code for one this version does not know."""
    try:
        return str(ACTION_LABELS[AuditAction(action)])
    except ValueError:
        return action


def entry_digest(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's fields; datetimes as UTC RFC 3339."""
    normalised = {
        key: value.astimezone(dt.UTC).isoformat(timespec="microseconds") if isinstance(value, dt.datetime) else value
        for key, value in fields.items()
    }
    return hashlib.sha256(rfc8785.dumps(normalised)).hexdigest()


@dataclass(frozen=True)
class ChainEntry:
    """What the chain check needs of a stored entry."""

    seq: int
    prev_hash: str
    hash: str
    fields: Mapping[str, Any]


class ProblemKind(StrEnum):
    MISSING = "missing"
    ALTERED = "altered"
    BROKEN_LINK = "broken_link"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a walk: how many entries were checked and the first problem, if any."""

    checked: int
    problem: ProblemKind | None = None
    seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def message(self) -> str:
        """A sentence for people, in the active language."""
        if self.problem is None:
            return _("Audit chain intact: %(count)d entries checked.") % {"count": self.checked}
        templates = {
            ProblemKind.MISSING: _("Entry %(seq)d is missing."),
            ProblemKind.ALTERED: _("Entry %(seq)d has been altered: its content does not match its hash."),
            ProblemKind.BROKEN_LINK: _("Entry %(seq)d does not link to the entry before it."),
            ProblemKind.TRUNCATED: _("Entries from %(seq)d onwards are missing from the end of the log."),
        }
        return templates[self.problem] % {"seq": self.seq}


def check_chain(entries: Iterable[ChainEntry], head: tuple[int, str] | None) -> ChainReport:
    """Walk `entries` in `seq` order and report the first missing, altered or unlinked entry.

    `head` is the (last seq, last hash) the log recorded at its last append; it catches entries
    removed from the end, which leave no gap behind them.
    """
    expected_seq, previous_hash, checked = 1, GENESIS_HASH, 0
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainReport(checked, ProblemKind.MISSING, expected_seq)
        if entry_digest(entry.fields) != entry.hash:
            return ChainReport(checked, ProblemKind.ALTERED, entry.seq)
        if entry.prev_hash != previous_hash:
            return ChainReport(checked, ProblemKind.BROKEN_LINK, entry.seq)
        previous_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    if head is not None and (head[0] != expected_seq - 1 or head[1] != previous_hash):
        if head[0] >= expected_seq:
            return ChainReport(checked, ProblemKind.TRUNCATED, expected_seq)
        return ChainReport(checked, ProblemKind.ALTERED, expected_seq - 1)
    return ChainReport(checked)


# --- the archive of official documents ------------------------------------------------------------------

ARCHIVE_FOLDER = "archive"
# The extension of an archived file, by its media type; any other type is kept as `.bin`.
ARCHIVE_EXTENSIONS: Mapping[str, str] = {
    "application/pdf": "pdf",
    "application/json": "json",
    "application/xml": "xml",
    "text/plain": "txt",
    "image/png": "png",
    "image/jpeg": "jpg",
}
_HEX = frozenset("0123456789abcdef")


def is_sha256(value: str) -> bool:
    """Is `value` a SHA-256 as the archive writes it: 64 lower-case hexadecimal digits?"""
    return len(value) == 64 and set(value) <= _HEX


def archive_name(sha256: str, media_type: str) -> str:
    """Where the archive keeps the file of these bytes: `archive/<first 2 hex>/<sha256>.<ext>` (content-addressed,
    so the same bytes always land on the same name and a name says what its bytes must hash to)."""
    if not is_sha256(sha256):
        raise ValueError(f"not a SHA-256: {sha256!r}")
    extension = ARCHIVE_EXTENSIONS.get(media_type, "bin")
    return f"{ARCHIVE_FOLDER}/{sha256[:2]}/{sha256}.{extension}"


class ArchiveProblemKind(StrEnum):
    MISSING = "missing"  # a record whose file is gone
    ALTERED = "altered"  # a record whose file no longer hashes to its SHA-256
    ORPHAN = "orphan"  # a file with no record (left by a rolled-back transaction): not damage


@dataclass(frozen=True)
class ArchiveProblem:
    """What a check of the archive found: a damaged record (its id, SHA-256 and file), or a file without one."""

    kind: ArchiveProblemKind
    file_name: str
    record_id: int | None = None
    sha256: str = ""
    name: str = ""

    @property
    def is_damage(self) -> bool:
        """A record's document can no longer be given out as it was kept (an orphan harms nothing)."""
        return self.kind != ArchiveProblemKind.ORPHAN

    def message(self) -> str:
        """A sentence for people, in the active language."""
        templates = {
            ArchiveProblemKind.MISSING: _(
                "Archived document %(id)s (%(name)s, SHA-256 %(sha256)s): its file %(file)s is missing."
            ),
            ArchiveProblemKind.ALTERED: _(
                "Archived document %(id)s (%(name)s, SHA-256 %(sha256)s): its file %(file)s has been altered."
            ),
            ArchiveProblemKind.ORPHAN: _("File %(file)s has no record in the archive."),
        }
        return templates[self.kind] % {
            "id": self.record_id,
            "name": self.name,
            "sha256": self.sha256,
            "file": self.file_name,
        }
