"""The demo's signers (P6.5): a certificate authority per Party, a certificate for every head and deputy, and a TOTP
device with a FIXED secret per user, so that `cybercoop demo totp USERNAME` can print the code a demo user signs
with. Demo only: a real node's signers enrol their own authenticator app (documents.otp) and its secret is random.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django_otp.oath import TOTP

# Public on purpose: anyone may compute a demo user's code. Never used outside the demo's seed.
DEMO_TOTP_SEED = b"cybercoop-demo-totp-not-a-secret"
DEVICE_NAME = "CyberCoop demo"
STEP_SECONDS = 30
DIGITS = 6
SIGNER_ROLES = frozenset({"head", "deputy"})


def totp_key(username: str) -> bytes:
    """The demo user's fixed 20-byte TOTP secret (derived from their username)."""
    return hmac.new(DEMO_TOTP_SEED, username.encode("utf-8"), hashlib.sha1).digest()


def current_code(username: str, *, at: float | None = None) -> str:
    """The code a demo user's authenticator would show now (or at the Unix time `at`)."""
    totp = TOTP(totp_key(username), step=STEP_SECONDS, t0=0, digits=DIGITS)
    totp.time = time.time() if at is None else at
    return f"{totp.token():0{DIGITS}d}"


def seconds_left(*, at: float | None = None) -> int:
    """How long the current code stays the current one."""
    now = time.time() if at is None else at
    return STEP_SECONDS - int(now) % STEP_SECONDS


def authority_file(folder: Path, party_code: str) -> Path:
    return folder / f"{party_code}.pem"


def fingerprint_of(pem: str) -> str:
    """The SHA-256 fingerprint of a PEM certificate, as `cybercoop documents show` prints it."""
    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()


def prepare(usernames: Iterable[str], *, folder: Path) -> None:
    """Make the heads and deputies among `usernames` signers: their Party's CA on this node (created once, its
    certificate written to `folder` for the Secretariat to publish), a certificate, and a demo TOTP device.
    Safe to run again."""
    # Imported here: the demo's CLI (`demo totp`) computes codes without Django set up.
    from cybercoop.accounts.models import SealedTOTPDevice
    from cybercoop.accounts.selectors import get_user
    from cybercoop.documents import pki

    folder.mkdir(parents=True, exist_ok=True)
    for username in usernames:
        user: Any = get_user(username=username)
        if user is None or user.role not in SIGNER_ROLES or not user.is_active:
            continue
        party = user.body.party
        authority = next((a for a in pki.authorities_of(party) if a.has_private_key), None)
        if authority is None:
            authority = pki.create_party_ca(party)
        path = authority_file(folder, party.code)
        if not path.exists():
            path.write_text(authority.certificate_pem, encoding="ascii")
        if pki.credential_in_use(user) is None:
            pki.issue_signer(user)
        if not SealedTOTPDevice.objects.filter(user=user, confirmed=True).exists():
            # Sealed like any other (the node's secrets key): only the seed's derivation makes the secret known.
            SealedTOTPDevice.objects.create(
                user=user,
                name=DEVICE_NAME,
                key=totp_key(username).hex(),
                step=STEP_SECONDS,
                digits=DIGITS,
                confirmed=True,
            )
