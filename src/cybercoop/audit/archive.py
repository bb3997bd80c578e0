"""The archive of official documents: each kept once by its SHA-256, its file written whole or not at all, and
hashed again whenever it is read or checked (issue 6; the depositary's originals and certified copies, P19).

`keep` runs inside the caller's transaction: if that rolls back, no record remains, only (perhaps) the file,
which has no record and is harmless; `check` lists such orphans and `sweep_orphans` removes them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from cybercoop.audit import rules
from cybercoop.audit import services as audit
from cybercoop.audit.models import ArchivedDocument
from cybercoop.core import clock
from cybercoop.core.errors import DomainError, InvalidInput
from cybercoop.core.files import stored_before, stored_files, write_atomically

logger = logging.getLogger(__name__)

PDF = "application/pdf"
FILE_MODE = 0o600  # official documents: readable by the node's own user only
CHUNK_BYTES = 1024 * 1024
# A file without a record is removed only once it is this old. The log's lock already keeps a sweep off the file of
# a `keep` not yet committed; the delay also leaves alone a temporary file being written, and gives an operator
# time to look at what a crash left.
ORPHAN_GRACE_SECONDS = 3600.0


class ArchiveDamaged(DomainError):
    """An archived document's file is missing or no longer hashes to the SHA-256 it was kept with."""

    status_code = 500

    def __init__(self, problem: rules.ArchiveProblem) -> None:
        super().__init__(
            _(
                "The document %(name)s cannot be given out: its archived file is missing or no longer matches the "
                "SHA-256 it was kept with. Ask the node's administrator to run `cybercoop archive check`."
            )
            % {"name": problem.name}
        )
        self.problem = problem


def _storage() -> Storage:
    return ArchivedDocument._meta.get_field("file").storage


def _digest_of(name: str) -> str | None:
    """SHA-256 of a stored file, read in chunks; None when it is not there."""
    digest = hashlib.sha256()
    try:
        with _storage().open(name, "rb") as file:
            for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _local_path(name: str) -> Path:
    """The file's path: the archive writes through the file system (`FileSystemStorage`), to link files whole."""
    try:
        return Path(_storage().path(name))
    except NotImplementedError:
        raise ImproperlyConfigured("the archive needs a storage on the local file system") from None


def _write(name: str, content: bytes, digest: str) -> None:
    """Put `content` at `name` whole or not at all: a temporary file beside it, synced, then linked into place.

    The name may be taken already: by the file of a `keep` that rolled back, or of one that committed while this
    one waited for the log's lock (its record then wins, see `keep`). Its bytes are kept when they are
    these bytes (and its time refreshed, so that a sweep does not take it for an old orphan), and replaced when
    they are not (a damaged leftover)."""
    path = _local_path(name)
    if write_atomically(path, content, mode=FILE_MODE, replace=False):
        return
    if _digest_of(name) == digest:
        os.utime(path)
        return
    logger.warning("archive: replacing %s, whose bytes did not match its name (a damaged leftover)", name)
    write_atomically(path, content, mode=FILE_MODE, replace=True)


def _text_errors(values: dict[str, tuple[str, int]]) -> dict[str, list[Any]]:
    errors: dict[str, list[Any]] = {}
    for field, (value, limit) in values.items():
        if len(value) > limit:
            errors[field] = [_("At most %(count)d characters.") % {"count": limit}]
        elif any(ord(c) < 32 or ord(c) == 127 for c in value):
            errors[field] = [_("Remove the control characters from this text.")]
    return errors


def _validate(*, content: bytes, kind: str, name: str, reference: str, body_code: str, media_type: str) -> None:
    errors = _text_errors(
        {"kind": (kind, 32), "name": (name, 200), "reference": (reference, 200), "body_code": (body_code, 32)}
    )
    if not content:
        errors["content"] = [_("The document is empty.")]
    if not kind.strip():
        errors.setdefault("kind", []).append(_("This field is required."))
    if not name.strip():
        errors.setdefault("name", []).append(_("This field is required."))
    elif "name" not in errors and (any(c in name for c in "/\\") or name.strip(".") == ""):
        errors["name"] = [_("This value has characters that are not allowed here.")]  # a name, not a path
    type_, _slash, subtype = media_type.partition("/")
    if len(media_type) > 100 or not type_ or not subtype or any(c.isspace() for c in media_type):
        errors["media_type"] = [_("This value has characters that are not allowed here.")]
    if errors:
        raise InvalidInput(_("The document could not be archived."), errors=errors)


@transaction.atomic
def keep(
    *,
    content: bytes,
    kind: str,
    name: str,
    reference: str = "",
    body_code: str = "",
    target: audit.Target = None,
    actor: Any = None,
    media_type: str = PDF,
) -> ArchivedDocument:
    """Archive `content`, once: the same bytes kept again give back the first record (and write nothing).

    `kind` is a short code ("request", "refusal", "instrument_original", "certified_copy" …), `name` the file
    name it is given out under, `reference` its number, `body_code` the body that issued it, `target` what it
    belongs to (as in `audit.services.record`), `actor` who kept it. Runs inside the caller's transaction, so a
    rollback leaves no record. InvalidInput, with nothing stored, for an empty document or a field that does not
    fit. The audit entry carries metadata only (SHA-256, kind, size), never the content."""
    _validate(content=content, kind=kind, name=name, reference=reference, body_code=body_code, media_type=media_type)
    digest = hashlib.sha256(content).hexdigest()
    existing = ArchivedDocument.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing
    file_name = rules.archive_name(digest, media_type)
    # The log's lock, held to the end of the caller's transaction (the audit entry below would take it anyway):
    # a sweep takes it too, so it never removes this file while its record is not committed yet.
    audit.lock_log()
    _write(file_name, content, digest)  # before the row: a record never points at a file not yet whole
    object_type, object_id = audit.describe(target)
    record = ArchivedDocument(
        sha256=digest,
        size_bytes=len(content),
        media_type=media_type,
        file=file_name,
        kind=kind,
        name=name,
        reference=reference,
        body_code=body_code,
        object_type=object_type,
        object_id=object_id[:64],
        archived_at=clock.now(),
        archived_by=actor,
    )
    try:
        # A savepoint: another transaction may be keeping the same bytes now; its record is the one.
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        return ArchivedDocument.objects.get(sha256=digest)
    audit.record(
        action=rules.AuditAction.DOCUMENT_ARCHIVED,
        actor=actor,
        target=record,
        data={
            "sha256": digest,
            "kind": kind,
            "size_bytes": len(content),
            "object_type": object_type,
            "object_id": object_id[:64],
        },
    )
    return record


def find(*, sha256: str) -> ArchivedDocument | None:
    """The archived document of these bytes, if they were kept."""
    return ArchivedDocument.objects.filter(sha256=sha256).first()


def _problem(record: ArchivedDocument, kind: rules.ArchiveProblemKind) -> rules.ArchiveProblem:
    return rules.ArchiveProblem(
        kind=kind, file_name=record.file.name or "", record_id=record.pk, sha256=record.sha256, name=record.name
    )


def _read_checked(problem: rules.ArchiveProblem, *, size_bytes: int | None = None) -> bytes:
    """The bytes of `problem.file_name` if they hash to `problem.sha256`, else ArchiveDamaged (and a log line)."""
    try:
        with _storage().open(problem.file_name, "rb") as file:
            content: bytes = file.read()
    except FileNotFoundError:
        problem = replace(problem, kind=rules.ArchiveProblemKind.MISSING)
    else:
        if (size_bytes is None or len(content) == size_bytes) and hashlib.sha256(content).hexdigest() == problem.sha256:
            return content
    logger.error("archive: %s is %s (record %s)", problem.file_name, problem.kind, problem.record_id)
    raise ArchiveDamaged(problem)


def read(record: ArchivedDocument) -> bytes:
    """The bytes of an archived document, hashed again: ArchiveDamaged (and an error in the log) when the file is
    gone or is no longer what was kept, so that nobody is handed an altered document as the original."""
    return _read_checked(_problem(record, rules.ArchiveProblemKind.ALTERED), size_bytes=record.size_bytes)


def read_legacy(*, name: str, sha256: str, label: str) -> bytes:
    """The bytes of a file stored before the archive existed (an instrument's original in its own folder), checked
    the same way against the SHA-256 recorded with it; `label` names it in the error."""
    return _read_checked(
        rules.ArchiveProblem(kind=rules.ArchiveProblemKind.ALTERED, file_name=name, sha256=sha256, name=label)
    )


def _archived_files() -> Iterator[str]:
    """Every file under the archive's folder, by its storage name (the temporary files of writes included)."""
    return stored_files(_storage(), rules.ARCHIVE_FOLDER)


def _orphans() -> list[str]:
    """The files under the archive's folder that no record names."""
    known = set(ArchivedDocument.objects.values_list("file", flat=True))
    return [name for name in _archived_files() if name not in known]


def check() -> list[rules.ArchiveProblem]:
    """Hash every archived file again: each record whose file is missing or altered, then each file that has no
    record (an orphan, left by a rolled-back `keep`: reported, not damage). `cybercoop archive check`."""
    problems: list[rules.ArchiveProblem] = []
    for record in ArchivedDocument.objects.order_by("pk").iterator():
        digest = _digest_of(record.file.name or "")
        if digest is None:
            problems.append(_problem(record, rules.ArchiveProblemKind.MISSING))
        elif digest != record.sha256:
            problems.append(_problem(record, rules.ArchiveProblemKind.ALTERED))
    problems.extend(rules.ArchiveProblem(kind=rules.ArchiveProblemKind.ORPHAN, file_name=name) for name in _orphans())
    return problems


def count() -> int:
    """How many documents the archive holds."""
    return ArchivedDocument.objects.count()


def sweep_orphans(*, actor: Any = None, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> list[str]:
    """Remove the archive's files that have no record and are older than `grace_seconds` (so not those of a
    `keep` still in its transaction); returns their names, and records the sweep when it removed any."""
    storage = _storage()
    removed = []
    for name in _orphans():
        if not stored_before(storage, name, seconds_ago=grace_seconds):
            continue
        with transaction.atomic():
            # Every `keep` holds this lock from its file's writing to its commit: once we hold it, a record for
            # this file is either committed (and visible now) or never will be, unless a later keep writes it anew.
            audit.lock_log()
            if ArchivedDocument.objects.filter(file=name).exists():
                continue
            storage.delete(name)
        removed.append(name)
    if removed:
        audit.record(
            action=rules.AuditAction.ARCHIVE_ORPHANS_REMOVED,
            actor=actor,
            data={"count": len(removed), "files": removed[:100]},
        )
    return removed
