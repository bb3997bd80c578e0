"""Verifying a signed official document on receipt (P6.5, P9.2): the signature is intact and covers the document,
its certificate chains to the sending Party's authority, was valid when it signed, and names the head or a deputy of
the expected body."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.utils.translation import gettext as _
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from cybercoop.core import clock
from cybercoop.documents import pki

logger = logging.getLogger(__name__)

# A signing time ahead of this node's clock by more than this is not believed (clocks differ a little).
CLOCK_TOLERANCE = dt.timedelta(minutes=5)
# Additions after the signature that change nothing signed: validation data (DSS) and document timestamps.
_HARMLESS_ADDITIONS = frozenset({ModificationLevel.NONE, ModificationLevel.LTA_UPDATES})


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a signed PDF: valid or not, why not (translated), and what the signature says."""

    valid: bool
    reasons: list[str] = field(default_factory=list)
    signer_name: str = ""
    signer_position: str = ""  # "head" or "deputy", as the certificate states it (accounts.rules.Role)
    body_code: str = ""
    signed_at: dt.datetime | None = None
    certificate_serial: str = ""
    certificate_fingerprint: str = ""
    document_sha256: str = ""


def _invalid(reason: str, digest: str) -> Verification:
    return Verification(valid=False, reasons=[reason], document_sha256=digest)


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _authorities(values: Iterable[str | bytes | x509.Certificate]) -> list[x509.Certificate]:
    authorities = []
    for value in values:
        try:
            authorities.append(pki.load_certificate(value))
        except ValueError:
            logger.warning("a trusted authority given to verify_pdf is not a certificate; it is ignored")
    return authorities


def verify_pdf(
    pdf: bytes,
    *,
    trusted_party_cas: Iterable[str | bytes | x509.Certificate],
    expected_body_code: str | None = None,
) -> Verification:
    """Check the one signature of `pdf` against the sending Party's authorities (PEM or certificates).

    Never raises for a bad document: every problem is a reason in the result, in the active language.
    """
    digest = hashlib.sha256(pdf).hexdigest()
    try:
        signatures = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
    except Exception:  # any malformed input: the file comes from outside
        return _invalid(_("The file is not a readable PDF."), digest)
    if not signatures:
        return _invalid(_("The document is not signed."), digest)
    if len(signatures) > 1:
        return _invalid(_("The document carries more than one signature; one is expected."), digest)
    embedded = signatures[0]
    authorities = _authorities(trusted_party_cas)
    now = clock.now()
    try:
        claimed_at = embedded.self_reported_timestamp
        context = ValidationContext(
            trust_roots=[_asn1(authority) for authority in authorities],
            allow_fetching=False,
            revocation_mode="soft-fail",
            # The certificate must have been valid when the document was signed, not necessarily today.
            moment=claimed_at or now,
        )
        status = validate_pdf_signature(embedded, context)
        certificate = x509.load_der_x509_certificate(status.signing_cert.dump())
    except Exception:  # a signature pyHanko cannot even evaluate (damaged CMS, unknown algorithm …)
        logger.info("signature of document %s could not be evaluated", digest, exc_info=True)
        return _invalid(_("The signature could not be read."), digest)

    reasons: list[str] = []
    if not status.intact:
        reasons.append(_("The document was changed after it was signed: its content does not match the signature."))
    elif not status.valid:
        reasons.append(_("The signature is not cryptographically valid."))
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE and status.modification_level not in _HARMLESS_ADDITIONS:
        reasons.append(_("Content was added to the document after it was signed."))
    elif status.docmdp_ok is False:
        reasons.append(_("The document was changed after it was signed, in a way its signature does not allow."))

    signed_at = status.signer_reported_dt
    chained = any(pki.is_issued_by(certificate, authority) for authority in authorities)
    if not chained:
        reasons.append(_("The signer's certificate was not issued by a certificate authority of the sending Party."))
    if signed_at is None:
        reasons.append(_("The signature does not state when it was made."))
    elif signed_at > now + CLOCK_TOLERANCE:
        reasons.append(_("The signature claims to have been made in the future."))
    elif not certificate.not_valid_before_utc <= signed_at <= certificate.not_valid_after_utc:
        reasons.append(_("The signer's certificate was not valid when the document was signed."))
    elif chained and not status.trusted:
        reasons.append(_("The signer's certificate chain could not be validated."))

    identity = pki.signer_identity(certificate)
    if identity.position not in pki.SIGNATORY_POSITIONS:
        reasons.append(
            _("The signer's certificate does not state that its holder is the head or a deputy head of a body.")
        )
    if expected_body_code is not None and identity.body_code != expected_body_code:
        reasons.append(
            _("The signer's certificate was issued for the body “%(found)s”, not “%(expected)s”.")
            % {"found": identity.body_code or "—", "expected": expected_body_code}
        )
    return Verification(
        valid=not reasons,
        reasons=reasons,
        signer_name=identity.name,
        signer_position=identity.position,
        body_code=identity.body_code,
        signed_at=signed_at,
        certificate_serial=pki.serial_hex(certificate),
        certificate_fingerprint=pki.fingerprint(certificate),
        document_sha256=digest,
    )
