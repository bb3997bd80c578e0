"""Attachments between nodes: a file goes ahead of its message in signed, encrypted chunks, and the receiving node
applies the message only with every file of its manifest, whole and with its SHA-256 (docs/federation.md).

The first part runs in this process as node ru (the `federation` fixture: chunks made here as node kz or a forger
would make them, sent through the Django test client); the second takes messages from this process, node kz,
to node ru in a process of its own (tests/exchange/peer.py), over real HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from joserfc import jwe

from cybercoop.core import clock as clock_module
from cybercoop.exchange import at_rest, rules, services
from cybercoop.exchange.federation import attachments, client, inbox, keys, outbox
from cybercoop.exchange.federation.keys import PublicKeys
from cybercoop.exchange.models import Attachment, InboundEnvelope, InboundState, Message, OutboxItem, OutboxState
from cybercoop.registry.selectors import PROTOCOL_CODE
from tests.exchange.federation import chain_hash, next_message, seal, wire_message

MiB = 1024 * 1024


def _manifest(data: bytes, *, name: str = "report.pdf", media_type: str = "application/pdf") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "media_type": media_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _pdf(size: int) -> bytes:
    """`size` bytes that sniff as a PDF, different on every call (so every test has files of its own)."""
    return (b"%PDF-1.7\n" + os.urandom(size))[:size]


# --- node ru, in this process ---------------------------------------------------------------------------------


@pytest.fixture
def ru(federation, client, settings, tmp_path):
    """This process is node ru, with its received files and attachments under `tmp_path`."""
    federation.become("ru")
    settings.DATA_DIR = tmp_path / "data"
    settings.MEDIA_ROOT = tmp_path / "media"
    federation.client = client
    return federation


def _url(sha256: str) -> str:
    return f"/federation/v1/attachments/{sha256}"


def _chunk(fed, data: bytes, *, offset: int, size: int, sha256: str, sender: str = "kz", to: str = "ru") -> str:
    return attachments.chunk_token(
        data, sha256=sha256, offset=offset, size=size, sender=fed.keys[sender], recipient=fed.public(to)
    )


def _put(fed, sha256: str, token: str):
    return fed.client.generic("PUT", _url(sha256), data=token.encode("ascii"), content_type="application/jose")


def _upload(fed, data: bytes, *, chunk: int = 1000, sender: str = "kz", sha256: str | None = None) -> list:
    """Every chunk of `data`, in order; the answers."""
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    answers = []
    for offset in range(0, max(len(data), 1), chunk):
        token = _chunk(fed, data[offset : offset + chunk], offset=offset, size=len(data), sha256=sha256, sender=sender)
        answers.append(_put(fed, sha256, token))
    return answers


def _status(fed, sha256: str, *, sender: str = "kz", at: dt.datetime | None = None):
    token = attachments.status_token(
        sha256=sha256, sender=fed.keys[sender], recipient_node="ru", at=at or clock_module.now()
    )
    return fed.client.get(_url(sha256), HTTP_AUTHORIZATION=f"CyberCoop {token}")


def _kept(data_dir: Path) -> list[str]:
    """What this node keeps of received files (chunk files, partial and whole files), relative to their root."""
    root = data_dir / "federation" / "attachments"
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != ".lock")


def _post(fed, *messages) -> list:
    tokens = [seal(m, sender=fed.keys["kz"], recipient=fed.public("ru")) for m in messages]
    r = fed.client.post(
        "/federation/v1/messages", data=json.dumps({"envelopes": tokens}), content_type="application/json"
    )
    assert r.status_code == 200, r.content
    return r.json()["results"]


def test_a_file_sent_in_chunks_is_kept_whole_and_given_to_its_message(ru, clock, settings):
    data = _pdf(2500)
    sha256 = hashlib.sha256(data).hexdigest()
    assert _status(ru, sha256).json() == {"sha256": sha256, "offset": 0, "complete": False}

    answers = _upload(ru, data)
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [(r.json()["offset"], r.json()["complete"]) for r in answers] == [(1000, False), (2000, False), (2500, True)]
    assert _status(ru, sha256).json() == {"sha256": sha256, "offset": 2500, "complete": True}
    assert _kept(settings.DATA_DIR) == [f"kz/{sha256}"]

    manifests = [_manifest(data), _manifest(b"", name="empty.txt", media_type="text/plain")]
    assert _upload(ru, b"")[0].json()["complete"] is True  # an empty file is one empty chunk
    message = wire_message(attachments=manifests)
    [result] = _post(ru, message)
    assert result["status"] == "accepted"

    stored = Message.objects.get()
    assert stored.hash == chain_hash(message)
    assert stored.hash == rules.message_digest(stored.hashed_fields())  # its rows give back the manifest it was sent
    rows = list(stored.attachments.order_by("position"))
    assert [row.manifest() for row in rows] == manifests
    assert [(row.position, row.uploaded_by, row.uploaded_at) for row in rows] == [
        (0, None, clock.now()),
        (1, None, clock.now()),
    ]
    assert at_rest.open(rows[0]) == data  # stored encrypted at rest (tests/exchange/test_at_rest.py)
    assert rows[0].file.path.startswith(str(settings.MEDIA_ROOT))


def test_a_message_is_held_until_every_file_is_whole_here(ru, clock):
    data = _pdf(2500)
    sha256 = hashlib.sha256(data).hexdigest()
    token = _chunk(ru, data[:1000], offset=0, size=len(data), sha256=sha256)
    assert _put(ru, sha256, token).status_code == 200  # a third of it

    message = wire_message(attachments=[_manifest(data)])
    [result] = _post(ru, message)
    assert (result["status"], result["reason"]) == ("waiting", inbox.WAITING_FOR_ATTACHMENTS)
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()

    # The rest arrives; the sender posts the message again (sealed anew) and it is applied with its file.
    for offset in (1000, 2000):
        token = _chunk(ru, data[offset : offset + 1000], offset=offset, size=len(data), sha256=sha256)
        assert _put(ru, sha256, token).status_code == 200
    [result] = _post(ru, message)
    assert result["status"] == "accepted"
    assert Message.objects.get().id == uuid.UUID(message["id"])
    assert Attachment.objects.get().sha256 == sha256
    [again] = _post(ru, message)
    assert again["status"] == "duplicate"  # and never applied twice
    assert Message.objects.count() == 1


def test_a_message_waiting_for_its_sender_s_earlier_one_takes_its_files_when_that_one_arrives(ru, clock):
    data = _pdf(1800)
    _upload(ru, data)
    first = wire_message()
    second = next_message(first, attachments=[_manifest(data)])
    [held] = _post(ru, second)
    assert (held["status"], held["reason"]) == ("waiting", inbox.waiting_for(1))

    [result] = _post(ru, first)
    assert result["status"] == "accepted"
    stored = Message.objects.get(id=second["id"])
    [row] = stored.attachments.all()
    assert at_rest.open(row) == data
    assert InboundEnvelope.objects.get(message_id=second["id"]).state == InboundState.APPLIED


def test_files_are_kept_apart_by_the_node_that_sent_them(ru, clock):
    data = _pdf(1500)
    sha256 = hashlib.sha256(data).hexdigest()
    _upload(ru, data, sender="am")
    assert _status(ru, sha256, sender="am").json()["complete"] is True
    assert _status(ru, sha256, sender="kz").json() == {"sha256": sha256, "offset": 0, "complete": False}
    # kz's message cannot use a file that am sent.
    [result] = _post(ru, wire_message(attachments=[_manifest(data)]))
    assert (result["status"], result["reason"]) == ("waiting", inbox.WAITING_FOR_ATTACHMENTS)


def test_a_tampered_chunk_is_refused_and_nothing_kept(ru, settings):
    data = _pdf(800)
    sha256 = hashlib.sha256(data).hexdigest()
    token = _chunk(ru, data, offset=0, size=len(data), sha256=sha256)
    header, key, iv, ciphertext, tag = token.split(".")
    middle = len(ciphertext) // 2
    flipped = ciphertext[:middle] + ("A" if ciphertext[middle] != "A" else "B") + ciphertext[middle + 1 :]
    r = _put(ru, sha256, ".".join([header, key, iv, flipped, tag]))
    assert r.status_code == 400
    assert "does not decrypt" in r.json()["error"]
    assert _kept(settings.DATA_DIR) == []


def test_a_chunk_at_the_wrong_offset_is_refused_with_the_offset_held(ru, settings):
    data = _pdf(3000)
    sha256 = hashlib.sha256(data).hexdigest()
    assert _put(ru, sha256, _chunk(ru, data[:1000], offset=0, size=3000, sha256=sha256)).status_code == 200
    for offset in (2000, 0):  # a gap, and the same chunk again
        r = _put(ru, sha256, _chunk(ru, data[offset : offset + 1000], offset=offset, size=3000, sha256=sha256))
        assert r.status_code == 409
        assert r.json() == {"error": f"wrong offset {offset}: this node holds 1000 bytes of the file", "offset": 1000}
    assert _status(ru, sha256).json()["offset"] == 1000
    assert _kept(settings.DATA_DIR) == [f"kz/{sha256}.part/{0:020d}"]


def test_a_file_over_the_size_cap_is_refused(ru, settings):
    settings.FEDERATION_MAX_ATTACHMENT_BYTES = 2000
    data = _pdf(2001)
    sha256 = hashlib.sha256(data).hexdigest()
    r = _put(ru, sha256, _chunk(ru, data[:1000], offset=0, size=len(data), sha256=sha256))
    assert r.status_code == 413
    assert r.json()["error"] == "the file is 2001 bytes; this node takes files of at most 2000 bytes"
    assert _kept(settings.DATA_DIR) == []
    # A chunk past the end its own header gives is refused too.
    r = _put(ru, sha256, _chunk(ru, data[:1500], offset=0, size=1000, sha256=sha256))
    assert r.status_code == 400
    assert _kept(settings.DATA_DIR) == []


def test_a_whole_file_whose_sha256_is_not_its_name_is_discarded(ru, settings):
    data = _pdf(2500)
    claimed = hashlib.sha256(b"another file").hexdigest()
    answers = _upload(ru, data, sha256=claimed)
    assert [r.status_code for r in answers] == [200, 200, 422]
    assert answers[-1].json() == {
        "error": "the file's SHA-256 differs from the one it was sent under; it was discarded"
    }
    assert _kept(settings.DATA_DIR) == []
    assert _status(ru, claimed).json() == {"sha256": claimed, "offset": 0, "complete": False}


def test_a_chunk_signed_by_a_node_the_directory_does_not_list_is_refused(ru, settings):
    data = _pdf(500)
    sha256 = hashlib.sha256(data).hexdigest()
    stranger = keys.generate("xx")
    token = attachments.chunk_token(data, sha256=sha256, offset=0, size=500, sender=stranger, recipient=ru.public("ru"))
    r = _put(ru, sha256, token)
    assert (r.status_code, r.json()["error"]) == (403, "the directory lists no node 'xx'")

    impostor = keys.generate("kz")  # claims to be kz, with a key the directory does not list for it
    token = attachments.chunk_token(data, sha256=sha256, offset=0, size=500, sender=impostor, recipient=ru.public("ru"))
    r = _put(ru, sha256, token)
    assert (r.status_code, r.json()["error"]) == (
        403,
        "the chunk is signed by a key the directory does not list for node 'kz'",
    )
    assert _kept(settings.DATA_DIR) == []


def test_a_chunk_whose_bytes_are_not_those_signed_is_refused(ru, settings):
    data = _pdf(500)
    sha256 = hashlib.sha256(data).hexdigest()
    recipient = ru.public("ru").encryption
    signed = jwe.decrypt_compact(_chunk(ru, data, offset=0, size=500, sha256=sha256), ru.keys["ru"].encryption)
    header, _, signature = (signed.plaintext or b"").decode("ascii").split(".")
    other = base64.urlsafe_b64encode(_pdf(500)).rstrip(b"=").decode("ascii")
    forged = jwe.encrypt_compact(  # kz's signature over other bytes, encrypted to ru as a chunk would be
        {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "typ": attachments.CHUNK_ENVELOPE_TYP, "kid": recipient.kid},
        f"{header}.{other}.{signature}",
        recipient,
        algorithms=["ECDH-ES+A256KW", "A256GCM"],
    )
    r = _put(ru, sha256, forged)
    assert (r.status_code, r.json()["error"]) == (403, "the chunk's signature does not verify")
    assert _kept(settings.DATA_DIR) == []


def test_a_chunk_for_another_node_or_another_file_is_refused(ru, settings):
    data = _pdf(500)
    sha256 = hashlib.sha256(data).hexdigest()
    r = _put(ru, sha256, _chunk(ru, data, offset=0, size=500, sha256=sha256, to="am"))  # encrypted to am
    assert r.status_code == 400
    other = hashlib.sha256(b"x").hexdigest()
    r = _put(ru, other, _chunk(ru, data, offset=0, size=500, sha256=sha256))
    assert (r.status_code, r.json()["error"]) == (400, "the chunk is signed for another file than the address names")
    r = _put(ru, "not-a-hash", _chunk(ru, data, offset=0, size=500, sha256=sha256))
    assert r.status_code == 400
    r = ru.client.generic("PUT", _url(sha256), data=b"junk", content_type="application/jose")
    assert r.status_code == 400
    assert "error" in r.json()
    assert _kept(settings.DATA_DIR) == []


def test_a_status_question_must_be_signed_by_a_listed_node_and_recent(ru, clock):
    sha256 = hashlib.sha256(b"x").hexdigest()
    assert ru.client.get(_url(sha256)).status_code == 403
    assert ru.client.get(_url(sha256), HTTP_AUTHORIZATION="CyberCoop junk").status_code == 403
    stale = _status(ru, sha256, at=clock.now() - dt.timedelta(minutes=6))
    assert (stale.status_code, stale.json()["error"]) == (
        403,
        "the question was signed more than 5 minutes away from this node's clock",
    )
    token = attachments.status_token(sha256=sha256, sender=keys.generate("kz"), recipient_node="ru", at=clock.now())
    r = ru.client.get(_url(sha256), HTTP_AUTHORIZATION=f"CyberCoop {token}")
    assert (r.status_code, r.json()["error"]) == (403, "the question's signature is not accepted (bad signature)")
    assert _status(ru, sha256).status_code == 200


def test_a_received_file_damaged_on_disk_is_not_given_to_a_message(ru, clock, settings):
    data = _pdf(1200)
    _upload(ru, data)
    manifest = _manifest(data)
    path = settings.DATA_DIR / "federation" / "attachments" / "kz" / manifest["sha256"]
    path.write_bytes(b"%PDF" + bytes(len(data) - 4))  # same size, other bytes
    [result] = _post(ru, wire_message(attachments=[manifest]))
    assert (result["status"], result["reason"]) == ("waiting", inbox.WAITING_FOR_ATTACHMENTS)
    assert not path.exists()
    assert not Attachment.objects.exists()


def test_the_sweep_removes_idle_files_but_not_those_a_held_message_names(ru, clock, settings):
    needed, idle, recent = _pdf(600), _pdf(700), _pdf(800)
    for data in (needed, idle, recent):
        _upload(ru, data)
    partial = _pdf(3000)
    _put(
        ru,
        hashlib.sha256(partial).hexdigest(),
        _chunk(ru, partial[:1000], offset=0, size=3000, sha256=hashlib.sha256(partial).hexdigest()),
    )
    first = wire_message()
    _post(ru, next_message(first, attachments=[_manifest(needed)]))  # held: waiting for seq 1
    now = clock_module.now()
    old = (now - attachments.IDLE_RETENTION - dt.timedelta(minutes=1)).timestamp()
    for path in (settings.DATA_DIR / "federation" / "attachments" / "kz").rglob("*"):
        if hashlib.sha256(recent).hexdigest() not in path.name:
            os.utime(path, (old, old))

    assert attachments.sweep(now=now) == 2  # the idle file and the unfinished upload
    assert _kept(settings.DATA_DIR) == sorted(f"kz/{hashlib.sha256(d).hexdigest()}" for d in (needed, recent))


def test_the_endpoint_answers_only_get_and_put(ru):
    assert ru.client.post(_url("0" * 64)).status_code == 405


# --- node kz (this process) and node ru (its own process) ------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _send(bodies, *, files=(), conversation=None) -> Message:
    return services.send(
        conversation=conversation or uuid.uuid4(),
        kind="fedtest.note",
        sender_body=bodies["KZ-MIA"],
        recipient_body=bodies["RU-MIA"],
        sender_user=None,
        instrument=PROTOCOL_CODE,
        marking="official",
        purposes=["investigation"],
        conditions=[],
        body={"text": "С приложением"},
        attachments=list(files),
    )


def _stored(name: str, data: bytes) -> Attachment:
    return services.store_attachment(upload=SimpleUploadedFile(name, data, content_type="application/pdf"), actor=None)


def _peer_attachments(ru_peer, message_id) -> list[list[str]]:
    """Node ru's attachment rows of a message: id, name, media type, size, sha256, uploader, and the SHA-256 of
    the file it stored."""
    out = ru_peer.shell(
        "import hashlib\n"
        "from cybercoop.exchange import at_rest\n"
        "from cybercoop.exchange.models import Attachment\n"
        f"for a in Attachment.objects.filter(message_id='{message_id}').order_by('position'):\n"
        "    print(a.id, a.name, a.media_type, a.size_bytes, a.sha256, a.uploaded_by_id,"
        " hashlib.sha256(at_rest.open(a)).hexdigest())\n"
    )
    return [line.split() for line in out.splitlines()]


def _peer_kept(ru_peer) -> list[str]:
    return _kept(ru_peer.data_dir)


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_message_with_a_file_of_several_chunks_goes_to_the_peer_and_is_applied_with_its_bytes(
    kz, ru_peer, media, node_keys
):
    data = _pdf(3 * MiB + MiB // 2)  # four chunks of at most 1 MiB
    stored = _stored("evidence.pdf", data)
    message = _send(kz, files=[stored])
    assert outbox.deliver_due() == 1

    item = OutboxItem.objects.get(message=message)
    assert (item.state, item.last_error) == (OutboxState.RECEIPTED, "")
    sha256 = hashlib.sha256(data).hexdigest()
    assert _peer_attachments(ru_peer, message.id) == [
        [str(stored.id), "evidence.pdf", "application/pdf", str(len(data)), sha256, "None", sha256]
    ]
    stored_hash = ru_peer.shell(
        f"from cybercoop.exchange.models import Message; print(Message.objects.get(id='{message.id}').hash)"
    )
    assert stored_hash.strip() == message.hash
    # Asked again (a second message with the same file), the peer says it holds it whole: nothing is sent again.
    sent = attachments.upload_file(
        stored, base_url=ru_peer.url, sender=node_keys["kz"][0], recipient=PublicKeys.from_jwks(ru_peer.jwks)
    )
    assert sent == 0


def test_an_interrupted_upload_resumes_where_the_peer_left_it(kz, ru_peer, media, node_keys):
    data = _pdf(3 * MiB + MiB // 2)
    stored = _stored("big.pdf", data)
    sender = node_keys["kz"][0]
    recipient = PublicKeys.from_jwks(ru_peer.jwks)
    url = client.endpoint(ru_peer.url, f"/attachments/{stored.sha256}")
    for offset in (0, MiB):  # the sender stopped (or its connection dropped) after two chunks
        token = attachments.chunk_token(
            data[offset : offset + MiB],
            sha256=stored.sha256,
            offset=offset,
            size=len(data),
            sender=sender,
            recipient=recipient,
        )
        assert _http("PUT", url, token.encode("ascii"))[0] == 200

    assert (
        attachments.upload_file(stored, base_url=ru_peer.url, sender=sender, recipient=recipient) == len(data) - 2 * MiB
    )
    message = _send(kz, files=[stored])
    assert outbox.deliver_due() == 1
    assert OutboxItem.objects.get(message=message).state == OutboxState.RECEIPTED
    assert _peer_attachments(ru_peer, message.id)[0][-1] == hashlib.sha256(data).hexdigest()


def test_the_peer_refuses_bad_chunks_with_clear_errors_and_keeps_nothing(kz, ru_peer, node_keys):
    sender = node_keys["kz"][0]
    recipient = PublicKeys.from_jwks(ru_peer.jwks)
    before = _peer_kept(ru_peer)
    data = _pdf(MiB + 10)
    sha256 = hashlib.sha256(data).hexdigest()
    url = client.endpoint(ru_peer.url, f"/attachments/{sha256}")

    def put(chunk: bytes, *, offset: int = 0, size: int = len(data), sha: str = sha256, by=sender, to=url):
        token = attachments.chunk_token(chunk, sha256=sha, offset=offset, size=size, sender=by, recipient=recipient)
        return _http("PUT", to, token.encode("ascii"))

    token = attachments.chunk_token(
        data[:MiB], sha256=sha256, offset=0, size=len(data), sender=sender, recipient=recipient
    )
    tampered = token[:-40] + ("A" if token[-40] != "A" else "B") + token[-39:]
    code, answer = _http("PUT", url, tampered.encode("ascii"))
    assert code == 400
    assert "does not decrypt" in answer["error"]

    assert put(data[MiB:], offset=MiB) == (
        409,
        {"error": f"wrong offset {MiB}: this node holds 0 bytes of the file", "offset": 0},
    )

    code, answer = put(data[:10], size=100 * 1024 * 1024 + 1)  # the peer runs with the default cap
    assert code == 413
    assert "at most 104857600 bytes" in answer["error"]

    code, answer = put(data[:10], by=keys.generate("xx"))
    assert (code, answer["error"]) == (403, "the directory lists no node 'xx'")

    wrong = hashlib.sha256(b"not this file").hexdigest()
    wrong_url = client.endpoint(ru_peer.url, f"/attachments/{wrong}")
    assert put(data[:MiB], sha=wrong, to=wrong_url)[0] == 200
    code, answer = put(data[MiB:], offset=MiB, sha=wrong, to=wrong_url)
    assert (code, answer["error"]) == (
        422,
        "the file's SHA-256 differs from the one it was sent under; it was discarded",
    )

    assert _peer_kept(ru_peer) == before


def test_a_file_damaged_here_is_never_sent_and_its_message_is_retried_with_backoff(kz, ru_peer, media):
    data = _pdf(MiB + 100)
    stored = _stored("changed.pdf", data)
    before = _peer_kept(ru_peer)
    path = Path(stored.file.path)
    damaged = bytearray(path.read_bytes())
    damaged[100] ^= 1
    path.write_bytes(bytes(damaged))  # the stored bytes no longer decrypt (a peer's 422 is tested in this process)
    message = _send(kz, files=[stored])
    started = clock_module.now()
    assert outbox.deliver_due(now=started) == 1

    item = OutboxItem.objects.get(message=message)
    assert item.state == OutboxState.FAILED
    assert item.last_error == (
        f"attachment {stored.sha256[:12]} not uploaded: the stored file cannot be read: "
        "its file does not decrypt: changed on disk"
    )
    assert _peer_kept(ru_peer) == before  # not a byte of it was sent
    assert started + dt.timedelta(seconds=15) <= item.next_attempt_at <= started + dt.timedelta(seconds=30)
    count = ru_peer.shell(
        f"from cybercoop.exchange.models import Message; print(Message.objects.filter(id='{message.id}').count())"
    )
    assert count.strip() == "0"  # the message was not posted without its file
