"""The documents domain's services for the workflows above it: an official document rendered in Russian and
signed by the head or a deputy with a fresh second factor (P6.3, P6.5, P13), and the check of a signed document
received from another body, against the trust anchors the directory publishes for its Party (P6.5)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import translation

from cybercoop.audit import archive
from cybercoop.audit.models import ArchivedDocument
from cybercoop.core import clock
from cybercoop.documents import otp, pki, render
from cybercoop.documents.models import DocumentCheck

if TYPE_CHECKING:
    from cybercoop.documents.verification import Verification

# `signing` and `verification` load pyHanko (over a second of imports): they are imported where a document is
# signed or checked, so that a process that does neither (most requests, every command) does not pay for them.

PDF = "application/pdf"


@dataclass(frozen=True)
class SignedDocument:
    """A signed official document, ready to travel as the first attachment of its message."""

    pdf: bytes
    sha256: str
    filename: str
    kind: str


def signing_enabled_for(actor: Any, body: Any) -> bool:
    """Does `actor` hold a signing certificate for `body` on this node (so that what they approve is signed)?"""
    credential = pki.credential_in_use(actor)
    return credential is not None and credential.body_id == body.pk


def filename(data: render.DocumentData) -> str:
    """The file name of a document: its kind's Russian title and its number, safe on every file system."""
    with translation.override("ru"):
        title = str(render.DocumentKind(data.kind).label)
    safe = "".join(c if c.isalnum() or c in "-_ " else "-" for c in f"{title} {data.number}").strip()
    return f"{safe[:100]}.pdf"


def sign_document(
    *, data: render.DocumentData, actor: Any, body: Any, code: str = "", second_factor: otp.FreshCode | None = None
) -> SignedDocument:
    """Render `data` in Russian and sign it for `body` as `actor` with the TOTP `code`: RuleViolation (P6.5) when
    `actor` is not its head or a deputy now, InvalidInput for a document that does not fit, a wrong or spent
    code, or no usable certificate. The signed PDF is archived (in the caller's transaction, if any); the caller
    attaches it to its message."""
    from cybercoop.documents import signing

    rendered = render.render(data)
    # Not one transaction with the signing: a wrong code must stay counted (sign_pdf checks it in its own).
    pdf = signing.sign_pdf(
        rendered.pdf,
        actor=actor,
        body=body,
        code=code,
        second_factor=second_factor,
        reason=f"{data.kind}: {data.number}",
    )
    kept = archive_document(pdf=pdf, data=data, body=body, actor=actor)
    return SignedDocument(pdf=pdf, sha256=kept.sha256, filename=filename(data), kind=str(data.kind))


def archive_document(
    *, pdf: bytes, data: render.DocumentData, body: Any, actor: Any, target: Any = None
) -> ArchivedDocument:
    """Keep an official document in the node's archive: its kind, file name and number from `data`, issued by
    `body`, kept by `actor`, belonging to `target` if given (a case, a message). Once per content: the same PDF
    again gives the first record. In the caller's transaction, so that an act that rolls back leaves no record."""
    return archive.keep(
        content=pdf,
        kind=str(data.kind),
        name=filename(data),
        reference=data.number,
        body_code=getattr(body, "code", "") or "",
        target=target,
        actor=actor,
        media_type=PDF,
    )


def check_code(*, actor: Any, code: str) -> otp.FreshCode:
    """Check (and spend) `actor`'s TOTP code now, outside any transaction of the caller's, so that a wrong code
    counts towards the throttling however the caller's work ends; the proof opens one signature a moment later."""
    return otp.verify_fresh_code(actor, code)


def verify_received(*, pdf: bytes, sending_body: Any) -> Verification:
    """Check a signed document from `sending_body`: intact, signed by a certificate of one of its Party's
    authorities (as the directory publishes them), valid when it was signed, stating the head or a deputy of
    that very body (P6.5). Never raises: a document that fails says why."""
    from cybercoop.documents.verification import verify_pdf

    return verify_pdf(
        pdf, trusted_party_cas=pki.trusted_certificates(sending_body.party), expected_body_code=sending_body.code
    )


@transaction.atomic
def record_check(*, attachment: Any, verification: Verification) -> DocumentCheck:
    """Keep what the check of `attachment` found (once per attachment: a second check replaces the first)."""
    values = {
        "valid": verification.valid,
        "reasons": [str(reason) for reason in verification.reasons],
        "signer_name": verification.signer_name[:200],
        "signer_position": verification.signer_position[:16],
        "body_code": verification.body_code[:32],
        "signed_at": verification.signed_at,
        "certificate_fingerprint": verification.certificate_fingerprint[:64],
        "document_sha256": verification.document_sha256,
        "checked_at": clock.now(),
    }
    check, _created = DocumentCheck.objects.update_or_create(attachment=attachment, defaults=values)
    return check


def checks_for(attachment_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, DocumentCheck]:
    """The checks of these attachments, by attachment id (those never checked are absent)."""
    return {
        check.attachment_id: check for check in DocumentCheck.objects.filter(attachment_id__in=list(attachment_ids))
    }
