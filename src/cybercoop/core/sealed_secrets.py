"""Small secrets sealed at rest under the node's secrets key (AES-256-GCM), so that a copy of the database (a backup,
a dump) does not give them away: the TOTP secrets of the second factor (`accounts.models.SealedTOTPDevice`).

A sealed value is text, to fit the text column that held the secret: `s1:<key id>:<sealed>`, where `<key id>` is 8
hex digits of a hash of the node key (it says which key sealed the value and nothing of the key) and `<sealed>` is the
12-byte nonce, the ciphertext and GCM's 16-byte tag in URL-safe base64 without padding. The caller's `context` is the
associated data, with the format and the key id: a value copied onto another row (another user) does not open.

The key (`settings.SECRETS_KEY_FILE`, CYBERCOOP_SECRETS_KEY): 256 random bits in base64, written atomically with mode
0600 the first time a secret is sealed; opening never creates it, since a new key opens nothing sealed under the old.
A rotation (`KEY`, `core.keyring`) keeps the old key among the previous ones, which open what they sealed until the
values are sealed again under the new key (`reseal`) and the old key is retired.
The cryptography is the `cryptography` package's AESGCM; nothing here is hand-written but the framing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from cybercoop.core.keyring import NodeKey

FORMAT = "s1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_CHARS = 8  # hex of 4 bytes: enough to tell the node's keys apart, and short enough for an 80-character column
_SEPARATOR = ":"


class SecretUnreadable(Exception):
    """A value that does not open with this node's secrets key: sealed under another key, changed, not sealed at
    all, or the key file is missing. The message says why, in English, for the log; it never holds the secret."""


def key_file() -> Path:
    """Where the node's secrets key is (CYBERCOOP_SECRETS_KEY, default `$CYBERCOOP_DATA_DIR/accounts/secrets.key`)."""
    return Path(settings.SECRETS_KEY_FILE)


def node_key(*, create: bool) -> bytes:
    """The node's 256-bit secrets key; created (0600, atomically) when missing if `create`."""
    return KEY.current(create=create)


def key_id(key: bytes) -> str:
    """The id a secrets key is known by in the values it seals (a hash that reveals nothing of the key)."""
    return hashlib.sha256(b"cybercoop secrets key id\x00" + key).hexdigest()[:KEY_ID_CHARS]


# The node key as a rotatable key (`core.keyring`): `cybercoop keys secrets rotate|rewrap|retire`. A value sealed under
# a previous key opens until that key is retired.
KEY = NodeKey(name="secrets key", path=key_file, identify=key_id, holds="second-factor secrets")


def _parts(value: str) -> tuple[str, str] | None:
    """A sealed value's key id and sealed text; None for a value that is not sealed."""
    parts = str(value).split(_SEPARATOR)
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == FORMAT else None


def key_id_of(value: str) -> str:
    """The id of the key `value` is sealed under; "" for a value that is not sealed."""
    parts = _parts(value)
    return parts[0] if parts is not None else ""


def sealed_length(secret_bytes: int) -> int:
    """The length of the sealed value of a secret of `secret_bytes` bytes."""
    sealed = NONCE_BYTES + secret_bytes + TAG_BYTES
    return len(FORMAT) + 1 + KEY_ID_CHARS + 1 + (sealed * 4 + 2) // 3


def is_sealed(value: str) -> bool:
    """True if `value` has the form of a sealed value (whether it opens here is another question)."""
    return str(value).startswith(FORMAT + _SEPARATOR)


def _associated_data(identifier: str, context: bytes) -> bytes:
    # Binds the value to its format, to the key that sealed it and to the caller's context (whose secret it is).
    return b"\x00".join((b"cybercoop sealed secret", FORMAT.encode("ascii"), identifier.encode("ascii"), context))


def seal(secret: bytes, *, context: bytes) -> str:
    """`secret` sealed under the node's secrets key (created the first time it is needed), bound to `context`."""
    return _seal(secret, context=context, key=node_key(create=True))


def _seal(secret: bytes, *, context: bytes, key: bytes) -> str:
    identifier = key_id(key)
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, secret, _associated_data(identifier, context))
    text = base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")
    return _SEPARATOR.join((FORMAT, identifier, text))


def unseal(value: str, *, context: bytes) -> bytes:
    """The secret sealed in `value` for `context`; SecretUnreadable if it does not open with this node's key."""
    parts = _parts(value)
    if parts is None:
        raise SecretUnreadable("the value is not sealed")
    return _unseal(*parts, context=context, keys=KEY.keyring())


def reseal(value: str, *, context: bytes, keys: dict[str, bytes], to: str) -> str:
    """`value` sealed again under the key `to` of `keys` (a `KEY.keyring()`), from the one it is under now, which must
    be in `keys` too; SecretUnreadable if it is not, or if the value does not open."""
    parts = _parts(value)
    if parts is None:
        raise SecretUnreadable("the value is not sealed")
    secret = _unseal(*parts, context=context, keys=keys)
    return _seal(secret, context=context, key=keys[to])


def _unseal(identifier: str, text: str, *, context: bytes, keys: dict[str, bytes]) -> bytes:
    key = keys.get(identifier)
    if key is None:
        held = ", ".join(keys) or "none"
        raise SecretUnreadable(f"sealed under key {identifier[:KEY_ID_CHARS]}; this node holds: {held}")
    try:
        sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raise SecretUnreadable("the sealed value is not base64") from None
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise SecretUnreadable("the sealed value is cut short")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _associated_data(identifier, context))
    except InvalidTag:  # GCM authenticates every byte, the context included: one changed fails here
        raise SecretUnreadable("the sealed value does not open: changed, or copied from another row") from None
