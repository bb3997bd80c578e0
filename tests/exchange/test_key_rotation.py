"""Rotating the node's attachments key (docs/security-at-rest.md, "Rotating a node key"): a new key, every
attachment's data key re-wrapped under it without touching its file, the old key kept (it still opens what it
wrapped, received chunks included) until no attachment is under it and an hour has passed, then retired. Each step
is recorded in the audit log with key ids only."""

from __future__ import annotations

import base64
import io
import os
import stat
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from cybercoop.audit.models import AuditEntry
from cybercoop.exchange import at_rest, services
from cybercoop.exchange.models import Attachment

TEXT = "Журнал соединений за октябрь 2026 г.\n".encode() * 100


pytestmark = pytest.mark.usefixtures("key_file")  # its own attachments key (conftest)


def _stored(data: bytes = TEXT, name: str = "журнал.txt") -> Attachment:
    return services.store_attachment(upload=SimpleUploadedFile(name, data), actor=None)


def _fresh(attachment: Attachment) -> Attachment:
    return Attachment.objects.get(pk=attachment.pk)


def _actions() -> list[str]:
    return list(
        AuditEntry.objects.filter(action__startswith="exchange:attachments_key:")
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_rotating_rewraps_every_attachment_under_a_new_key_without_touching_a_file(db, key_file):
    stored = [_stored(TEXT + bytes([n])) for n in range(5)]
    old = at_rest.current_key_id()
    files = {a.pk: Path(a.file.path).read_bytes() for a in stored}

    rotated = services.ROTATION.rotate()

    new = at_rest.current_key_id()
    assert rotated == (old, new, 5, [])
    assert new != old
    for attachment in stored:
        fresh = _fresh(attachment)
        assert fresh.key_id == new
        assert bytes(fresh.wrapped_key) != bytes(attachment.wrapped_key)
        assert Path(fresh.file.path).read_bytes() == files[attachment.pk]  # the file as it was
        assert at_rest.open(fresh) == at_rest.open(attachment) == TEXT + bytes([stored.index(attachment)])
    kept = at_rest.KEY.previous_folder() / f"{old}.key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _actions() == ["exchange:attachments_key:rotated", "exchange:attachments_key:rewrapped"]
    rotation = AuditEntry.objects.get(action="exchange:attachments_key:rotated")
    assert rotation.data == {"from": old, "to": new}
    assert base64.urlsafe_b64encode(kept.read_bytes()).decode() not in str(rotation.data)  # ids, never keys


def test_a_row_still_under_the_previous_key_opens_until_it_is_rewrapped(db):
    attachment = _stored()
    old, new = at_rest.KEY.rotate()  # as if a process sealed it with the old key while the key was being replaced
    assert _fresh(attachment).key_id == old
    assert at_rest.open(_fresh(attachment)) == TEXT  # the previous key still opens it

    assert services.ROTATION.rewrap(batch=1) == (1, [])
    assert _fresh(attachment).key_id == new
    assert at_rest.open(_fresh(attachment)) == TEXT
    assert services.ROTATION.rewrap() == (0, [])  # nothing left: nothing recorded either
    assert _actions() == ["exchange:attachments_key:rewrapped"]


def test_rewrapping_in_batches_takes_every_row_once(db):
    stored = [_stored(TEXT + bytes([n])) for n in range(7)]
    at_rest.KEY.rotate()
    assert services.ROTATION.rewrap(batch=3) == (7, [])
    assert {_fresh(a).key_id for a in stored} == {at_rest.current_key_id()}


def test_a_row_that_does_not_open_is_left_as_it_is_and_named(db):
    good, bad = _stored(TEXT), _stored(TEXT + b"!")
    old, _new = at_rest.KEY.rotate()
    Attachment.objects.filter(pk=bad.pk).update(wrapped_key=bytes(good.wrapped_key))  # another row's wrapped key

    count, unreadable = services.ROTATION.rewrap()

    assert (count, unreadable) == (1, [str(bad.pk)])
    assert _fresh(bad).key_id == old
    entry = AuditEntry.objects.get(action="exchange:attachments_key:rewrapped")
    assert entry.data["count"] == 1
    assert entry.data["unreadable"] == 1
    assert entry.data["ids"] == [str(bad.pk)]


def test_a_previous_key_is_retired_only_once_no_row_is_under_it_and_an_hour_has_passed(db):
    attachment = _stored()
    old, new = at_rest.KEY.rotate()
    kept_file = at_rest.KEY.previous_folder() / f"{old}.key"

    retired, kept = services.ROTATION.retire(grace_seconds=0)
    assert (retired, kept) == ([], {old: "1 of the attachments still under it: re-wrap them first"})
    services.ROTATION.rewrap()
    retired, kept = services.ROTATION.retire()  # replaced a moment ago
    assert retired == []
    assert kept[old] == "replaced less than 1 hour(s) ago"
    assert kept_file.exists()

    retired, kept = services.ROTATION.retire(grace_seconds=0)
    assert (retired, kept) == ([old], {})
    assert not kept_file.exists()
    assert at_rest.keyring().keys() == {new}
    assert at_rest.open(_fresh(attachment)) == TEXT
    assert AuditEntry.objects.get(action="exchange:attachments_key:retired").data == {"keys": [old]}


def test_a_row_under_a_retired_key_is_a_clear_error(db):
    attachment = _stored()
    old, _new = at_rest.KEY.rotate()
    (at_rest.KEY.previous_folder() / f"{old}.key").unlink()  # lost, not retired: the row was never re-wrapped
    with pytest.raises(at_rest.AttachmentUnreadable) as error:
        at_rest.open(_fresh(attachment))
    assert "it was stored under another attachments key than this node's" in str(error.value.message)
    assert error.value.reason.startswith(f"stored under key {old}; this node holds: ")


def test_a_chunk_received_before_the_rotation_still_opens(db):
    context = b"kz/" + b"0" * 64
    record = at_rest.seal_record(b"the first chunk", context=context, offset=0)
    at_rest.KEY.rotate()
    record += at_rest.seal_record(b", the second", context=context, offset=len(b"the first chunk"))
    assert b"".join(at_rest.open_records(io.BytesIO(record), context=context)) == b"the first chunk, the second"


def test_a_damaged_key_file_is_not_rotated_away(db, key_file):
    attachment = _stored()
    key_file.write_text("not a key\n")
    with pytest.raises(ImproperlyConfigured):
        services.ROTATION.rotate()
    assert key_file.read_text() == "not a key\n"
    assert not at_rest.KEY.previous_folder().exists()
    assert _fresh(attachment).key_id == attachment.key_id
    assert _actions() == []


def test_a_previous_key_file_that_does_not_hold_its_key_is_left_out(db):
    _stored()
    old, new = at_rest.KEY.rotate()
    (at_rest.KEY.previous_folder() / f"{old}.key").write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    assert at_rest.keyring().keys() == {new}


def test_the_keys_command_rotates_and_says_where_each_key_stands(db, capsys):
    _stored(TEXT)
    _stored(TEXT + b"!")
    old = at_rest.current_key_id()

    call_command("keys", "attachments", "rotate")
    new = at_rest.current_key_id()
    out = capsys.readouterr().out
    assert f"attachments key {old} replaced by {new}" in out
    assert "re-wrapped under the current key: 2 attachments" in out
    assert f"  current  {new}  attachments: 2" in out
    assert f"  previous {old}  attachments: 0, replaced " in out

    call_command("keys", "attachments", "retire")
    assert f"kept {old}: replaced less than 1 hour(s) ago" in capsys.readouterr().out
    call_command("keys")  # every key
    out = capsys.readouterr().out
    assert f"  current  {new}  attachments: 2" in out
    assert "secrets: " in out


def test_the_keys_command_fails_when_a_row_cannot_be_rewrapped(db, capsys):
    good, bad = _stored(TEXT), _stored(TEXT + b"!")
    at_rest.KEY.rotate()
    Attachment.objects.filter(pk=bad.pk).update(wrapped_key=bytes(good.wrapped_key))
    with pytest.raises(SystemExit) as exit_status:
        call_command("keys", "attachments", "rewrap")
    assert exit_status.value.code == 1
    captured = capsys.readouterr()
    assert "re-wrapped under the current key: 1 attachments" in captured.out
    assert "not re-wrapped" in captured.err
    assert str(bad.pk) in captured.err


def test_the_keys_command_names_the_keys_it_knows(db):
    with pytest.raises(CommandError, match="no key 'archive': the keys are attachments, documents, secrets"):
        call_command("keys", "archive")


def test_rotations_at_once_lose_no_key(db):
    """Each rotation keeps the key it replaces: run at once (threads here, processes alike: a lock file), eight
    rotations leave the first key and the seven between among the previous keys, and the last as the current one."""
    _stored()
    first = at_rest.current_key_id()
    threads = [threading.Thread(target=at_rest.KEY.rotate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    previous = at_rest.KEY.previous()
    assert len(previous) == 8
    assert first in previous
    assert at_rest.current_key_id() not in previous
    assert len(at_rest.keyring()) == 9
