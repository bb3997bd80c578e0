"""The documents domain's records: the Parties' certificate authorities and the signers' credentials (P6.5)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class PartyAuthority(models.Model):
    """A Party's certificate authority for the signers of its bodies (P6.5).

    Created on this node (`cybercoop documents ca PARTY`, for a demo or a test), with its private key kept
    encrypted; or registered from the Party's own PKI, with only its certificate. The certificate is public:
    it is what a receiving node checks a signature's chain against.
    """

    party = models.ForeignKey(
        "registry.Party", on_delete=models.PROTECT, related_name="signing_authorities", verbose_name=_("Party")
    )
    subject = models.CharField(_("subject"), max_length=500)
    certificate_pem = models.TextField(_("certificate (PEM)"))
    # AES-GCM under the node's documents key (documents.pki); empty for an authority registered from outside.
    private_key_encrypted = models.BinaryField(_("private key (encrypted)"), blank=True, default=b"", editable=False)
    serial = models.CharField(_("serial number"), max_length=64)
    fingerprint_sha256 = models.CharField(_("SHA-256 fingerprint"), max_length=64, unique=True)
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"))
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("certificate authority")
        verbose_name_plural = _("certificate authorities")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.subject

    @property
    def has_private_key(self) -> bool:
        return bool(self.private_key_encrypted)


class CredentialSource(models.TextChoices):
    """Where a signer's key and certificate came from."""

    ISSUED = "issued", _("Issued by this node")
    IMPORTED = "imported", _("Imported (PKCS#12)")


class SignerCredential(models.Model):
    """The certificate and private key (encrypted) with which a head or a deputy signs official documents (P6.5).

    The certificate names the person, the body and the position; a user has at most one credential in use, the
    newest one; older ones are kept, marked superseded, so the signatures made with them stay attributable.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="signer_credentials",
        verbose_name=_("signer"),
    )
    authority = models.ForeignKey(
        PartyAuthority, on_delete=models.PROTECT, related_name="credentials", verbose_name=_("certificate authority")
    )
    body = models.ForeignKey(
        "registry.Body", on_delete=models.PROTECT, related_name="signer_credentials", verbose_name=_("competent body")
    )
    position = models.CharField(_("position"), max_length=16)
    source = models.CharField(_("source"), max_length=16, choices=CredentialSource.choices)
    subject = models.CharField(_("subject"), max_length=500)
    certificate_pem = models.TextField(_("certificate (PEM)"))
    private_key_encrypted = models.BinaryField(_("private key (encrypted)"), editable=False)
    serial = models.CharField(_("serial number"), max_length=64)
    fingerprint_sha256 = models.CharField(_("SHA-256 fingerprint"), max_length=64, unique=True)
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"))
    created_at = models.DateTimeField(_("created"))
    superseded_at = models.DateTimeField(_("superseded"), null=True, blank=True)

    class Meta:
        verbose_name = _("signer's credential")
        verbose_name_plural = _("signers' credentials")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "superseded_at"], name="documents_credential_in_use")]

    def __str__(self) -> str:
        return self.subject


class DocumentCheck(models.Model):
    """What this node found when it checked the signature of an official document it holds (a signed PDF
    attached to a message): valid or not, why, and who signed it in what position for which body (P6.5)."""

    attachment = models.OneToOneField(
        "exchange.Attachment", on_delete=models.PROTECT, related_name="document_check", verbose_name=_("document")
    )
    valid = models.BooleanField(_("signature valid"))
    reasons = models.JSONField(_("why not"), default=list, blank=True)
    signer_name = models.CharField(_("signed by"), max_length=200, blank=True)
    signer_position = models.CharField(_("position"), max_length=16, blank=True)
    body_code = models.CharField(_("body"), max_length=32, blank=True)
    signed_at = models.DateTimeField(_("signed"), null=True, blank=True)
    certificate_fingerprint = models.CharField(_("SHA-256 fingerprint"), max_length=64, blank=True)
    document_sha256 = models.CharField(_("SHA-256 of the document"), max_length=64)
    checked_at = models.DateTimeField(_("checked"))

    class Meta:
        verbose_name = _("signature check")
        verbose_name_plural = _("signature checks")

    def __str__(self) -> str:
        return f"{self.attachment_id}: {'valid' if self.valid else 'invalid'}"
