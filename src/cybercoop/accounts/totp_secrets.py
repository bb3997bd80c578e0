"""The second factor's TOTP secrets as the database keeps them (issue 7): sealed with the node's secrets key
(`core.sealed_secrets`), bound to the device's user, in django-otp's 80-character `otp_totp.TOTPDevice.key` column.

Used by `models.SealedTOTPDevice` (every device CyberCoop creates or reads) and by the migration that sealed the
devices enrolled before (`migrations/0004_sealedtotpdevice.py`).
"""

from __future__ import annotations

from cybercoop.core import sealed_secrets
from cybercoop.core.sealed_secrets import SecretUnreadable, is_sealed

__all__ = [
    "KEY_COLUMN_CHARS",
    "MAX_SECRET_BYTES",
    "SecretUnreadable",
    "is_sealed",
    "open_key",
    "reseal_key",
    "seal_key",
]

KEY_COLUMN_CHARS = 80  # otp_totp.TOTPDevice.key's max_length
# The longest secret whose sealed value fits the column; django-otp's default (and ours) is 20 bytes (RFC 4226's
# recommended length for HMAC-SHA1).
MAX_SECRET_BYTES = max(n for n in range(1, KEY_COLUMN_CHARS) if sealed_secrets.sealed_length(n) <= KEY_COLUMN_CHARS)


def _context(user_id: int) -> bytes:
    # Binds the sealed secret to its user: copied onto another user's device, it does not open (so whoever may write
    # to the database but lacks the key cannot give someone their own authenticator).
    return b"otp_totp.totpdevice.key\x00user " + str(int(user_id)).encode("ascii")


def seal_key(secret: bytes, *, user_id: int | None) -> str:
    """The value of the `key` column for a device of `user_id` with the TOTP `secret`."""
    if user_id is None:
        raise ValueError("a TOTP secret is sealed for its device's user: set the device's user first")
    if len(secret) > MAX_SECRET_BYTES:
        raise ValueError(
            f"a {len(secret)}-byte TOTP secret does not fit sealed in the key column (at most {MAX_SECRET_BYTES})"
        )
    return sealed_secrets.seal(secret, context=_context(user_id))


def open_key(value: str, *, user_id: int | None) -> bytes:
    """The TOTP secret sealed in the `key` column of a device of `user_id`; SecretUnreadable if it does not open."""
    if user_id is None:
        raise SecretUnreadable("the device has no user")
    return sealed_secrets.unseal(value, context=_context(user_id))


def reseal_key(value: str, *, user_id: int | None, keys: dict[str, bytes], to: str) -> str:
    """The `key` column's value sealed again under the secrets key `to` of `keys` (a rotation: `sealed_secrets.KEY`);
    SecretUnreadable if it does not open with the key it is under."""
    if user_id is None:
        raise SecretUnreadable("the device has no user")
    return sealed_secrets.reseal(value, context=_context(user_id), keys=keys, to=to)
