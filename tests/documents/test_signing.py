"""Signing official documents (PAdES, pyHanko) by the head or a deputy with a fresh TOTP code, and verifying them with
pyHanko (verify_pdf) and with poppler's pdfsig, an independent implementation (P6.5, P9.2, P13)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from pypdf import PdfWriter
from pypdf.generic import NameObject, TextStringObject

from cybercoop.audit.models import AuditEntry
from cybercoop.core import clock, sealed_secrets
from cybercoop.core.errors import InvalidInput, RuleViolation
from cybercoop.documents import pki, signing
from cybercoop.documents.verification import verify_pdf
from tests.documents.signers import *  # noqa: F403 - fixtures
from tests.documents.signers import make_ca, make_signer, material, pdfsig, wrong_code

pytestmark = pytest.mark.django_db


def _sign(sign_unsigned_pdf, user, body, authenticator_for, reason="Запрос о содействии"):
    return signing.sign_pdf(sign_unsigned_pdf, actor=user, body=body, code=authenticator_for.code(), reason=reason)


def _flip_signed_byte(signed: bytes) -> bytes:
    """Change one byte inside the first signed range (in a stream's data, so the file still parses)."""
    position = signed.index(b"stream", signed.index(b"/Type /Page")) + 20
    return signed[:position] + bytes([signed[position] ^ 0x01]) + signed[position + 1 :]


def _append_update(signed: bytes) -> bytes:
    """An incremental update after the signature that changes what the page says (a new title and a text note)."""
    writer = PdfWriter(io.BytesIO(signed), incremental=True)
    writer.add_metadata({"/Title": "Подделка"})
    page = writer.pages[0]
    page[NameObject("/Rotate")] = TextStringObject("90")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


# --- signing and verifying: the happy path ---------------------------------------------------------------------


@pytest.mark.rule("P6.5")
def test_head_signs_and_both_pyhanko_and_pdfsig_verify(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_ca, sign_kz_head_credential, sign_authenticator, tmp_path
):
    signed = _sign(sign_unsigned_pdf, kz_head, kz_body, sign_authenticator(kz_head))

    result = verify_pdf(signed, trusted_party_cas=[sign_kz_ca.certificate_pem], expected_body_code="KZ-MIA")
    assert result.valid, result.reasons
    assert result.reasons == []
    assert result.signer_name == kz_head.full_name
    assert result.signer_position == "head"
    assert result.body_code == "KZ-MIA"
    assert result.certificate_serial == sign_kz_head_credential.serial
    assert result.certificate_fingerprint == sign_kz_head_credential.fingerprint_sha256
    assert result.document_sha256 == hashlib.sha256(signed).hexdigest()
    assert result.signed_at is not None
    assert abs(result.signed_at - clock.now()) < dt.timedelta(minutes=1)

    report = pdfsig(signed, trusting=[sign_kz_ca.certificate_pem], folder=tmp_path / "pdfsig")
    assert report.valid, report.text
    assert "Signature Field Name: Signature1" in report.text
    assert f"Common Name: {kz_head.full_name}" in report.text
    assert "title=head" in report.text
    assert "OU=KZ-MIA" in report.text


@pytest.mark.rule("P6.5")
def test_a_deputy_signs_too(sign_unsigned_pdf, kz_deputy, kz_body, sign_kz_ca, sign_authenticator):
    pki.issue_signer(kz_deputy)
    signed = _sign(sign_unsigned_pdf, kz_deputy, kz_body, sign_authenticator(kz_deputy))
    result = verify_pdf(signed, trusted_party_cas=[sign_kz_ca.certificate_pem], expected_body_code="KZ-MIA")
    assert result.valid, result.reasons
    assert result.signer_position == "deputy"


def test_signing_is_audited_with_metadata_only(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_head_credential, sign_authenticator
):
    signed = _sign(
        sign_unsigned_pdf,
        kz_head,
        kz_body,
        sign_authenticator(kz_head),
        reason="Запрос № KZ-2026-0001 — секретное содержание",
    )
    entry = AuditEntry.objects.get(action="documents:document:signed")
    digest = hashlib.sha256(signed).hexdigest()
    assert entry.actor == kz_head
    assert entry.body == kz_body
    assert entry.object_id == digest
    assert entry.data["sha256"] == digest
    assert entry.data["signer"] == "kz.head"
    assert entry.data["body"] == "KZ-MIA"
    assert entry.data["certificate_serial"] == sign_kz_head_credential.serial
    assert "секретное" not in json.dumps(entry.data, ensure_ascii=False)


# --- tampering -----------------------------------------------------------------------------------------------------


@pytest.mark.rule("P6.5")
def test_a_byte_changed_after_signing_fails_both_verifiers(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_ca, sign_kz_head_credential, sign_authenticator, tmp_path
):
    tampered = _flip_signed_byte(_sign(sign_unsigned_pdf, kz_head, kz_body, sign_authenticator(kz_head)))

    result = verify_pdf(tampered, trusted_party_cas=[sign_kz_ca.certificate_pem], expected_body_code="KZ-MIA")
    assert not result.valid
    assert any("changed after it was signed" in reason for reason in result.reasons), result.reasons

    report = pdfsig(tampered, trusting=[sign_kz_ca.certificate_pem], folder=tmp_path / "pdfsig")
    assert not report.signature_valid, report.text
    assert "Digest Mismatch" in report.text


@pytest.mark.rule("P6.5")
def test_content_appended_after_signing_fails_both_verifiers(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_ca, sign_kz_head_credential, sign_authenticator, tmp_path
):
    signed = _sign(sign_unsigned_pdf, kz_head, kz_body, sign_authenticator(kz_head))
    updated = _append_update(signed)
    assert updated.startswith(signed)  # the signed bytes are untouched: only an update follows them

    result = verify_pdf(updated, trusted_party_cas=[sign_kz_ca.certificate_pem], expected_body_code="KZ-MIA")
    assert not result.valid
    assert any("added to the document after it was signed" in reason for reason in result.reasons), result.reasons

    report = pdfsig(updated, trusting=[sign_kz_ca.certificate_pem], folder=tmp_path / "pdfsig")
    assert not report.whole_document, report.text
    assert not report.valid


def test_an_unsigned_or_unreadable_file_is_not_valid(sign_unsigned_pdf, sign_kz_ca):
    assert verify_pdf(sign_unsigned_pdf, trusted_party_cas=[sign_kz_ca.certificate_pem]).reasons == [
        "The document is not signed."
    ]
    assert verify_pdf(b"not a pdf", trusted_party_cas=[sign_kz_ca.certificate_pem]).reasons == [
        "The file is not a readable PDF."
    ]


# --- who signs ---------------------------------------------------------------------------------------------------


@pytest.mark.rule("P6.5")
def test_an_officer_cannot_sign(sign_unsigned_pdf, kz_officer, kz_body, sign_kz_ca, sign_authenticator):
    with pytest.raises(RuleViolation) as refused:
        signing.sign_pdf(
            sign_unsigned_pdf, actor=kz_officer, body=kz_body, code=sign_authenticator(kz_officer).code(), reason="x"
        )
    assert refused.value.rule_id == "P6.5"
    assert not AuditEntry.objects.filter(action="documents:document:signed").exists()


@pytest.mark.rule("P6.5")
def test_the_head_of_another_body_cannot_sign_for_it(
    sign_unsigned_pdf, ru_head, kz_body, sign_ru_ca, sign_authenticator
):
    pki.issue_signer(ru_head)
    with pytest.raises(RuleViolation):
        signing.sign_pdf(
            sign_unsigned_pdf, actor=ru_head, body=kz_body, code=sign_authenticator(ru_head).code(), reason="x"
        )


@pytest.mark.rule("P6.5")
def test_a_head_who_lost_the_role_cannot_sign_with_the_certificate_issued_before(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_head_credential, sign_authenticator
):
    device = sign_authenticator(kz_head)
    kz_head.role = "officer"
    kz_head.save()
    with pytest.raises(RuleViolation):
        signing.sign_pdf(sign_unsigned_pdf, actor=kz_head, body=kz_body, code=device.code(), reason="x")


def test_a_head_without_a_certificate_is_told_to_get_one(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_ca, sign_authenticator
):
    with pytest.raises(InvalidInput) as refused:
        signing.sign_pdf(
            sign_unsigned_pdf, actor=kz_head, body=kz_body, code=sign_authenticator(kz_head).code(), reason="x"
        )
    assert "certificate" in refused.value.errors


def test_a_head_whose_certificate_expired_cannot_sign(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_ca, sign_authenticator
):
    pki.issue_signer(kz_head, not_before=clock.now() - dt.timedelta(days=800), valid_days=730)
    with pytest.raises(InvalidInput) as refused:
        signing.sign_pdf(
            sign_unsigned_pdf, actor=kz_head, body=kz_body, code=sign_authenticator(kz_head).code(), reason="x"
        )
    assert "not valid now" in str(refused.value.errors["certificate"][0])


# --- the second factor at signing ---------------------------------------------------------------------------------


@pytest.mark.rule("P6.5")
def test_a_wrong_code_is_refused(sign_unsigned_pdf, kz_head, kz_body, sign_kz_head_credential, sign_authenticator):
    device = sign_authenticator(kz_head)
    with pytest.raises(InvalidInput) as refused:
        signing.sign_pdf(sign_unsigned_pdf, actor=kz_head, body=kz_body, code=wrong_code(device.code()), reason="x")
    assert refused.value.errors["code"] == ["The code is wrong."]
    assert not AuditEntry.objects.filter(action="documents:document:signed").exists()


@pytest.mark.rule("P6.5")
def test_a_code_opens_one_signature_only(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_head_credential, sign_authenticator
):
    code = sign_authenticator(kz_head).code()
    signing.sign_pdf(sign_unsigned_pdf, actor=kz_head, body=kz_body, code=code, reason="x")
    with pytest.raises(InvalidInput) as refused:
        signing.sign_pdf(sign_unsigned_pdf, actor=kz_head, body=kz_body, code=code, reason="x")
    assert refused.value.errors["code"] == ["This code has already been used: wait for the next one."]
    assert AuditEntry.objects.filter(action="documents:document:signed").count() == 1


def test_after_a_wrong_code_even_the_right_one_waits(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_head_credential, sign_authenticator
):
    device = sign_authenticator(kz_head)
    right = device.code()
    with pytest.raises(InvalidInput):
        signing.sign_pdf(sign_unsigned_pdf, actor=kz_head, body=kz_body, code=wrong_code(right), reason="x")
    with pytest.raises(InvalidInput) as refused:
        signing.sign_pdf(sign_unsigned_pdf, actor=kz_head, body=kz_body, code=right, reason="x")
    assert "Too many wrong codes" in str(refused.value.errors["code"][0])


@pytest.mark.rule("P6.5")
def test_an_authenticator_sealed_under_another_secrets_key_signs_nothing(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_head_credential, sign_authenticator, settings, tmp_path
):
    settings.SECRETS_KEY_FILE = tmp_path / "another node" / "secrets.key"
    code = sign_authenticator(kz_head).code()  # its secret sealed under that node's key
    settings.SECRETS_KEY_FILE = tmp_path / "this node" / "secrets.key"
    sealed_secrets.node_key(create=True)
    with pytest.raises(InvalidInput) as refused:
        signing.sign_pdf(sign_unsigned_pdf, actor=kz_head, body=kz_body, code=code, reason="x")
    assert str(refused.value.errors["code"][0]).startswith(
        "The authenticator of this account cannot be read on this node: ask the node's administrator to reset"
    )
    assert not AuditEntry.objects.filter(action="documents:document:signed").exists()


def test_a_head_without_a_second_factor_is_told_to_enrol(sign_unsigned_pdf, kz_head, kz_body, sign_kz_head_credential):
    with pytest.raises(InvalidInput) as refused:
        signing.sign_pdf(sign_unsigned_pdf, actor=kz_head, body=kz_body, code="123456", reason="x")
    assert "enrol" in str(refused.value.errors["code"][0])


# --- certificates that must not verify ------------------------------------------------------------------------------


@pytest.mark.rule("P6.5")
def test_a_signature_by_a_foreign_authority_fails_both_verifiers(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_ca, sign_ru_ca, sign_kz_head_credential, sign_authenticator, tmp_path
):
    signed = _sign(sign_unsigned_pdf, kz_head, kz_body, sign_authenticator(kz_head))

    result = verify_pdf(signed, trusted_party_cas=[sign_ru_ca.certificate_pem], expected_body_code="KZ-MIA")
    assert not result.valid
    assert result.reasons == [
        "The signer's certificate was not issued by a certificate authority of the sending Party."
    ]

    report = pdfsig(signed, trusting=[sign_ru_ca.certificate_pem], folder=tmp_path / "pdfsig")
    assert report.signature_valid  # the bytes are intact …
    assert not report.certificate_trusted, report.text  # … but the signer is nobody NSS trusts


@pytest.mark.rule("P6.5")
def test_a_certificate_for_another_body_fails(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_ca, sign_kz_head_credential, sign_authenticator
):
    signed = _sign(sign_unsigned_pdf, kz_head, kz_body, sign_authenticator(kz_head))
    result = verify_pdf(signed, trusted_party_cas=[sign_kz_ca.certificate_pem], expected_body_code="KZ-FSB")
    assert not result.valid
    assert result.reasons == ["The signer's certificate was issued for the body “KZ-MIA”, not “KZ-FSB”."]


@pytest.mark.rule("P6.5")
def test_a_certificate_without_the_role_fails_both_verifiers(sign_unsigned_pdf, kz_body, tmp_path):
    party_pki = make_ca("Kazakhstan signing CA")
    officer = make_signer(party_pki, title="officer")
    signed = signing.sign_with(sign_unsigned_pdf, material=material(officer, party_pki), reason="x", at=clock.now())

    result = verify_pdf(signed, trusted_party_cas=[party_pki.pem], expected_body_code="KZ-MIA")
    assert not result.valid
    assert result.reasons == [
        "The signer's certificate does not state that its holder is the head or a deputy head of a body."
    ]
    assert result.signer_position == "officer"


@pytest.mark.rule("P6.5")
def test_a_signature_made_with_an_expired_certificate_fails_both_verifiers(
    sign_unsigned_pdf, kz_head, sign_kz_ca, tmp_path
):
    # An attacker holding an old key signs today; CyberCoop itself refuses to (test above).
    old = pki.issue_signer(kz_head, not_before=clock.now() - dt.timedelta(days=800), valid_days=730)
    signed = signing.sign_with(sign_unsigned_pdf, material=pki.open_credential(old), reason="x", at=clock.now())

    result = verify_pdf(signed, trusted_party_cas=[sign_kz_ca.certificate_pem], expected_body_code="KZ-MIA")
    assert not result.valid
    assert result.reasons == ["The signer's certificate was not valid when the document was signed."]

    report = pdfsig(signed, trusting=[sign_kz_ca.certificate_pem], folder=tmp_path / "pdfsig")
    assert not report.certificate_trusted, report.text


def test_a_signature_made_while_the_certificate_was_valid_stays_valid_after_it_expires(
    sign_unsigned_pdf, kz_head, sign_kz_ca, clock
):
    credential = pki.issue_signer(kz_head, valid_days=30)
    signed = signing.sign_with(sign_unsigned_pdf, material=pki.open_credential(credential), reason="x", at=clock.now())
    clock.advance(dt.timedelta(days=60))
    result = verify_pdf(signed, trusted_party_cas=[sign_kz_ca.certificate_pem], expected_body_code="KZ-MIA")
    assert result.valid, result.reasons


def test_a_signing_time_in_the_future_is_not_believed(sign_unsigned_pdf, kz_head, sign_kz_ca, sign_kz_head_credential):
    at = clock.now() + dt.timedelta(days=1)
    signed = signing.sign_with(
        sign_unsigned_pdf, material=pki.open_credential(sign_kz_head_credential), reason="x", at=at
    )
    result = verify_pdf(signed, trusted_party_cas=[sign_kz_ca.certificate_pem], expected_body_code="KZ-MIA")
    assert result.reasons == ["The signature claims to have been made in the future."]


# --- the private key stays private ------------------------------------------------------------------------------


def test_the_private_key_is_in_no_audit_entry_and_no_log(
    sign_unsigned_pdf, kz_head, kz_body, sign_kz_ca, sign_authenticator, caplog
):
    caplog.set_level(logging.DEBUG)
    credential = pki.issue_signer(kz_head)
    _sign(sign_unsigned_pdf, kz_head, kz_body, sign_authenticator(kz_head))
    key = pki.open_credential(credential).private_key
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    secrets = [
        der.hex(),
        pem.decode().splitlines()[1],  # the first line of base64 (64 characters of the key)
        format(key.private_numbers().private_value, "x"),
        str(key.private_numbers().private_value),
    ]
    audit_text = json.dumps([entry.data for entry in AuditEntry.objects.all()])
    assert AuditEntry.objects.filter(action="documents:signer_certificate:issued").exists()
    assert caplog.text  # something was logged, so the check below looks at real lines
    for secret in secrets:
        assert secret not in audit_text
        assert secret not in caplog.text
    assert "PRIVATE KEY" not in audit_text + caplog.text
    assert repr(pki.open_credential(credential)).startswith("SigningMaterial(serial=")
