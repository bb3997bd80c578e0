"""Attachments between nodes (issue 5): before it posts a message, the sending node uploads each of its files to
the receiving node in chunks, each signed by the sender and encrypted to the receiver; the receiver keeps a
file under (sending node, SHA-256) once it is whole and its hash is its name, and gives it to the message when
the inbox applies it (docs/federation.md, "Attachments").

Wire form (`PUT /federation/v1/attachments/{sha256}`, body: one compact JWE): JWE(JWS(chunk bytes)), the JWS
by the sending node's Ed25519 key with the chunk's place in its protected header (`node`, `to`, `sha256`,
`offset`, `size`), the JWE to the receiving node's X25519 key: the algorithms of the message envelopes
(`keys.py`), through the same library. `GET /federation/v1/attachments/{sha256}`, signed by the asking node
(`Authorization: CyberCoop <JWS>`), answers how many bytes of the file this node holds, so an upload resumes
where a crash or a dropped connection left it.

On the receiving node a file being uploaded is a folder of chunk files, each written whole (temporary file,
fsync, rename), so a crash never leaves half a chunk: the offset this node announces is the sum of the
chunks it holds. The last chunk joins them into the file, which is kept only if its SHA-256 is its name.
Nothing received is kept in the clear (P10.1): each chunk file is one record sealed with the node's attachments
key and bound to its sender, file and offset (`at_rest.seal_record`), the joined file is their run, and a message
that takes the file stores it as an attachment encrypted under a data key of its own (`at_rest.store_file`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from joserfc import jwe, jws
from joserfc.jwe import JWERegistry
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from cybercoop.core import clock
from cybercoop.core.files import sync_folder, write_atomically
from cybercoop.exchange import at_rest
from cybercoop.exchange.federation import client, envelope, node
from cybercoop.exchange.federation.envelope import Rejected
from cybercoop.exchange.federation.keys import (
    CONTENT_ENCRYPTION_ALGORITHM,
    KEY_AGREEMENT_ALGORITHM,
    SIGNING_ALGORITHM,
    InvalidKey,
    NodeKeys,
    PublicKeys,
)
from cybercoop.exchange.models import Attachment, InboundEnvelope, InboundState, OutboxItem

logger = logging.getLogger(__name__)

CHUNK_TYP: Final = "cybercoop-chunk+jws"
CHUNK_ENVELOPE_TYP: Final = "cybercoop-chunk+jwe"
STATUS_TYP: Final = "cybercoop-attachment-status+jws"  # the signed question "how much of this file do you hold?"

CHUNK_BYTES = 1024 * 1024  # what the sender puts in one chunk
MAX_CHUNK_BYTES = 4 * 1024 * 1024  # the most a receiver takes in one chunk, whatever the sender's chunk size
MAX_STATUS_AGE = dt.timedelta(minutes=5)  # a signed status question older (or newer) than this is refused
RESYNCS = 3  # how often one upload follows the receiver's "wrong offset" answer before giving up
# A received file nobody asked about, used or uploaded to for this long is removed by `sweep` (unless a message
# held on this node names it); a sender that still needs it is told it is missing and uploads it again.
IDLE_RETENTION = dt.timedelta(days=1)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_FOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_HEADER_CHARS = 1024
_LOCK_NAME = ".lock"
_PART_SUFFIX = ".part"


def _b64_length(size: int) -> int:
    return -(-size * 4 // 3)


MAX_CHUNK_JWS_CHARS = _MAX_HEADER_CHARS + 1 + _b64_length(MAX_CHUNK_BYTES) + 1 + _b64_length(64)
# header . wrapped key (40 bytes) . IV (12) . ciphertext (as long as the JWS: GCM does not pad) . tag (16)
MAX_CHUNK_TOKEN_CHARS = (
    _MAX_HEADER_CHARS + _b64_length(40) + _b64_length(12) + _b64_length(MAX_CHUNK_JWS_CHARS) + _b64_length(16) + 4
)

# The chunk's place in its file travels in the signed header, next to its bytes, so neither can be swapped.
_CHUNK_HEADERS = {
    "node": HeaderParameter("Sending node's id", "str", required=True),
    "to": HeaderParameter("Receiving node's id", "str", required=True),
    "sha256": HeaderParameter("SHA-256 of the whole file", "str", required=True),
    "offset": HeaderParameter("Where the chunk starts in the file", "int", required=True),
    "size": HeaderParameter("Size of the whole file in bytes", "int", required=True),
}
_CHUNK_HEADER_FIELDS = frozenset({"alg", "kid", "typ", *_CHUNK_HEADERS})
_CHUNK_JWS = JWSRegistry(header_registry=_CHUNK_HEADERS, algorithms=[SIGNING_ALGORITHM])
_CHUNK_JWS.max_header_length = _MAX_HEADER_CHARS
_CHUNK_JWS.max_payload_length = _b64_length(MAX_CHUNK_BYTES)
# ECDH-ES+A256KW with A256GCM, and nothing else: no "dir", no "zip", no RSA (as the message envelopes).
_CHUNK_JWE = JWERegistry(algorithms=[KEY_AGREEMENT_ALGORITHM, CONTENT_ENCRYPTION_ALGORITHM])
_CHUNK_JWE.max_protected_header_length = _MAX_HEADER_CHARS
_CHUNK_JWE.max_ciphertext_length = MAX_CHUNK_TOKEN_CHARS
_CHUNK_JWE_HEADER_FIELDS = frozenset({"alg", "enc", "kid", "typ", "epk"})


def max_attachment_bytes() -> int:
    """The largest file this node takes from another node (CYBERCOOP_FEDERATION_MAX_ATTACHMENT_BYTES)."""
    return int(settings.FEDERATION_MAX_ATTACHMENT_BYTES)


@dataclass(frozen=True)
class Held:
    """How much of a file this node holds from a sending node: `offset` bytes, and whether it is whole."""

    sha256: str
    offset: int
    complete: bool

    def as_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "offset": self.offset, "complete": self.complete}


class Refused(Exception):
    """A chunk or a status question this node does not take: the HTTP status and the reason, in plain English
    (wire-level, for the sender's log and its outbox's last error); `offset` when the chunk was in the wrong
    place, so the sender can go on from there."""

    def __init__(self, status: int, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.offset = offset

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"error": self.message}
        if self.offset is not None:
            answer["offset"] = self.offset
        return answer


class UploadError(Exception):
    """The sending node could not put a file on the receiving node; the message waits for the next attempt."""


# --- the wire form ----------------------------------------------------------------------------------------------


def chunk_token(data: bytes, *, sha256: str, offset: int, size: int, sender: NodeKeys, recipient: PublicKeys) -> str:
    """One chunk as it travels: `data` (the file's bytes from `offset`) signed by `sender` with its place in the
    file, then encrypted to `recipient`; compact JWE of a compact JWS."""
    signed = jws.serialize_compact(
        {
            "alg": SIGNING_ALGORITHM,
            "kid": sender.signing.kid,
            "typ": CHUNK_TYP,
            "node": sender.node_id,
            "to": recipient.node_id,
            "sha256": sha256,
            "offset": offset,
            "size": size,
        },
        data,
        sender.signing,
        registry=_CHUNK_JWS,
    )
    return jwe.encrypt_compact(
        {
            "alg": KEY_AGREEMENT_ALGORITHM,
            "enc": CONTENT_ENCRYPTION_ALGORITHM,
            "typ": CHUNK_ENVELOPE_TYP,
            "kid": recipient.encryption.kid,
        },
        signed,
        recipient.encryption,
        registry=_CHUNK_JWE,
    )


@dataclass(frozen=True)
class Chunk:
    """A chunk opened and verified: who sent it, for which file, where it goes, and its bytes."""

    sender_node: str
    sha256: str
    offset: int
    size: int
    data: bytes


def open_chunk(token: str | bytes, *, recipient: NodeKeys) -> Chunk:
    """Decrypt a chunk for this node and verify it with the key the directory lists for its sending node.
    Raises Refused (400 for a chunk that does not open or is malformed, 403 for a signature this node does
    not accept, 413 for one over the limit), and nothing else."""
    try:
        return _open_chunk(token, recipient=recipient)
    except Refused:
        raise
    except Exception as error:  # a path the checks did not foresee: still the chunk's fault
        raise Refused(400, f"the chunk could not be read ({type(error).__name__})") from error


def _open_chunk(token: str | bytes, *, recipient: NodeKeys) -> Chunk:
    if len(token) > MAX_CHUNK_TOKEN_CHARS:
        raise Refused(413, f"a chunk holds at most {MAX_CHUNK_BYTES} bytes")
    text = token.decode("ascii") if isinstance(token, bytes) else token
    try:
        decrypted = jwe.decrypt_compact(text, recipient.encryption, registry=_CHUNK_JWE)
    except Exception as error:  # AES-GCM authenticates the whole token: a changed byte fails here
        raise Refused(
            400,
            f"the chunk does not decrypt with this node's key: tampered, or not for this node ({type(error).__name__})",
        ) from error
    header = decrypted.headers()
    if set(header) != _CHUNK_JWE_HEADER_FIELDS or header.get("typ") != CHUNK_ENVELOPE_TYP:
        raise Refused(400, "the chunk's envelope header is not a CyberCoop chunk header")
    if header.get("kid") != recipient.encryption.kid:
        raise Refused(400, "the chunk is encrypted to another key than this node's")
    try:
        signature = jws.extract_compact(decrypted.plaintext or b"", registry=_CHUNK_JWS)
    except Exception as error:
        raise Refused(403, f"the chunk is not signed ({type(error).__name__})") from error
    signed = signature.headers()
    if set(signed) != _CHUNK_HEADER_FIELDS or signed["alg"] != SIGNING_ALGORITHM or signed["typ"] != CHUNK_TYP:
        raise Refused(400, "the chunk's signed header is not a CyberCoop chunk header")
    sender_node = signed["node"]
    sender = _sender_keys(sender_node)
    if signed["kid"] != sender.signing.kid:
        raise Refused(403, f"the chunk is signed by a key the directory does not list for node {sender_node!r}")
    try:
        valid = jws.validate_compact(signature, sender.signing, registry=_CHUNK_JWS)
    except Exception as error:
        raise Refused(403, f"the chunk's signature cannot be checked ({type(error).__name__})") from error
    if not valid:
        raise Refused(403, "the chunk's signature does not verify")
    if signed["to"] != recipient.node_id:
        raise Refused(403, f"the chunk is for node {signed['to']!r}, not this one")
    offset, size, data = signed["offset"], signed["size"], signature.payload
    if not _SHA256.fullmatch(signed["sha256"]) or offset < 0 or size < 0:
        raise Refused(400, "the chunk's header is not of its form (sha256, offset, size)")
    if len(data) > MAX_CHUNK_BYTES:
        raise Refused(413, f"a chunk holds at most {MAX_CHUNK_BYTES} bytes")
    return Chunk(sender_node=sender_node, sha256=signed["sha256"], offset=offset, size=size, data=data)


def status_token(*, sha256: str, sender: NodeKeys, recipient_node: str, at: dt.datetime) -> str:
    """The sending node's signed question "how much of this file do you hold from me?" (GET's Authorization)."""
    return envelope.sign_document(
        {"node": sender.node_id, "to": recipient_node, "sha256": sha256, "at": at.astimezone(dt.UTC).isoformat()},
        sender,
        typ=STATUS_TYP,
    )


def asking_node(authorization: str, *, sha256: str, recipient: NodeKeys, now: dt.datetime) -> str:
    """The node that signed a status question about `sha256` (the header `Authorization: CyberCoop <JWS>`), once
    its signature verifies with the key the directory lists for it; Refused (403) otherwise."""
    scheme, _, token = authorization.partition(" ")
    if scheme != "CyberCoop" or not token:
        raise Refused(403, "the question is not signed (expected the header 'Authorization: CyberCoop <JWS>')")
    try:
        claimed = client.unverified_claims(token.strip()).get("node")
    except Rejected as error:
        raise Refused(403, f"the question's signature is not a JWS ({error.message})") from error
    if not isinstance(claimed, str):
        raise Refused(403, "the question names no node")
    try:
        claims = envelope.verify_document(token.strip(), _sender_keys(claimed), typ=STATUS_TYP)
    except Rejected as error:
        raise Refused(403, f"the question's signature is not accepted ({error.reason})") from error
    if set(claims) != {"node", "to", "sha256", "at"} or claims["node"] != claimed:
        raise Refused(403, "the question is not {node, to, sha256, at}")
    if claims["to"] != recipient.node_id or claims["sha256"] != sha256:
        raise Refused(403, "the question is about another file or for another node")
    try:
        at = dt.datetime.fromisoformat(claims["at"])
    except (TypeError, ValueError) as error:
        raise Refused(403, "the question's time is not an RFC 3339 time") from error
    if at.tzinfo is None or abs(now - at) > MAX_STATUS_AGE:
        raise Refused(403, "the question was signed more than 5 minutes away from this node's clock")
    return claimed


def _sender_keys(node_id: str) -> PublicKeys:
    try:
        keys = node.peer_keys(node_id)
    except InvalidKey as error:  # this node's directory, not the sender: it may retry
        raise Refused(503, f"the directory's keys for node {node_id!r} are unusable here") from error
    if keys is None:
        raise Refused(403, f"the directory lists no node {node_id!r}")
    return keys


# --- the receiving node --------------------------------------------------------------------------------------


def check_sha256(sha256: str) -> None:
    """Refused (400) unless `sha256` is a SHA-256 in lower-case hex, as files are named."""
    if not _SHA256.fullmatch(sha256):
        raise Refused(400, "the address must name the file by its SHA-256 in lower-case hex")


def status(*, sender_node: str, sha256: str) -> Held:
    """How much of the file `sha256` this node holds from `sender_node`. A whole file asked about is kept a
    while longer (`sweep`): the sender is about to post a message that names it."""
    folder = _folder(sender_node)
    whole = folder / sha256
    with _locked(folder):  # not while a last chunk joins the others into the file
        if whole.is_file():
            os.utime(whole)
            return Held(sha256, _whole_size(whole), complete=True)
        return Held(sha256, sum(_chunk_size(path) for path in _chunks(folder / (sha256 + _PART_SUFFIX))), False)


def receive_chunk(token: str | bytes, *, sha256: str) -> Held:
    """Take one chunk of the file `sha256` (PUT): check it, add it to what this node holds from its sender if
    it starts exactly there, and keep the file once whole if its SHA-256 is its name. Raises Refused with the
    reason (and keeps nothing of the chunk) otherwise; NodeNotConfigured without keys."""
    check_sha256(sha256)
    chunk = open_chunk(token, recipient=node.load_keys())
    if chunk.sha256 != sha256:
        raise Refused(400, "the chunk is signed for another file than the address names")
    limit = max_attachment_bytes()
    if chunk.size > limit:
        raise Refused(413, f"the file is {chunk.size} bytes; this node takes files of at most {limit} bytes")
    if chunk.offset + len(chunk.data) > chunk.size:
        raise Refused(400, "the chunk goes past the end of the file its header describes")
    try:
        return _store(chunk)
    except (OSError, ImproperlyConfigured) as error:  # a full disk, a permission, a bad key: the sender retries
        logger.exception("chunk of %s from node %r not stored", sha256, chunk.sender_node)
        raise Refused(503, f"this node could not store the chunk ({type(error).__name__})") from error


def _store(chunk: Chunk) -> Held:
    folder = _folder(chunk.sender_node)
    whole = folder / chunk.sha256
    part = folder / (chunk.sha256 + _PART_SUFFIX)
    with _locked(folder):
        if whole.exists():  # finished already (by this sender's earlier attempt): nothing more to take
            return Held(chunk.sha256, _whole_size(whole), complete=True)
        held = sum(_chunk_size(path) for path in _chunks(part))
        if chunk.offset != held:
            raise Refused(409, f"wrong offset {chunk.offset}: this node holds {held} bytes of the file", offset=held)
        end = chunk.offset + len(chunk.data)
        if end < chunk.size and not chunk.data:
            raise Refused(400, "an empty chunk is only the whole of an empty file")
        part.mkdir(mode=0o700, exist_ok=True)
        record = at_rest.seal_record(chunk.data, context=_context(folder, chunk.sha256), offset=chunk.offset)
        write_atomically(part / f"{chunk.offset:020d}", record, mode=0o600)
        if end < chunk.size:
            return Held(chunk.sha256, end, complete=False)
        return _join(part, whole, sha256=chunk.sha256, sender_node=chunk.sender_node)


def _join(part: Path, whole: Path, *, sha256: str, sender_node: str) -> Held:
    """The chunks made one file (their records, one after the other, as they are), kept under its name only if
    that is its SHA-256; else all of it is discarded."""
    digest, size = hashlib.sha256(), 0
    context = _context(whole.parent, sha256)
    descriptor, temporary = tempfile.mkstemp(dir=whole.parent, prefix=".join-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as out:
            for path in _chunks(part):
                record = path.read_bytes()
                try:
                    for data in at_rest.open_records(io.BytesIO(record), context=context, offset=size):
                        digest.update(data)
                        size += len(data)
                except at_rest.RecordUnreadable as error:
                    shutil.rmtree(part, ignore_errors=True)
                    logger.error("upload of %s from node %r discarded: %s", sha256, sender_node, error)
                    raise Refused(503, "a chunk this node held was damaged on its disk; send the file again") from None
                out.write(record)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            shutil.rmtree(part, ignore_errors=True)
            logger.warning("file from node %r discarded: its SHA-256 is not %s", sender_node, sha256)
            raise Refused(422, "the file's SHA-256 differs from the one it was sent under; it was discarded")
        os.replace(temporary, whole)
        sync_folder(whole.parent)
    finally:
        Path(temporary).unlink(missing_ok=True)
    shutil.rmtree(part, ignore_errors=True)
    logger.info("file %s received whole from node %r", sha256, sender_node)
    return Held(sha256, size, complete=True)


def take_files(message: dict[str, Any], *, sender_node: str) -> list[Attachment] | None:
    """The attachments of a message the inbox is about to apply, as unsaved rows with their files copied into
    the attachments' storage, encrypted at rest (`at_rest`); None while any file of its manifest is missing here, or
    is not of its size and SHA-256 (the message is then held). Within the inbox's transaction: copies whose rows are
    not saved by the time it commits (a message that did not apply) are removed then."""
    manifests = message["attachments"]
    if not manifests:
        return []
    folder = _folder(sender_node)
    if not all((folder / manifest["sha256"]).is_file() for manifest in manifests):
        return None  # checked again, with the folder locked, below
    now = clock.now()
    rows: list[Attachment] = []
    with _locked(folder):
        for manifest in manifests:
            path = folder / manifest["sha256"]
            if not path.is_file():
                _remove_copies(rows)
                return None
            row = Attachment(
                id=uuid.UUID(manifest["id"]),
                name=manifest["name"],
                media_type=manifest["media_type"],
                size_bytes=manifest["size"],
                sha256=manifest["sha256"],
                uploaded_by=None,
                uploaded_at=now,
            )
            try:
                with path.open("rb") as source:
                    data = b"".join(at_rest.open_records(source, context=_context(folder, manifest["sha256"])))
            except at_rest.RecordUnreadable as error:
                data = None
                logger.error("received file %s of node %r does not open: %s", path.name, sender_node, error)
            if data is not None and len(data) != manifest["size"]:
                _remove_copies(rows)  # a manifest that misstates the file's size: not this file
                return None
            if data is None or not _copy_checked(data, row):  # changed on disk: not this file any more
                logger.error("received file %s of node %r is damaged; it was discarded", path.name, sender_node)
                path.unlink(missing_ok=True)
                _remove_copies(rows)
                return None
            os.utime(path)  # used now: `sweep` keeps it a while, for another message that names it
            rows.append(row)
    transaction.on_commit(lambda: _remove_copies(rows, unless_saved=True))
    return rows


def _copy_checked(data: bytes, row: Attachment) -> bool:
    """Keep a received file as the row's, encrypted at rest (`at_rest`), if its bytes still hash to the row's
    SHA-256: nothing unchecked is ever stored."""
    if hashlib.sha256(data).hexdigest() != row.sha256:
        return False
    at_rest.store_file(row, data)
    return True


def _remove_copies(rows: Sequence[Attachment], *, unless_saved: bool = False) -> None:
    for row in rows:
        name = row.file.name
        if not name or (unless_saved and Attachment.objects.filter(pk=row.pk, file=name).exists()):
            continue
        row.file.storage.delete(name)


def sweep(*, now: dt.datetime | None = None) -> int:
    """Remove the received files and unfinished uploads idle for IDLE_RETENTION, except the files a message held
    on this node names; returns how many were removed. For the worker: `exchange.sweep_received_attachments`."""
    root = _root()
    if not root.is_dir():
        return 0
    cutoff = (now or clock.now()).timestamp() - IDLE_RETENTION.total_seconds()
    needed: dict[str, set[str]] = {}
    for sender_node, content in InboundEnvelope.objects.filter(state=InboundState.WAITING).values_list(
        "sender_node", "content"
    ):
        for manifest in (content or {}).get("attachments", []):
            needed.setdefault(_folder_name(sender_node), set()).add(manifest["sha256"])
    removed = 0
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        with _locked(folder):
            for path in folder.iterdir():
                name = path.name.removesuffix(_PART_SUFFIX)
                if path.name == _LOCK_NAME or name in needed.get(folder.name, set()):
                    continue
                if _last_touched(path) >= cutoff:
                    continue
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed += 1
    return removed


def _last_touched(path: Path) -> float:
    if path.is_dir():  # an unfinished upload: the time of its latest chunk
        return max([path.stat().st_mtime, *(chunk.stat().st_mtime for chunk in path.iterdir())])
    return path.stat().st_mtime


def _root() -> Path:
    return Path(settings.DATA_DIR) / "federation" / "attachments"


def _folder_name(sender_node: str) -> str:
    # A node id may hold any printable character ("..", "/"): only a plain one names a folder as it is.
    if _SAFE_FOLDER.fullmatch(sender_node):
        return sender_node
    return "node-" + hashlib.sha256(sender_node.encode("utf-8")).hexdigest()[:32]


def _folder(sender_node: str) -> Path:
    return _root() / _folder_name(sender_node)


def _context(folder: Path, sha256: str) -> bytes:
    """What a received file's records are bound to: the sending node's folder and the file's SHA-256."""
    return folder.name.encode("ascii") + b"\x00" + sha256.encode("ascii")


def _chunk_size(path: Path) -> int:
    """How many bytes of its file a chunk file holds: one record."""
    return max(path.stat().st_size - at_rest.RECORD_OVERHEAD, 0)


def _whole_size(path: Path) -> int:
    with path.open("rb") as source:
        return at_rest.records_size(source)


def _chunks(part: Path) -> list[Path]:
    """The chunk files of an unfinished upload, in order, as long as each starts where the one before ends
    (a leftover temporary file, or anything out of place, does not count and is overwritten)."""
    if not part.is_dir():
        return []
    chunks, held = [], 0
    for path in sorted(part.iterdir()):
        if path.name != f"{held:020d}":
            continue
        chunks.append(path)
        held += _chunk_size(path)
    return chunks


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the sending node's folder for this process alone (web workers and the inbox take chunks and files
    from it at once), until the block ends."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (folder / _LOCK_NAME).open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


# --- the sending node ----------------------------------------------------------------------------------------


def send_files(
    items: Sequence[OutboxItem], *, base_url: str, recipient: PublicKeys
) -> tuple[list[OutboxItem], list[tuple[str, list[OutboxItem]]]]:
    """Make sure the receiving node holds every file of the messages of `items` (asking it, then uploading what
    it lacks) before they are posted. Returns the items ready to post, in order, and the others grouped by the
    error that stopped one of their files: the outbox fails those, to be tried again after the backoff."""
    files: dict[Any, list[Attachment]] = {}
    for attachment in Attachment.objects.filter(message_id__in=[item.message_id for item in items]).order_by(
        "position"
    ):
        files.setdefault(attachment.message_id, []).append(attachment)
    if not files:
        return list(items), []
    errors: dict[str, str] = {}  # sha256 → why it could not be uploaded
    unreachable = ""
    try:
        sender = node.load_keys()
    except node.NodeNotConfigured as error:
        unreachable = f"attachments not uploaded: {error}"
        sender = None
    for attachment in {a.sha256: a for group in files.values() for a in group}.values():
        if unreachable or sender is None:  # the node does not answer: do not wait for every file's timeout
            errors[attachment.sha256] = unreachable
            continue
        try:
            upload_file(attachment, base_url=base_url, sender=sender, recipient=recipient)
        except client.DeliveryError as error:
            errors[attachment.sha256] = unreachable = f"attachment {attachment.sha256[:12]} not uploaded: {error}"
        except UploadError as error:
            errors[attachment.sha256] = f"attachment {attachment.sha256[:12]} not uploaded: {error}"
    ready: list[OutboxItem] = []
    failed: dict[str, list[OutboxItem]] = {}
    for item in items:
        reason = next((errors[a.sha256] for a in files.get(item.message_id, []) if a.sha256 in errors), None)
        if reason is None:
            ready.append(item)
        else:
            failed.setdefault(reason, []).append(item)
    return ready, list(failed.items())


def upload_file(
    attachment: Attachment, *, base_url: str, sender: NodeKeys, recipient: PublicKeys, chunk_bytes: int = CHUNK_BYTES
) -> int:
    """Put one file on the receiving node: ask how much of it the node holds, then send the rest in chunks from
    there. Returns how many bytes were sent (0 when the node held it whole). Raises UploadError when the node
    refuses it, client.DeliveryError when it cannot be reached."""
    url = client.endpoint(base_url, f"/attachments/{attachment.sha256}")
    token = status_token(sha256=attachment.sha256, sender=sender, recipient_node=recipient.node_id, at=clock.now())
    answer = _answered(*_request("GET", url, headers={"Authorization": f"CyberCoop {token}"}), url=url)
    held = _held(answer, url=url)
    content = b"" if held.complete else _plaintext(attachment)
    sent, resyncs = 0, 0
    while not held.complete:
        data = content[held.offset : held.offset + min(chunk_bytes, max(attachment.size_bytes - held.offset, 0))]
        if not data and held.offset < attachment.size_bytes:
            raise UploadError(f"the stored file is shorter than its {attachment.size_bytes} bytes")
        body = chunk_token(
            data,
            sha256=attachment.sha256,
            offset=held.offset,
            size=attachment.size_bytes,
            sender=sender,
            recipient=recipient,
        )
        code, answer = _request("PUT", url, data=body.encode("ascii"))
        if code == 409 and isinstance(answer.get("offset"), int) and resyncs < RESYNCS:
            # Another attempt (an earlier worker whose lease ran out) got there first: go on from there.
            resyncs += 1
            held = Held(attachment.sha256, answer["offset"], complete=False)
            continue
        previous = held.offset
        held = _held(_answered(code, answer, url=url), url=url)
        if not held.complete and held.offset <= previous:
            raise UploadError(f"{url} does not take the upload further than {held.offset} bytes")
        sent += len(data)
    return sent


def _plaintext(attachment: Attachment) -> bytes:
    """The file to upload, decrypted and its SHA-256 checked (`at_rest`): a damaged one is never sent."""
    try:
        return at_rest.open(attachment)
    except at_rest.AttachmentUnreadable as error:
        raise UploadError(f"the stored file cannot be read: {error.reason}") from error


def _held(answer: dict[str, Any], *, url: str) -> Held:
    offset, complete = answer.get("offset"), answer.get("complete")
    if not isinstance(offset, int) or isinstance(offset, bool) or not isinstance(complete, bool):
        raise UploadError(f"the answer from {url} does not say how much of the file it holds")
    return Held(str(answer.get("sha256", "")), offset, complete)


def _answered(code: int, answer: dict[str, Any], *, url: str) -> dict[str, Any]:
    if code != 200:
        raise UploadError(f"HTTP {code} from {url}: {str(answer.get('error', ''))[:300]}")
    return answer


def _request(
    method: str, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the JSON object answered, for an error status too (the receiver says why).
    client.DeliveryError when the node cannot be reached or does not answer with a JSON object."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise client.DeliveryError(f"not an http(s) address: {url!r}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=data,
        method=method,
        headers={
            "Accept": "application/json",
            "Content-Type": "application/jose",
            "User-Agent": f"cybercoop/{client.software_version()}",
            **(headers or {}),
        },
    )
    try:
        with client.open_url(request, timeout=client.TIMEOUT_SECONDS) as answer:
            code, body = answer.status, answer.read(client.MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as error:
        code, body = error.code, error.read(client.MAX_ANSWER_BYTES + 1)
    except (OSError, ValueError) as error:  # URLError, timeouts, refused connections, bad URLs
        raise client.DeliveryError(f"{url} is unreachable: {error}") from error
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise client.DeliveryError(f"HTTP {code} from {url}, without a JSON answer")
    return code, value
