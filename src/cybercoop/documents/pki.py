"""Signers' keys and certificates (P6.5): a Party's certificate authority, a head's or a deputy's certificate issued by
it or imported as PKCS#12 from the Party's own PKI, and their private keys, kept encrypted at rest.

Keys are ECDSA P-256 with SHA-256, which pyHanko and poppler/NSS (`pdfsig`) both verify. A private key is encrypted
with AES-256-GCM under the node's documents key (`settings.DOCUMENTS_KEY_FILE`), bound to its certificate's
fingerprint; it is decrypted in memory only, to sign, and never logged, audited or returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import pkcs12 as asn1_pkcs12  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import transaction
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from cybercoop.accounts.rules import Role
from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.core.errors import DomainError, InvalidInput
from cybercoop.core.keyring import NodeKey, Rotation, reseal_rows
from cybercoop.documents.models import CredentialSource, PartyAuthority, SignerCredential
from cybercoop.registry import services as registry_services
from cybercoop.registry.models import PartyProfile

logger = logging.getLogger(__name__)

# P6.5: only the head of the body or a deputy signs.
SIGNATORY_POSITIONS = frozenset({Role.HEAD.value, Role.DEPUTY.value})
AUTHORITY_VALID_DAYS = 10 * 365
SIGNER_VALID_DAYS = 2 * 365
# RFC 5280's upper bound for a common name; a longer full name is cut (the certificate stays valid).
_COMMON_NAME_MAX = 64

CERTIFICATE_REFUSED = _("The certificate could not be stored.")


class KeyUnavailable(DomainError):
    """A stored private key that this node's documents key cannot decrypt (a lost or replaced key file)."""

    status_code = 503


# --- encryption at rest -----------------------------------------------------------------------------------------

_SEALED_PREFIX = b"CCK1"  # format version of a sealed key: prefix, key id (8 bytes), nonce (12 bytes), ciphertext
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12


def _node_key() -> bytes:
    """The node's 256-bit documents key, created (0600, atomically) the first time it is needed."""
    return KEY.current(create=True)


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"cybercoop documents key id\x00" + key).digest()[:_KEY_ID_BYTES]


# The node key as a rotatable key (`core.keyring`): `cybercoop keys documents rotate|rewrap|retire`. A private key
# sealed under a previous documents key opens until that key is retired.
KEY = NodeKey(
    name="documents key",
    path=lambda: Path(settings.DOCUMENTS_KEY_FILE),
    identify=lambda key: _key_id(key).hex(),
    holds="private keys",
)


def _associated_data(fingerprint: str) -> bytes:
    # Binds the ciphertext to its certificate: a sealed key copied onto another row does not open.
    return b"cybercoop documents private key\x00" + fingerprint.encode("ascii")


def _seal(secret: bytes, *, fingerprint: str, key: bytes | None = None) -> bytes:
    key = key if key is not None else _node_key()
    nonce = os.urandom(_NONCE_BYTES)
    return _SEALED_PREFIX + _key_id(key) + nonce + AESGCM(key).encrypt(nonce, secret, _associated_data(fingerprint))


def key_id_of(sealed: bytes | memoryview) -> str:
    """The id of the documents key a sealed private key is under; "" for none (an authority kept without its key)."""
    sealed, head = bytes(sealed), len(_SEALED_PREFIX)
    return sealed[head : head + _KEY_ID_BYTES].hex() if sealed[:head] == _SEALED_PREFIX else ""


def _unseal(sealed: bytes, *, fingerprint: str, keys: dict[str, bytes] | None = None) -> bytes:
    keys = keys if keys is not None else KEY.keyring()
    key = keys.get(key_id_of(sealed))
    if key is None:
        raise KeyUnavailable(_("The private key was stored under another documents key; it cannot be used here."))
    nonce_at = len(_SEALED_PREFIX) + _KEY_ID_BYTES
    nonce = sealed[nonce_at : nonce_at + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[nonce_at + _NONCE_BYTES :], _associated_data(fingerprint))
    except Exception as error:  # cryptography's InvalidTag: altered, or not this certificate's key
        raise KeyUnavailable(_("The stored private key is damaged; it cannot be used.")) from error


def _resealed(sealed: bytes | memoryview, *, fingerprint: str, keys: dict[str, bytes], to: str) -> bytes:
    """A sealed private key sealed again under the key `to` of `keys` (a rotation); KeyUnavailable if it does not
    open with the key it is under."""
    return _seal(_unseal(bytes(sealed), fingerprint=fingerprint, keys=keys), fingerprint=fingerprint, key=keys[to])


def _seal_private_key(private_key: Any, *, fingerprint: str) -> bytes:
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return _seal(der, fingerprint=fingerprint)


def _open_private_key(sealed: bytes | memoryview, *, fingerprint: str) -> Any:
    return serialization.load_der_private_key(_unseal(bytes(sealed), fingerprint=fingerprint), password=None)


# --- certificates -------------------------------------------------------------------------------------------------


def fingerprint(certificate: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint, hex."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def serial_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def load_certificate(value: str | bytes | x509.Certificate) -> x509.Certificate:
    """A certificate from PEM (text or bytes) or DER; raises ValueError for anything else."""
    if isinstance(value, x509.Certificate):
        return value
    data = value.encode("ascii") if isinstance(value, str) else value
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


@dataclass(frozen=True)
class SignerIdentity:
    """What a signer's certificate says about its holder (the subject's CN, OU and title)."""

    name: str
    body_code: str
    position: str


def signer_identity(certificate: x509.Certificate) -> SignerIdentity:
    """The holder's name, body code and position as the certificate states them (empty when absent)."""
    subject = certificate.subject
    return SignerIdentity(
        name=_attribute(subject, NameOID.COMMON_NAME),
        body_code=_attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        position=_attribute(subject, NameOID.TITLE),
    )


def _country(party: Any) -> list[x509.NameAttribute[str]]:
    code = str(party.code)
    return [x509.NameAttribute(NameOID.COUNTRY_NAME, code)] if len(code) == 2 and code.isalpha() else []


def _common_name(value: str) -> str:
    value = " ".join(value.split()) or "-"
    return value if len(value) <= _COMMON_NAME_MAX else value[: _COMMON_NAME_MAX - 1] + "…"


def _validity(certificate: x509.Certificate) -> tuple[dt.datetime, dt.datetime]:
    return certificate.not_valid_before_utc, certificate.not_valid_after_utc


def is_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _audit_data(certificate: x509.Certificate) -> dict[str, str]:
    """Metadata of a certificate for the audit log: never a key."""
    not_before, not_after = _validity(certificate)
    return {
        "subject": certificate.subject.rfc4514_string(),
        "serial": serial_hex(certificate),
        "fingerprint_sha256": fingerprint(certificate),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
    }


# --- certificate authorities --------------------------------------------------------------------------------------


@transaction.atomic
def create_party_ca(party: Any, *, actor: Any = None, valid_days: int = AUTHORITY_VALID_DAYS) -> PartyAuthority:
    """Create a certificate authority for the signers of `party`'s bodies (a demo or a test; P6.5)."""
    now = clock.now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            *_country(party),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(party.name_ru)),
            x509.NameAttribute(NameOID.COMMON_NAME, _common_name(f"CyberCoop CA {party.code}")),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    authority = _store_authority(
        party, certificate, sealed_key=_seal_private_key(key, fingerprint=fingerprint(certificate))
    )
    audit.record(
        action=AuditAction.SIGNING_AUTHORITY_CREATED,
        actor=actor,
        body=getattr(actor, "body", None),
        target=authority,
        data={"party": party.code, **_audit_data(certificate)},
    )
    logger.info("certificate authority %s created for %s", fingerprint(certificate), party.code)
    return authority


@transaction.atomic
def register_party_ca(party: Any, certificate: str | bytes, *, actor: Any = None) -> PartyAuthority:
    """Register the CA certificate of `party`'s own PKI (no private key), so its signers' PKCS#12 can be imported."""
    try:
        parsed = load_certificate(certificate)
    except ValueError:
        raise InvalidInput(
            CERTIFICATE_REFUSED, errors={"certificate": [_("The file is not an X.509 certificate (PEM or DER).")]}
        ) from None
    errors: list[Any] = []
    try:
        is_ca = parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        errors.append(_("The certificate is not a certificate authority's (basic constraints: CA)."))
    if parsed.not_valid_after_utc <= clock.now():
        errors.append(_("The certificate has expired."))
    if PartyAuthority.objects.filter(fingerprint_sha256=fingerprint(parsed)).exists():
        errors.append(_("This certificate is already registered."))
    if errors:
        raise InvalidInput(CERTIFICATE_REFUSED, errors={"certificate": errors})
    authority = _store_authority(party, parsed, sealed_key=b"")
    audit.record(
        action=AuditAction.SIGNING_AUTHORITY_REGISTERED,
        actor=actor,
        body=getattr(actor, "body", None),
        target=authority,
        data={"party": party.code, **_audit_data(parsed)},
    )
    return authority


def _store_authority(party: Any, certificate: x509.Certificate, *, sealed_key: bytes) -> PartyAuthority:
    not_before, not_after = _validity(certificate)
    # Published with the Party's profile in the directory: the trust anchor of its signers on every node.
    registry_services.add_signing_authority(party=party, certificate_pem=_pem(certificate))
    return PartyAuthority.objects.create(
        party=party,
        subject=certificate.subject.rfc4514_string()[:500],
        certificate_pem=_pem(certificate),
        private_key_encrypted=sealed_key,
        serial=serial_hex(certificate),
        fingerprint_sha256=fingerprint(certificate),
        not_before=not_before,
        not_after=not_after,
        created_at=clock.now(),
    )


def authorities_of(party: Any) -> list[PartyAuthority]:
    """`party`'s certificate authorities, newest first."""
    return list(PartyAuthority.objects.filter(party=party))


def trusted_certificates(party: Any) -> list[str]:
    """The PEM certificates of `party`'s authorities: what its signers' signatures are checked against — those
    the directory publishes with the Party's profile, and those created or registered on this node."""
    published = list(
        PartyProfile.objects.filter(party=party).values_list("signing_authorities", flat=True).first() or []
    )
    local = [authority.certificate_pem for authority in authorities_of(party)]
    return sorted(set(published) | set(local))


# --- signers ------------------------------------------------------------------------------------------------------


def _check_signatory(user: Any) -> None:
    if not user.is_active or user.role not in SIGNATORY_POSITIONS:
        raise InvalidInput(
            CERTIFICATE_REFUSED,
            errors={"user": [_("Only the head of a body or a deputy head signs official documents (P6.5).")]},
        )


def _signer_name(user: Any) -> x509.Name:
    body = user.body
    return x509.Name(
        [
            *_country(body.party),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(body.name_ru)),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, str(body.code)),
            x509.NameAttribute(NameOID.TITLE, str(user.role)),
            x509.NameAttribute(NameOID.COMMON_NAME, _common_name(str(user.full_name or user.username))),
        ]
    )


@transaction.atomic
def issue_signer(
    user: Any,
    *,
    actor: Any = None,
    valid_days: int = SIGNER_VALID_DAYS,
    not_before: dt.datetime | None = None,
) -> SignerCredential:
    """Issue `user` (the head or a deputy of a body) a signing certificate from their Party's CA (P6.5).

    The certificate names the person (CN), the body (O: its name, OU: its code) and the position (title: head or
    deputy); it is valid for `valid_days` from `not_before` (now), never beyond the authority's own validity.
    The user's earlier credentials are superseded.
    """
    _check_signatory(user)
    now = clock.now()
    authority = (
        PartyAuthority.objects.filter(party=user.body.party, not_after__gt=now)
        .exclude(private_key_encrypted=b"")
        .first()
    )
    if authority is None:
        raise InvalidInput(
            CERTIFICATE_REFUSED,
            errors={
                "user": [
                    _("%(party)s has no certificate authority on this node: create one first (documents ca).")
                    % {"party": user.body.party.name}
                ]
            },
        )
    issuer = load_certificate(authority.certificate_pem)
    issuer_key = _open_private_key(authority.private_key_encrypted, fingerprint=authority.fingerprint_sha256)
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or now
    end = min(start + dt.timedelta(days=valid_days), issuer.not_valid_after_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_signer_name(user))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation: what pyHanko asks of a document signer
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    credential = _store_credential(user, authority, certificate, key, source=CredentialSource.ISSUED)
    audit.record(
        action=AuditAction.SIGNER_CERTIFICATE_ISSUED,
        actor=actor,
        body=user.body,
        target=credential,
        data={"signer": user.username, "body": user.body.code, "position": user.role, **_audit_data(certificate)},
    )
    logger.info("signer certificate %s issued to %s", serial_hex(certificate), user.username)
    return credential


def _store_credential(
    user: Any, authority: PartyAuthority, certificate: x509.Certificate, key: Any, *, source: CredentialSource
) -> SignerCredential:
    now = clock.now()
    SignerCredential.objects.filter(user=user, superseded_at=None).update(superseded_at=now)
    not_before, not_after = _validity(certificate)
    return SignerCredential.objects.create(
        user=user,
        authority=authority,
        body=user.body,
        position=user.role,
        source=source,
        subject=certificate.subject.rfc4514_string()[:500],
        certificate_pem=_pem(certificate),
        private_key_encrypted=_seal_private_key(key, fingerprint=fingerprint(certificate)),
        serial=serial_hex(certificate),
        fingerprint_sha256=fingerprint(certificate),
        not_before=not_before,
        not_after=not_after,
        created_at=now,
    )


def _is_pkcs12(data: bytes) -> bool:
    """True if `data` is a PKCS#12 structure at all (so a failure to open it is the password's)."""
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        return bool(pfx["auth_safe"]["content_type"].native)
    except (ValueError, TypeError, KeyError):
        return False


def _open_pkcs12(data: bytes, password: str) -> tuple[Any, x509.Certificate | None, list[x509.Certificate]]:
    attempts = [password.encode("utf-8")] if password else [None, b""]
    for attempt in attempts:
        try:
            key, certificate, extra = pkcs12.load_key_and_certificates(data, attempt)
        except ValueError:
            continue
        return key, certificate, list(extra)
    if _is_pkcs12(data):
        raise InvalidInput(CERTIFICATE_REFUSED, errors={"password": [_("The password does not open this file.")]})
    raise InvalidInput(CERTIFICATE_REFUSED, errors={"file": [_("The file is not a PKCS#12 (.p12, .pfx) file.")]})


def _end_entity(certificates: list[x509.Certificate]) -> x509.Certificate | None:
    """The one certificate among `certificates` that is not a CA's (a PKCS#12 whose key matched none of them)."""
    candidates = []
    for certificate in certificates:
        try:
            is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            candidates.append(certificate)
    return candidates[0] if len(candidates) == 1 else None


def _public_der(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _supported_key(key: Any) -> bool:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1)
    return isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048


def _allows_signing(certificate: x509.Certificate) -> bool:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True  # no restriction stated
    return bool(usage.content_commitment)


@transaction.atomic
def import_pkcs12(user: Any, data: bytes, password: str, *, actor: Any = None) -> SignerCredential:
    """Store `user`'s key and certificate from a PKCS#12 file of their Party's own PKI (P6.5).

    Refused field by field, with nothing stored: a file that is not PKCS#12 or a wrong password; no private key or
    no certificate in it; a key that does not belong to the certificate; a certificate not issued by one of the
    Party's registered authorities, not valid now, not allowing signatures, or not naming the user's body and
    position (OU: the body's code, title: head or deputy).
    """
    _check_signatory(user)
    key, certificate, extra = _open_pkcs12(data, password)
    if certificate is None:
        certificate = _end_entity(extra)
    file_errors: list[Any] = []
    if key is None:
        file_errors.append(_("The file holds no private key."))
    if certificate is None:
        file_errors.append(_("The file holds no signer's certificate."))
    if file_errors:
        raise InvalidInput(CERTIFICATE_REFUSED, errors={"file": file_errors})
    assert certificate is not None  # narrowed above, for the type checker
    if _public_der(key.public_key()) != _public_der(certificate.public_key()):
        raise InvalidInput(
            CERTIFICATE_REFUSED, errors={"file": [_("The private key in the file does not belong to its certificate.")]}
        )
    if not _supported_key(key):
        raise InvalidInput(
            CERTIFICATE_REFUSED,
            errors={"file": [_("The key must be ECDSA (P-256, P-384 or P-521) or RSA of at least 2048 bits.")]},
        )
    party = user.body.party
    errors: list[Any] = []
    authority = next(
        (
            candidate
            for candidate in authorities_of(party)
            if is_issued_by(certificate, load_certificate(candidate.certificate_pem))
        ),
        None,
    )
    if authority is None:
        errors.append(
            _("The certificate was not issued by a certificate authority of %(party)s.") % {"party": party.name}
        )
    now = clock.now()
    not_before, not_after = _validity(certificate)
    if not_after <= now:
        errors.append(_("The certificate expired on %(date)s.") % {"date": date_format(not_after, "DATE_FORMAT")})
    elif not_before > now:
        errors.append(
            _("The certificate is not valid before %(date)s.") % {"date": date_format(not_before, "DATE_FORMAT")}
        )
    if not _allows_signing(certificate):
        errors.append(_("The certificate does not allow signing documents (key usage: non-repudiation)."))
    identity = signer_identity(certificate)
    if identity.body_code != user.body.code:
        errors.append(
            _("The certificate does not name the body %(code)s (organisational unit).") % {"code": user.body.code}
        )
    if identity.position != user.role:
        errors.append(
            _("The certificate does not state the position “%(position)s” (title).") % {"position": user.role}
        )
    if SignerCredential.objects.filter(fingerprint_sha256=fingerprint(certificate)).exists():
        errors.append(_("This certificate is already stored."))
    if errors:
        raise InvalidInput(CERTIFICATE_REFUSED, errors={"certificate": errors})
    assert authority is not None  # an error above otherwise
    credential = _store_credential(user, authority, certificate, key, source=CredentialSource.IMPORTED)
    audit.record(
        action=AuditAction.SIGNER_CERTIFICATE_IMPORTED,
        actor=actor,
        body=user.body,
        target=credential,
        data={"signer": user.username, "body": user.body.code, "position": user.role, **_audit_data(certificate)},
    )
    logger.info("signer certificate %s imported for %s", serial_hex(certificate), user.username)
    return credential


def credential_in_use(user: Any) -> SignerCredential | None:
    """The credential `user` signs with now: their newest one not superseded, if any."""
    return SignerCredential.objects.filter(user=user, superseded_at=None).select_related("authority", "body").first()


@dataclass(frozen=True)
class SigningMaterial:
    """A credential opened for one signature: the certificate, the private key (in memory only) and the issuer."""

    certificate: x509.Certificate
    private_key: Any
    issuer: x509.Certificate

    def __repr__(self) -> str:  # never print the key, even in a traceback's locals
        return f"SigningMaterial(serial={serial_hex(self.certificate)})"


def open_credential(credential: SignerCredential) -> SigningMaterial:
    """Decrypt `credential`'s private key for one signature (documents.signing); nothing else should call this."""
    return SigningMaterial(
        certificate=load_certificate(credential.certificate_pem),
        private_key=_open_private_key(credential.private_key_encrypted, fingerprint=credential.fingerprint_sha256),
        issuer=load_certificate(credential.authority.certificate_pem),
    )


# --- the documents key: rotation (`cybercoop keys documents …`, docs/documents.md) ---------------------------------

_SEALED_ROWS = (PartyAuthority, SignerCredential)  # the tables whose `private_key_encrypted` the documents key seals


def _reseal_documents(keys: dict[str, bytes], current: str, batch: int) -> tuple[int, list[str]]:
    """Seal again under the key `current` every private key (of an authority or a signer) under another one; the rows
    whose key does not open are named `table:id`."""

    def reseal(row: Any) -> None:
        if key_id_of(row.private_key_encrypted) in ("", current):  # re-sealed since the list was read
            return
        row.private_key_encrypted = _resealed(
            row.private_key_encrypted, fingerprint=row.fingerprint_sha256, keys=keys, to=current
        )
        row.save(update_fields=["private_key_encrypted"])

    done, left = 0, []
    for model in _SEALED_ROWS:
        stale = [
            pk
            for pk, sealed in model.objects.values_list("pk", "private_key_encrypted")
            if key_id_of(sealed) not in ("", current)
        ]
        count, unreadable = reseal_rows(
            model.objects.filter(pk__in=stale), reseal, unreadable=KeyUnavailable, batch=batch
        )
        done += count
        left += [f"{model._meta.model_name}:{pk}" for pk in unreadable]
    return done, left


def documents_by_key() -> dict[str, int]:
    """How many private keys each documents key id holds."""
    counts: dict[str, int] = {}
    for model in _SEALED_ROWS:
        for sealed in model.objects.values_list("private_key_encrypted", flat=True):
            identifier = key_id_of(sealed)
            if identifier:
                counts[identifier] = counts.get(identifier, 0) + 1
    return counts


ROTATION = Rotation(
    key=KEY,
    reseal=_reseal_documents,
    in_use=documents_by_key,
    record=audit.key_steps(
        rotated=AuditAction.DOCUMENTS_KEY_ROTATED,
        rewrapped=AuditAction.DOCUMENTS_REWRAPPED,
        retired=AuditAction.DOCUMENTS_KEYS_RETIRED,
    ),
)
