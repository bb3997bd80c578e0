"""Attachments encrypted at rest (issue 7): what is on the node's disk is never the plaintext, what is given out is
the plaintext or a clear error, never a damaged file; downloads go out under safe headers; an oversized or
mis-typed upload is refused on its field with nothing stored (docs/security-at-rest.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from cybercoop.accounts import services as accounts
from cybercoop.assistance import services as assistance
from cybercoop.audit.models import AuditEntry
from cybercoop.core import clock as clock_module
from cybercoop.core.errors import InvalidInput
from cybercoop.exchange import at_rest, rules, services
from cybercoop.exchange.federation import attachments
from cybercoop.exchange.models import Attachment, Message
from tests.assistance.factories import protocol_between, sent
from tests.exchange.federation import seal, wire_message

MARKER = "СЕКРЕТНО-marker-7f3a9c"  # what must never be found on the disk
TEXT = ("Журнал соединений: " + MARKER + "\n").encode() * 200
PDF = b"%PDF-1.7\n% " + MARKER.encode() + b"\n%%EOF\n"
OVERSIZED = b"%PDF-1.7\n" + bytes(rules.MAX_ATTACHMENT_BYTES - 8)  # one byte over 25 MB


pytestmark = pytest.mark.usefixtures("key_file")  # its own attachments key (conftest)


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def _stored(name: str = "журнал.txt", data: bytes = TEXT) -> Attachment:
    return services.store_attachment(upload=_upload(name, data), actor=None)


def _disk(attachment: Attachment) -> Path:
    return Path(attachment.file.path)


def _files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def _marker_anywhere(*folders: Path) -> list[Path]:
    return [p for p in _files_under(*folders) if MARKER.encode() in p.read_bytes()]


def _flip(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


# --- sealing, opening -------------------------------------------------------------------------------------------


@pytest.mark.rule("P10.1")
def test_an_uploaded_file_is_stored_encrypted_and_read_back_as_it_was(db, settings, clock, key_file):
    attachment = _stored()
    on_disk = _disk(attachment).read_bytes()
    assert on_disk != TEXT
    assert MARKER.encode() not in on_disk
    assert _marker_anywhere(Path(settings.MEDIA_ROOT), Path(settings.DATA_DIR), key_file.parent) == []
    assert len(on_disk) == len(TEXT) + len(at_rest.FILE_PREFIX) + at_rest.NONCE_BYTES + 16
    # The row: the plaintext's SHA-256 and size, the data key wrapped by the node key of this id.
    attachment.refresh_from_db()
    assert (attachment.sha256, attachment.size_bytes) == (hashlib.sha256(TEXT).hexdigest(), len(TEXT))
    assert len(bytes(attachment.wrapped_key)) == at_rest.NONCE_BYTES + at_rest.KEY_BYTES + 16
    key = base64.urlsafe_b64decode(key_file.read_text())
    assert attachment.key_id == at_rest.key_id(key)
    assert len(key) == at_rest.KEY_BYTES
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert at_rest.open(attachment) == TEXT


def _aged(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _rolled_back_store(media_root: Path) -> Path:
    """A file sealed by a store whose transaction then rolled back (an act refused after its files were kept)."""
    files = set(_files_under(media_root))

    def store_then_refuse() -> None:
        with transaction.atomic():
            _stored()
            raise RuntimeError("the act was refused")

    with pytest.raises(RuntimeError):
        store_then_refuse()
    [orphan] = set(_files_under(media_root)) - files
    return orphan


@pytest.mark.rule("P10.1")
def test_a_file_left_by_a_rolled_back_store_is_swept_after_an_hour_and_the_stored_ones_kept(db, clock, settings):
    media = Path(settings.MEDIA_ROOT)
    kept = _stored()
    orphan = _rolled_back_store(media)
    assert Attachment.objects.count() == 1
    recent = _rolled_back_store(media)
    for path in (_disk(kept), orphan):
        _aged(path, services.ORPHAN_GRACE_SECONDS + 60)

    removed = services.sweep_orphan_files()

    assert [media / name for name in removed] == [orphan]
    assert not orphan.exists()
    assert recent.exists()  # perhaps a store still in its transaction: left for the next sweep
    assert at_rest.open(kept) == TEXT
    entry = AuditEntry.objects.get(action="exchange:attachment:orphans_removed")
    assert entry.data == {"count": 1, "files": removed}
    assert services.sweep_orphan_files() == []  # nothing more, nothing recorded
    assert AuditEntry.objects.filter(action="exchange:attachment:orphans_removed").count() == 1


def test_the_worker_sweeps_orphan_files_once_an_hour_at_most(db, clock, settings):
    from cybercoop.core import periodic

    assert periodic.registered()["exchange.sweep_orphan_files"] is services.sweep_orphan_files_job
    first = _rolled_back_store(Path(settings.MEDIA_ROOT))
    _aged(first, services.ORPHAN_GRACE_SECONDS + 60)
    assert services.sweep_orphan_files_job() == 1
    second = _rolled_back_store(Path(settings.MEDIA_ROOT))
    _aged(second, services.ORPHAN_GRACE_SECONDS + 60)
    assert services.sweep_orphan_files_job() == 0  # swept less than an hour ago
    assert second.exists()
    _aged(Path(settings.DATA_DIR) / "attachments-swept", services.ORPHAN_SWEEP_EVERY_SECONDS + 1)
    assert services.sweep_orphan_files_job() == 1
    assert not second.exists()


@pytest.mark.rule("P10.1")
def test_every_file_has_a_data_key_of_its_own_under_the_one_node_key(db, clock):
    first, second = _stored(), _stored()
    assert first.sha256 == second.sha256
    assert _disk(first).read_bytes() != _disk(second).read_bytes()
    assert bytes(first.wrapped_key) != bytes(second.wrapped_key)
    assert first.key_id == second.key_id
    assert at_rest.open(first) == at_rest.open(second) == TEXT


@pytest.mark.rule("P10.1")
def test_a_flipped_byte_on_disk_is_refused_with_a_clear_error(db, clock):
    for index in (0, 20, -1):  # the format's mark, the ciphertext, the tag
        attachment = _stored()
        _flip(_disk(attachment), index)
        with pytest.raises(at_rest.AttachmentUnreadable) as error:
            at_rest.open(attachment)
        assert "“журнал.txt” cannot be given out: its stored file is missing or damaged" in str(error.value.message)
        assert error.value.status_code == 500


@pytest.mark.rule("P10.1")
def test_a_wrapped_key_copied_onto_another_row_does_not_open_it(db, clock):
    first, second = _stored(data=TEXT), _stored(data=TEXT + b"!")
    second.wrapped_key = first.wrapped_key
    with pytest.raises(at_rest.AttachmentUnreadable) as error:
        at_rest.open(second)
    assert error.value.reason == f"its wrapped data key does not open with the key {second.key_id}"
    # The same bytes under another row's name: its own file, but not its own SHA-256.
    second.file.name, second.wrapped_key = first.file.name, first.wrapped_key
    with pytest.raises(at_rest.AttachmentUnreadable):
        at_rest.open(second)


@pytest.mark.rule("P10.1")
def test_a_wrong_or_missing_node_key_fails_cleanly_and_is_never_replaced_by_reading(db, clock, settings, tmp_path):
    attachment = _stored()
    other = tmp_path / "other" / "attachments.key"
    settings.ATTACHMENTS_KEY_FILE = other
    expected = "“журнал.txt” cannot be given out: it was stored under another attachments key than this node's."
    with pytest.raises(at_rest.AttachmentUnreadable) as missing:
        at_rest.open(attachment)
    assert expected in str(missing.value.message)
    assert not other.exists()  # reading creates no key: a new one would open nothing

    other.parent.mkdir()
    other.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    with pytest.raises(at_rest.AttachmentUnreadable) as wrong:
        at_rest.open(attachment)
    assert expected in str(wrong.value.message)
    assert wrong.value.reason.startswith(f"stored under key {attachment.key_id}; this node holds: ")

    other.write_text("not a key\n")
    with pytest.raises(at_rest.AttachmentUnreadable) as broken:
        at_rest.open(attachment)
    assert expected in str(broken.value.message)


def test_a_missing_file_is_a_clear_error(db, clock):
    attachment = _stored()
    _disk(attachment).unlink()
    with pytest.raises(at_rest.AttachmentUnreadable) as error:
        at_rest.open(attachment)
    assert error.value.reason == "its file is missing"


def test_a_file_stored_before_encryption_at_rest_is_still_read_and_still_checked(db, clock):
    legacy = Attachment(
        name="old.pdf",
        media_type="application/pdf",
        size_bytes=len(PDF),
        sha256=hashlib.sha256(PDF).hexdigest(),
        uploaded_at=clock.now(),
    )
    legacy.file.save(f"{uuid.uuid4().hex}.bin", ContentFile(PDF), save=False)
    legacy.save()
    legacy.refresh_from_db()
    assert (legacy.key_id, bytes(legacy.wrapped_key)) == ("", b"")
    assert at_rest.open(legacy) == PDF
    _flip(_disk(legacy), 12)
    with pytest.raises(at_rest.AttachmentUnreadable) as error:
        at_rest.open(legacy)
    assert error.value.reason == "its file does not hash to the SHA-256 it was stored with"


# --- refused uploads ------------------------------------------------------------------------------------------


def test_a_text_whose_first_bytes_end_inside_a_character_is_still_text():
    text = ("ж" * 300).encode()  # two bytes each: the first 511 end inside one
    assert rules.sniff_media_type(text[:511], "журнал.txt") == "text/plain"
    assert rules.sniff_media_type(text[:512], "журнал.txt") == "text/plain"
    assert rules.sniff_media_type(b"\xd0\x41" + text[:500], "journal.txt") is None  # not UTF-8 at all
    assert rules.sniff_media_type(text[:511] + b"\x00", "journal.txt") is None


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("big.pdf", OVERSIZED, "“big.pdf” is larger than 25 MB."),
        ("report.pdf", b"MZ\x90\x00\x03 not a PDF", "“report.pdf” is not an accepted type"),
        ("notes.txt", b"text with a \x00 byte", "“notes.txt” is not an accepted type"),
        ("notes.exe", b"plain text", "“notes.exe” is not an accepted type"),
        ("..\\..\\etc\\passwd", b"root:x:0:0", "“passwd” is not an accepted type"),
    ],
)
def test_an_oversized_or_mistyped_upload_is_refused_on_its_field_and_nothing_is_stored(
    db, settings, clock, key_file, name, data, message
):
    with pytest.raises(InvalidInput) as error:
        services.store_attachment(upload=_upload(name, data), actor=None)
    assert list(error.value.errors) == ["attachments"]
    assert message in str(error.value.errors["attachments"][0])
    assert not Attachment.objects.exists()
    assert _files_under(Path(settings.MEDIA_ROOT)) == []


# --- downloads --------------------------------------------------------------------------------------------------


@pytest.fixture
def case_with_files(kz_body, ru_body, outsider_body, kz_officer, kz_head, ru_officer, clock):
    """A request from Kazakhstan executed by Russia, its results sent with two files; both officers read English."""
    protocol = protocol_between(kz_body, ru_body, outsider_body)
    case = assistance.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, protocol))
    case = assistance.send_results(
        actor=ru_officer,
        case=case,
        summary="Результаты",
        uploads=[_upload("Справка №1 (итог).pdf", PDF), _upload("журнал.txt", TEXT)],
    )
    for user in (kz_officer, ru_officer):
        user.language = "en"
        user.save(update_fields=["language"])
    results = Message.objects.get(conversation=case.id, kind="assistance.results")
    return case, list(results.attachments.order_by("position"))


def _screen(client, user, case, attachment):
    client.force_login(user)
    return client.get(f"/cases/{case.pk}/attachments/{attachment.pk}/")


def _api(client, user, case, attachment):
    _token, raw = accounts.issue_api_token(user=user, name="tests", scope="act")
    return client.get(f"/api/v1/cases/{case.pk}/attachments/{attachment.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}")


def _safe_headers(r, *, name: str, media_type: str) -> None:
    assert r["Content-Type"] == media_type
    assert r["Content-Disposition"].startswith('attachment; filename="')
    assert r["Content-Disposition"].endswith(f"; filename*=UTF-8''{quote(name, safe='')}")
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert r["Cache-Control"] == "no-store"


@pytest.mark.rule("P10.1")
@pytest.mark.parametrize("download", [_screen, _api])
def test_a_download_gives_the_plaintext_under_safe_headers(client, case_with_files, kz_officer, ru_officer, download):
    case, (pdf, text) = case_with_files
    assert MARKER.encode() not in _disk(pdf).read_bytes()
    for user in (kz_officer, ru_officer):  # both sides of the case
        r = download(client, user, case, pdf)
        assert r.status_code == 200
        assert b"".join(r.streaming_content) == PDF
        _safe_headers(r, name="Справка №1 (итог).pdf", media_type="application/pdf")
        # RFC 6266: an ASCII fallback for old clients, with neither quotes nor escapes of its own.
        assert r["Content-Disposition"].startswith('attachment; filename="_______ _1 (____).pdf"; ')
    r = download(client, kz_officer, case, text)
    assert b"".join(r.streaming_content) == TEXT
    _safe_headers(r, name="журнал.txt", media_type="text/plain")
    # Every download is a read of the case, recorded (who, which case; never the file).
    viewed = AuditEntry.objects.filter(action="assistance:case:viewed", actor=kz_officer)
    assert viewed.count() == 2


@pytest.mark.parametrize("download", [_screen, _api])
def test_a_file_named_and_typed_by_another_node_goes_out_under_a_safe_name_and_type(
    client, case_with_files, kz_officer, download
):
    case, (pdf, _text) = case_with_files
    html = b"<html><script>alert(1)</script></html>"
    foreign = Attachment(
        message=pdf.message,
        position=5,
        name='..\\..\\evil"%41.html',  # as a peer's manifest may name it: the hash covers the name as sent
        media_type="text/html",
        size_bytes=len(html),
        sha256=hashlib.sha256(html).hexdigest(),
        uploaded_at=clock_module.now(),
    )
    at_rest.store_file(foreign, html)
    foreign.save()
    r = download(client, kz_officer, case, foreign)
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == html
    _safe_headers(r, name="evil%41.html", media_type="application/octet-stream")
    assert r["Content-Disposition"].startswith('attachment; filename="evil_41.html"; ')


@pytest.mark.rule("P10.1")
def test_a_damaged_file_is_an_error_page_with_its_message_on_the_screen(client, case_with_files, kz_officer):
    case, (pdf, _text) = case_with_files
    _flip(_disk(pdf), 30)
    r = _screen(client, kz_officer, case, pdf)
    assert r.status_code == 500
    assert "Content-Disposition" not in r
    page = r.content.decode()
    assert "The file cannot be given out" in page
    assert "cannot be given out: its stored file is missing or damaged" in page
    assert PDF.decode("latin-1") not in page


@pytest.mark.rule("P10.1")
def test_a_damaged_file_is_a_json_error_with_its_message_in_the_api(client, case_with_files, kz_officer, settings):
    case, (pdf, text) = case_with_files
    _flip(_disk(pdf), 30)
    r = _api(client, kz_officer, case, pdf)
    assert r.status_code == 500
    assert "Content-Disposition" not in r
    answer = r.json()
    assert answer["detail"].startswith("“Справка №1 (итог).pdf” cannot be given out: its stored file is missing")
    assert answer["request_id"]

    settings.ATTACHMENTS_KEY_FILE = settings.ATTACHMENTS_KEY_FILE.with_name("replaced.key")  # a lost key
    r = _api(client, kz_officer, case, text)
    assert r.status_code == 500
    assert "stored under another attachments key than this node's" in r.json()["detail"]


def test_oversized_and_mistyped_uploads_through_the_api_and_the_screen_change_nothing(
    client, case_with_files, kz_officer, kz_head, ru_officer, ru_body, settings
):
    executed, _files = case_with_files
    # A second request, registered: the results may be sent in it.
    case = assistance.register_receipt(actor=ru_officer, case=sent(kz_officer, kz_head, ru_body, executed.instrument))
    before = (Message.objects.count(), Attachment.objects.count(), sorted(_files_under(Path(settings.MEDIA_ROOT))))
    _token, raw = accounts.issue_api_token(user=ru_officer, name="tests", scope="act")
    for name, data, message in [
        ("big.pdf", OVERSIZED, "“big.pdf” is larger than 25 MB."),
        ("scan.pdf", b"MZ\x90\x00", "“scan.pdf” is not an accepted type"),
    ]:
        uploads = [_upload("ok.txt", b"fine"), _upload(name, data)]  # the good file is not kept either
        r = client.post(
            f"/api/v1/cases/{case.pk}/results",
            {"summary": "x", "attachments": uploads},
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
        assert r.status_code == 422, r.content
        errors = json.loads(r.content)["errors"]
        assert [e["field"] for e in errors] == ["attachments"]
        assert message in errors[0]["message"]
    client.force_login(ru_officer)
    r = client.post(f"/cases/{case.pk}/results/", {"summary": "x", "attachments": [_upload("big.pdf", OVERSIZED)]})
    assert r.status_code == 422
    assert 'id="results-attachments-error"' in r.content.decode()
    assert "is larger than 25 MB." in r.content.decode()
    after = (Message.objects.count(), Attachment.objects.count(), sorted(_files_under(Path(settings.MEDIA_ROOT))))
    assert after == before


# --- files received from another node -------------------------------------------------------------------------


@pytest.fixture
def ru(federation, client):
    """This process is node ru, taking files and messages from node kz through the test client."""
    federation.become("ru")
    federation.client = client
    return federation


def _put_chunks(fed, data: bytes, *, chunk: int = 1000, upto: int | None = None) -> list:
    sha256 = hashlib.sha256(data).hexdigest()
    answers = []
    for offset in range(0, min(len(data), upto or len(data)), chunk):
        token = attachments.chunk_token(
            data[offset : offset + chunk],
            sha256=sha256,
            offset=offset,
            size=len(data),
            sender=fed.keys["kz"],
            recipient=fed.public("ru"),
        )
        answers.append(
            fed.client.generic(
                "PUT", f"/federation/v1/attachments/{sha256}", data=token.encode(), content_type="application/jose"
            )
        )
    return answers


def _post(fed, message: dict) -> dict:
    token = seal(message, sender=fed.keys["kz"], recipient=fed.public("ru"))
    r = fed.client.post("/federation/v1/messages", json.dumps({"envelopes": [token]}), "application/json")
    assert r.status_code == 200, r.content
    return r.json()["results"][0]


def _manifest(data: bytes, name: str = "журнал.txt") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "media_type": "text/plain",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _received(settings) -> Path:
    return Path(settings.DATA_DIR) / "federation" / "attachments" / "kz"


@pytest.mark.rule("P10.1")
def test_a_file_from_another_node_is_never_kept_in_the_clear(ru, settings, clock):
    data = TEXT[:3500]
    folders = (Path(settings.DATA_DIR), Path(settings.MEDIA_ROOT))
    answers = _put_chunks(ru, data, upto=2000)  # half of it: chunk files
    assert [r.json()["offset"] for r in answers] == [1000, 2000]
    assert len(_files_under(_received(settings) / (hashlib.sha256(data).hexdigest() + ".part"))) == 2
    assert _marker_anywhere(*folders) == []

    answers = _put_chunks(ru, data)[2:]  # the rest: joined into the whole file
    assert [(r.json()["offset"], r.json()["complete"]) for r in answers] == [(3000, False), (3500, True)]
    assert _marker_anywhere(*folders) == []
    status = attachments.status(sender_node="kz", sha256=hashlib.sha256(data).hexdigest())
    assert (status.offset, status.complete) == (len(data), True)

    manifest = _manifest(data)
    assert _post(ru, wire_message(attachments=[manifest]))["status"] == "accepted"
    row = Attachment.objects.get()
    assert row.key_id
    assert bytes(row.wrapped_key)
    assert _marker_anywhere(*folders) == []
    assert at_rest.open(row) == data


@pytest.mark.rule("P10.1")
def test_a_received_chunk_damaged_on_disk_makes_the_sender_start_again(ru, settings, clock):
    data = TEXT[:2500]
    sha256 = hashlib.sha256(data).hexdigest()
    _put_chunks(ru, data, upto=2000)
    _flip(_received(settings) / f"{sha256}.part" / f"{1000:020d}", 40)
    [last] = _put_chunks(ru, data)[2:]
    assert last.status_code == 503
    assert last.json()["error"] == "a chunk this node held was damaged on its disk; send the file again"
    assert attachments.status(sender_node="kz", sha256=sha256).offset == 0
    assert _files_under(_received(settings)) == [_received(settings) / ".lock"]


@pytest.mark.rule("P10.1")
def test_a_received_file_damaged_or_moved_on_disk_is_not_given_to_a_message(ru, settings, clock):
    data = TEXT[:1500]
    sha256 = hashlib.sha256(data).hexdigest()
    _put_chunks(ru, data)
    whole = _received(settings) / sha256
    # Moved to another sender's folder, its records do not open there: they are bound to kz.
    am = whole.parent.with_name("am")
    am.mkdir()
    (am / sha256).write_bytes(whole.read_bytes())
    assert attachments.take_files({"attachments": [_manifest(data)]}, sender_node="am") is None
    assert not (am / sha256).exists()

    _flip(whole, 100)
    result = _post(ru, wire_message(attachments=[_manifest(data)]))
    assert result["status"] == "waiting"
    assert not whole.exists()
    assert not Attachment.objects.exists()
