"""Attachments encrypted at rest (P10.1): envelope encryption under the node's attachments key.

Every file gets a fresh 256-bit data key and is stored encrypted with it (AES-256-GCM); the data key is kept in the
attachment's row, itself encrypted ("wrapped") with the node's attachments key (AES-256-GCM, `settings.
ATTACHMENTS_KEY_FILE`, created on first use, mode 0600), next to that key's id. The node key is replaced by
rotation (`KEY`, `core.keyring`): the old one is kept among the previous keys (`keyring`), which still open what
they wrapped, until the rows under it are re-wrapped (`rewrapped`, no file touched) and it is retired. The row's
SHA-256 is the plaintext's and is checked again on every read, so a file changed on disk is refused, never given out.

A row without a key id was stored before encryption at rest: its file is read as it is (SHA-256 checked the same).
Every reader of an attachment's file goes through `open` (downloads, the federation's uploads, the check of a signed
document); every writer through `store_file` (`services.store_attachment`, `federation.attachments.take_files`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from cybercoop.core.errors import DomainError
from cybercoop.core.keyring import NodeKey

if TYPE_CHECKING:
    from cybercoop.exchange.models import Attachment

logger = logging.getLogger(__name__)

# A stored file: the format's mark, the nonce, then the ciphertext with its tag (GCM adds 16 bytes, no padding).
FILE_PREFIX = b"CCA1"
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_ID_CHARS = 16  # hex of 8 bytes


class Sealed(NamedTuple):
    """A file sealed for storage: what goes on disk, its data key wrapped by the node key, and that key's id."""

    ciphertext: bytes
    wrapped_key: bytes
    key_id: str


class AttachmentUnreadable(DomainError):
    """An attachment's file that cannot be given out: missing, changed on disk, or stored under another node key
    than this node's. `message` is for the user (translated), `reason` for the log and the outbox (English)."""

    status_code = 500

    def __init__(self, message: str | Promise, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- the node key ------------------------------------------------------------------------------------------------


def key_file() -> Path:
    """Where the node's attachments key is (CYBERCOOP_ATTACHMENTS_KEY, default `$CYBERCOOP_DATA_DIR/exchange/
    attachments.key`)."""
    configured = getattr(settings, "ATTACHMENTS_KEY_FILE", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "exchange" / "attachments.key"


def _node_key(*, create: bool) -> bytes:
    """The node's 256-bit attachments key; created (0600, atomically) when missing if `create`. Reading never
    creates one: a new key opens none of the files stored under the old one."""
    return KEY.current(create=create)


def key_id(key: bytes) -> str:
    """The id a node key is known by in the rows it wraps (not secret: a hash that reveals nothing of the key)."""
    return hashlib.sha256(b"cybercoop attachments key id\x00" + key).hexdigest()[:KEY_ID_CHARS]


# The node key as a rotatable key (`core.keyring`): `cybercoop keys attachments rotate|rewrap|retire`.
KEY = NodeKey(name="attachments key", path=key_file, identify=key_id, holds="attachments")


def current_key_id() -> str | None:
    """The id of the node's attachments key, None if it has none yet (nothing was ever sealed)."""
    return KEY.current_id()


def keyring() -> dict[str, bytes]:
    """Every key this node opens attachments and received chunks with, by id: the current one first, then the
    previous ones a rotation kept and that are not retired yet."""
    return KEY.keyring()


def _wrapping_context(identifier: str, sha256: str) -> bytes:
    # Binds a wrapped key to its node key and to its file's SHA-256: copied onto another row, it does not open.
    return b"cybercoop attachment data key\x00" + identifier.encode("ascii") + b"\x00" + sha256.encode("ascii")


def _file_context(sha256: str) -> bytes:
    return FILE_PREFIX + b"\x00" + sha256.encode("ascii")


# --- sealing and opening -----------------------------------------------------------------------------------------


def seal(data: bytes) -> Sealed:
    """`data` encrypted under a fresh data key, and that key wrapped by the node's attachments key (created the
    first time it is needed)."""
    node_key = _node_key(create=True)
    identifier = key_id(node_key)
    sha256 = hashlib.sha256(data).hexdigest()
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = FILE_PREFIX + nonce + AESGCM(data_key).encrypt(nonce, data, _file_context(sha256))
    return Sealed(ciphertext=ciphertext, wrapped_key=_wrap(data_key, node_key, identifier, sha256), key_id=identifier)


def _wrap(data_key: bytes, node_key: bytes, identifier: str, sha256: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(node_key).encrypt(nonce, data_key, _wrapping_context(identifier, sha256))


def _unwrap(attachment: Attachment, keys: dict[str, bytes]) -> bytes:
    """The attachment's data key, opened with the key of `keys` its row names; AttachmentUnreadable otherwise."""
    if attachment.key_id not in keys:
        held = ", ".join(keys) or "none"
        raise _wrong_key(attachment, f"stored under key {attachment.key_id}; this node holds: {held}")
    wrapped = bytes(attachment.wrapped_key)
    try:
        return AESGCM(keys[attachment.key_id]).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrapping_context(attachment.key_id, attachment.sha256)
        )
    except (InvalidTag, ValueError):
        raise _damaged(attachment, f"its wrapped data key does not open with the key {attachment.key_id}") from None


def rewrapped(attachment: Attachment, *, keys: dict[str, bytes], to: str) -> tuple[bytes, str]:
    """`attachment`'s data key wrapped again under the key `to` of `keys` (a `keyring()`), from the key it is under
    now, which must be in `keys` too: its new `wrapped_key` and `key_id`. The file is not touched. Raises
    AttachmentUnreadable when its key is not in `keys` or its wrapped key does not open."""
    return _wrap(_unwrap(attachment, keys), keys[to], to, attachment.sha256), to


def store_file(attachment: Attachment, data: bytes) -> None:
    """Seal `data` and keep it as `attachment`'s file, its wrapped key in the row (saved by the caller, in the
    transaction that stores it). `attachment.sha256` must already be the SHA-256 of `data`."""
    if hashlib.sha256(data).hexdigest() != attachment.sha256:
        raise ValueError(f"attachment {attachment.pk}: the data is not the file of SHA-256 {attachment.sha256}")
    sealed = seal(data)
    attachment.key_id = sealed.key_id
    attachment.wrapped_key = sealed.wrapped_key
    attachment.file.save(f"{uuid.uuid4().hex}.bin", ContentFile(sealed.ciphertext), save=False)


def open(attachment: Attachment) -> bytes:  # read as `at_rest.open(attachment)`
    """The plaintext of `attachment`'s file, once its SHA-256 is the row's; AttachmentUnreadable otherwise (and
    nothing of the file is given out)."""
    name = attachment.file.name or ""
    try:
        with attachment.file.storage.open(name, "rb") as stored:
            raw = stored.read()
    except (FileNotFoundError, IsADirectoryError, ValueError):
        raise _damaged(attachment, "its file is missing") from None
    if attachment.key_id:
        data = _decrypt(attachment, raw)
    else:
        data = raw  # stored before encryption at rest
    if hashlib.sha256(data).hexdigest() != attachment.sha256:
        raise _damaged(attachment, "its file does not hash to the SHA-256 it was stored with")
    return data


def _decrypt(attachment: Attachment, raw: bytes) -> bytes:
    data_key = _unwrap(attachment, keyring())
    head = len(FILE_PREFIX) + NONCE_BYTES
    if raw[: len(FILE_PREFIX)] != FILE_PREFIX or len(raw) < head:
        raise _damaged(attachment, "its file is not an encrypted attachment")
    try:
        return AESGCM(data_key).decrypt(raw[len(FILE_PREFIX) : head], raw[head:], _file_context(attachment.sha256))
    except (InvalidTag, ValueError):  # GCM authenticates every byte: one changed fails here
        raise _damaged(attachment, "its file does not decrypt: changed on disk") from None


# --- records: files received from other nodes, until a message takes them (`federation.attachments`) ---------------
#
# A record is one piece of a file, sealed with the node's attachments key itself (AES-256-GCM, a random nonce): its
# length (4 bytes, big-endian), the nonce, the ciphertext with its tag. Its additional data binds it to its place,
# `context` (the sending node's folder and the file's SHA-256) and `offset` (where its bytes start in the file), so
# a record moved to another file, another sender or another place does not open. A received file is a run of them.

_LENGTH_BYTES = 4
_TAG_BYTES = 16
RECORD_OVERHEAD = _LENGTH_BYTES + NONCE_BYTES + _TAG_BYTES
MAX_RECORD_BYTES = 16 * 1024 * 1024  # far above any chunk a node takes (4 MiB): a longer length is damage


class RecordUnreadable(Exception):
    """A record that does not open: cut short, changed on disk, out of its place, or under another node key."""


def _record_context(context: bytes, offset: int) -> bytes:
    return b"cybercoop received file\x00" + context + b"\x00" + str(offset).encode("ascii")


def seal_record(data: bytes, *, context: bytes, offset: int) -> bytes:
    """`data`, the bytes of a file from `offset`, sealed as one record (the node key is created if missing)."""
    key = _node_key(create=True)
    nonce = os.urandom(NONCE_BYTES)
    body = nonce + AESGCM(key).encrypt(nonce, data, _record_context(context, offset))
    return len(body).to_bytes(_LENGTH_BYTES, "big") + body


def open_records(source: IO[bytes], *, context: bytes, offset: int = 0) -> Iterator[bytes]:
    """The plaintext of each record of `source` in turn, the first one's bytes starting at `offset` in the file;
    RecordUnreadable at the first that does not open (nothing of it is given)."""
    keys = list(keyring().values())  # the current key first; a record sealed before a rotation opens with the old one
    if not keys:
        raise RecordUnreadable(f"{key_file()}: the attachments key is missing")
    while header := source.read(_LENGTH_BYTES):
        length = int.from_bytes(header, "big")
        if len(header) < _LENGTH_BYTES or not NONCE_BYTES + _TAG_BYTES <= length <= MAX_RECORD_BYTES:
            raise RecordUnreadable(f"the record at offset {offset} has no valid length")
        body = source.read(length)
        if len(body) < length:
            raise RecordUnreadable(f"the record at offset {offset} is cut short")
        data = _open_record(body, keys, _record_context(context, offset))
        if data is None:
            raise RecordUnreadable(f"the record at offset {offset} does not decrypt")
        offset += len(data)
        yield data


def _open_record(body: bytes, keys: list[bytes], context: bytes) -> bytes | None:
    for key in keys:
        try:
            return AESGCM(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], context)
        except InvalidTag:
            continue
    return None


def records_size(source: IO[bytes]) -> int:
    """How many bytes of the file the records of `source` hold (read from their lengths, nothing decrypted)."""
    size = 0
    while header := source.read(_LENGTH_BYTES):
        length = int.from_bytes(header, "big")
        size += max(length - NONCE_BYTES - _TAG_BYTES, 0)
        source.seek(length, 1)
    return size


# --- errors -------------------------------------------------------------------------------------------------------


def _damaged(attachment: Attachment, reason: str) -> AttachmentUnreadable:
    logger.error("attachment %s (%s) cannot be read: %s", attachment.pk, attachment.file.name, reason)
    return AttachmentUnreadable(
        _(
            "“%(name)s” cannot be given out: its stored file is missing or damaged. Ask the node's administrator to "
            "restore it from the backup."
        )
        % {"name": attachment.name},
        reason=reason,
    )


def _wrong_key(attachment: Attachment, reason: str) -> AttachmentUnreadable:
    logger.error("attachment %s cannot be read: %s", attachment.pk, reason)
    return AttachmentUnreadable(
        _(
            "“%(name)s” cannot be given out: it was stored under another attachments key than this node's. Ask the "
            "node's administrator to restore the key file."
        )
        % {"name": attachment.name},
        reason=reason,
    )
