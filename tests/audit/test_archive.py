"""The archive of official documents: kept once by SHA-256, whole or not at all, inside the caller's transaction,
hashed again on every read and by `cybercoop archive check`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from cybercoop.audit import archive
from cybercoop.audit.models import ArchivedDocument, AuditEntry
from cybercoop.audit.rules import ArchiveProblemKind, AuditAction, archive_name
from cybercoop.core.append_only import AppendOnlyError
from cybercoop.core.errors import InvalidInput
from tests.audit.helpers import raw

PDF = b"%PDF-1.7\n% a refusal with its reasons: \xd0\xbe\xd1\x82\xd0\xba\xd0\xb0\xd0\xb7\n%%EOF\n"
SECRET = b"SECRET-CONTENT-OF-THE-CASE"


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "archive").rglob("*") if p.is_file()) if (root / "archive").exists() else []


def _keep(content: bytes = PDF, **values):
    return archive.keep(content=content, **{"kind": "refusal", "name": "Отказ KZ-1.pdf", **values})


class ActFailed(Exception):
    """The caller's act failing after its document was archived."""


def _keep_then_roll_back(**values) -> None:
    with transaction.atomic():
        _keep(**values)
        raise ActFailed


def _check_command(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("archive", "check", "--language", "en", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_a_document_is_kept_under_its_sha256_with_who_what_and_for_which_object(media, kz_head, clock):
    record = _keep(reference="KZ-MIA-2026-00001", body_code="KZ-MIA", target=kz_head, actor=kz_head)
    digest = hashlib.sha256(PDF).hexdigest()
    record.refresh_from_db()
    assert record.sha256 == digest
    assert record.file.name == f"archive/{digest[:2]}/{digest}.pdf" == archive_name(digest, "application/pdf")
    assert (media / record.file.name).read_bytes() == PDF
    assert (record.size_bytes, record.media_type, record.kind, record.name) == (
        len(PDF),
        "application/pdf",
        "refusal",
        "Отказ KZ-1.pdf",
    )
    assert (record.reference, record.body_code) == ("KZ-MIA-2026-00001", "KZ-MIA")
    assert (record.object_type, record.object_id) == ("accounts.user", str(kz_head.pk))
    assert (record.archived_at, record.archived_by) == (clock.now(), kz_head)
    assert archive.read(record) == PDF
    assert archive.find(sha256=digest) == record
    assert oct(os.stat(media / record.file.name).st_mode & 0o777) == oct(archive.FILE_MODE)


def test_the_same_bytes_kept_twice_give_the_same_record_and_one_file(media, kz_head, clock):
    first = _keep(actor=kz_head)
    second = _keep(kind="results", name="other.pdf", actor=kz_head)
    assert second.pk == first.pk
    assert second.kind == "refusal"  # the first keep describes it
    assert ArchivedDocument.objects.count() == 1
    assert [p.name for p in _files(media)] == [f"{first.sha256}.pdf"]
    assert AuditEntry.objects.filter(action=AuditAction.DOCUMENT_ARCHIVED).count() == 1
    third = _keep(PDF + b" ", actor=kz_head)
    assert third.pk != first.pk
    assert len(_files(media)) == 2


def test_the_audit_entry_holds_metadata_never_the_content(media, kz_head, clock):
    record = _keep(PDF + SECRET, actor=kz_head, reference="KZ-1")
    entry = AuditEntry.objects.get(action=AuditAction.DOCUMENT_ARCHIVED)
    assert (entry.object_type, entry.object_id) == ("audit.archiveddocument", str(record.pk))
    assert entry.actor == kz_head
    assert entry.data == {
        "sha256": record.sha256,
        "kind": "refusal",
        "size_bytes": len(PDF + SECRET),
        "object_type": "",
        "object_id": "",
    }
    assert SECRET.decode() not in json.dumps(entry.data)


def test_a_rollback_leaves_no_record_and_only_an_orphan_that_check_reports_and_a_sweep_removes(media, kz_head, clock):
    with pytest.raises(ActFailed):
        _keep_then_roll_back(actor=kz_head)
    assert not ArchivedDocument.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.DOCUMENT_ARCHIVED).exists()
    [orphan] = _files(media)
    [problem] = archive.check()
    assert (problem.kind, problem.file_name, problem.is_damage) == (
        ArchiveProblemKind.ORPHAN,
        orphan.relative_to(media).as_posix(),
        False,
    )
    status, out, _err = _check_command("--sweep")
    assert status == 0  # an orphan is no damage
    assert f"File {problem.file_name} has no record in the archive." in out
    assert "Files without a record removed: 0." in out  # too fresh: it may be a keep not yet committed
    assert orphan.exists()

    old = time.time() - archive.ORPHAN_GRACE_SECONDS - 60
    os.utime(orphan, (old, old))
    assert archive.sweep_orphans(actor=kz_head) == [problem.file_name]
    assert not orphan.exists()
    swept = AuditEntry.objects.get(action=AuditAction.ARCHIVE_ORPHANS_REMOVED)
    assert swept.data == {"count": 1, "files": [problem.file_name]}
    assert archive.check() == []
    # The same bytes kept again are written anew.
    assert archive.read(_keep(actor=kz_head)) == PDF


def test_a_file_left_by_a_rollback_is_taken_up_by_the_next_keep_of_the_same_bytes(media, kz_head, clock):
    with pytest.raises(ActFailed):
        _keep_then_roll_back(actor=kz_head)
    [orphan] = _files(media)
    old = time.time() - 2 * archive.ORPHAN_GRACE_SECONDS
    os.utime(orphan, (old, old))
    record = _keep(actor=kz_head)
    assert _files(media) == [orphan]
    assert orphan.stat().st_mtime > old  # fresh again: a sweep now leaves it alone
    assert archive.sweep_orphans() == []
    assert archive.read(record) == PDF
    assert archive.check() == []


def test_a_damaged_leftover_under_the_name_is_replaced_by_the_right_bytes(media, kz_head, clock):
    digest = hashlib.sha256(PDF).hexdigest()
    leftover = media / archive_name(digest, "application/pdf")
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(PDF[:10])  # half a file
    record = _keep(actor=kz_head)
    assert leftover.read_bytes() == PDF
    assert archive.read(record) == PDF


@pytest.mark.parametrize(
    ("how", "kind"),
    [
        (lambda path: path.write_bytes(path.read_bytes().replace(b"1.7", b"1.4")), ArchiveProblemKind.ALTERED),
        (lambda path: path.write_bytes(path.read_bytes() + b"%appended"), ArchiveProblemKind.ALTERED),
        (lambda path: path.unlink(), ArchiveProblemKind.MISSING),
    ],
    ids=["altered", "appended", "missing"],
)
def test_a_damaged_file_is_refused_by_read_and_named_by_the_check_command(media, kz_head, clock, how, kind):
    intact = _keep(b"%PDF-1.7 intact", name="intact.pdf", actor=kz_head)
    record = _keep(actor=kz_head)
    assert _check_command() == (0, "Archive intact: 2 documents.\n", "")

    how(media / record.file.name)
    with pytest.raises(archive.ArchiveDamaged) as error:
        archive.read(record)
    assert error.value.problem.kind == kind
    assert "Отказ KZ-1.pdf" in str(error.value.message)
    assert "cybercoop archive check" in str(error.value.message)
    assert archive.read(intact) == b"%PDF-1.7 intact"
    assert [(p.kind, p.record_id) for p in archive.check()] == [(kind, record.pk)]

    status, out, err = _check_command()
    assert status == 1
    verb = "is missing" if kind == ArchiveProblemKind.MISSING else "has been altered"
    assert f"Archived document {record.pk} (Отказ KZ-1.pdf, SHA-256 {record.sha256}): its file" in err
    assert verb in err
    assert "Archive damaged: 1 of 2 documents." in err
    assert intact.sha256 not in err
    assert "intact" not in out.lower()


def test_bad_input_is_refused_field_by_field_and_nothing_is_kept(media, kz_head, clock):
    with pytest.raises(InvalidInput) as error:
        archive.keep(
            content=b"",
            kind="x" * 33,
            name="../../etc/passwd",
            reference="KZ\x00-1",
            body_code="B" * 33,
            media_type="pdf",
            actor=kz_head,
        )
    assert sorted(error.value.errors) == ["body_code", "content", "kind", "media_type", "name", "reference"]
    with pytest.raises(InvalidInput) as error:
        archive.keep(content=PDF, kind=" ", name="..", actor=kz_head)
    assert sorted(error.value.errors) == ["kind", "name"]
    assert not ArchivedDocument.objects.exists()
    assert not AuditEntry.objects.exists()
    assert _files(media) == []


def test_an_archived_record_is_never_changed_or_removed(media, kz_head, clock):
    record = _keep(actor=kz_head)
    record.name = "other.pdf"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(AppendOnlyError):
        ArchivedDocument.objects.all().delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        raw("UPDATE audit_archiveddocument SET sha256 = %s", ["0" * 64])
    with pytest.raises(DatabaseError), transaction.atomic():
        raw("DELETE FROM audit_archiveddocument")
    assert ArchivedDocument.objects.get().sha256 == hashlib.sha256(PDF).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_two_transactions_keeping_the_same_bytes_at_once_make_one_record(settings, tmp_path):
    """PostgreSQL: the second keep waits for the first's lock, then finds its file and its record."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")
    settings.MEDIA_ROOT = tmp_path
    first_kept, results, errors = threading.Event(), {}, []

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = _keep().pk
                first_kept.set()
                time.sleep(0.5)  # still in its transaction while the second one tries
        except Exception as error:  # reported by the assertion below
            errors.append(error)
            first_kept.set()
        finally:
            connection.close()

    def second() -> None:
        first_kept.wait(5)
        try:
            with transaction.atomic():
                results["second"] = _keep(name="second.pdf").pk
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert results["first"] == results["second"]
    assert ArchivedDocument.objects.count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.DOCUMENT_ARCHIVED).count() == 1
    assert len(_files(tmp_path)) == 1
    assert archive.check() == []


@pytest.mark.django_db(transaction=True)
def test_a_sweep_never_removes_the_file_of_a_keep_not_yet_committed(settings, tmp_path):
    """PostgreSQL: the sweep sees the file without a committed record, waits for the keep's lock, then finds it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")
    settings.MEDIA_ROOT = tmp_path
    kept, errors = threading.Event(), []

    def keeper() -> None:
        try:
            with transaction.atomic():
                _keep()
                kept.set()
                time.sleep(0.5)  # the sweep starts while this transaction is open
        except Exception as error:  # reported by the assertion below
            errors.append(error)
            kept.set()
        finally:
            connection.close()

    thread = threading.Thread(target=keeper)
    thread.start()
    kept.wait(5)
    assert not ArchivedDocument.objects.exists()  # not committed yet: its file looks like an orphan
    removed = archive.sweep_orphans(grace_seconds=0)
    thread.join(30)
    assert errors == []
    assert removed == []
    record = ArchivedDocument.objects.get()
    assert archive.read(record) == PDF
    assert archive.check() == []
