"""Signing an official document (P6.5, P9.2): PAdES B-B with pyHanko, by the head or a deputy of the body at that
moment, with a fresh second-factor code, using their stored credential (its key decrypted in memory only)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from typing import Any

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore

from cybercoop.audit import services as audit
from cybercoop.audit.rules import AuditAction
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.documents import otp, pki

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = "Signature1"
DOCUMENT_NOT_SIGNED = _("The document could not be signed.")


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _asn1_private_key(private_key: Any) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(
        private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


class _ClockedPdfSigner(signers.PdfSigner):
    """pyHanko's signer with the signing time from `core.clock` (pyHanko reads the wall clock otherwise)."""

    def __init__(self, *args: Any, at: dt.datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._at = at

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._at
        return session


def sign_with(
    pdf: bytes,
    *,
    material: pki.SigningMaterial,
    reason: str,
    at: dt.datetime,
    field_name: str = SIGNATURE_FIELD,
) -> bytes:
    """PAdES B-B signature of `pdf` with an opened credential, dated `at`; no checks of who signs (see sign_pdf)."""
    signer = signers.SimpleSigner(
        signing_cert=_asn1_certificate(material.certificate),
        signing_key=_asn1_private_key(material.private_key),
        cert_registry=SimpleCertificateStore.from_certs([_asn1_certificate(material.issuer)]),
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        reason=reason,
        name=pki.signer_identity(material.certificate).name,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    output = _ClockedPdfSigner(metadata, signer=signer, at=at).sign_pdf(writer, output=io.BytesIO())
    return bytes(output.getvalue())


def sign_pdf(
    pdf: bytes, *, actor: Any, body: Any, code: str = "", reason: str, second_factor: otp.FreshCode | None = None
) -> bytes:
    """Sign `pdf` for `body` as `actor`, who must be its head or a deputy now (P6.5) and give a fresh TOTP code.

    The code is checked (and spent) before anything is signed, in its own transaction, so a wrong code counts
    towards django-otp's throttling even though the signing is refused. Audited with metadata only: the signer,
    the body, the certificate and the SHA-256 of the signed PDF.
    """
    # P6.5: the role at this moment, not the one the certificate recorded when it was issued.
    if not actor.is_active or actor.body_id != body.pk or actor.role not in pki.SIGNATORY_POSITIONS:
        raise RuleViolation(
            "P6.5", _("Only the head of %(body)s or a deputy head may sign its documents.") % {"body": body.name}
        )
    credential = pki.credential_in_use(actor)
    now = clock.now()
    if credential is None or credential.body_id != body.pk:
        raise InvalidInput(
            DOCUMENT_NOT_SIGNED,
            errors={"certificate": [_("You have no signing certificate for this body: ask for one to be issued.")]},
        )
    if credential.position != actor.role:
        raise InvalidInput(
            DOCUMENT_NOT_SIGNED,
            errors={"certificate": [_("Your signing certificate names another position: ask for a new one.")]},
        )
    if not credential.not_before <= now < credential.not_after:
        raise InvalidInput(
            DOCUMENT_NOT_SIGNED,
            errors={"certificate": [_("Your signing certificate is not valid now: ask for a new one.")]},
        )
    if second_factor is None:
        otp.verify_fresh_code(actor, code)
    elif not otp.is_fresh(second_factor, actor):
        raise InvalidInput(DOCUMENT_NOT_SIGNED, errors={"code": [_("The code was not accepted.")]})
    try:
        signed = sign_with(pdf, material=pki.open_credential(credential), reason=reason, at=now)
    except (PdfReadError, ValueError) as error:
        logger.warning("signing refused for %s: the PDF could not be read (%s)", actor.username, type(error).__name__)
        raise InvalidInput(DOCUMENT_NOT_SIGNED, errors={"pdf": [_("The file is not a readable PDF.")]}) from error
    digest = hashlib.sha256(signed).hexdigest()
    with transaction.atomic():
        audit.record(
            action=AuditAction.DOCUMENT_SIGNED,
            actor=actor,
            body=body,
            target=("documents.pdf", digest),
            data={
                "signer": actor.username,
                "body": body.code,
                "position": actor.role,
                "certificate_serial": credential.serial,
                "certificate_fingerprint_sha256": credential.fingerprint_sha256,
                "sha256": digest,
                "unsigned_sha256": hashlib.sha256(pdf).hexdigest(),
            },
        )
    logger.info("document %s signed by %s for %s", digest, actor.username, body.code)
    return signed
