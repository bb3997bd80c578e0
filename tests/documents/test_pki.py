"""Signers' keys and certificates (P6.5): Party CAs, issued and imported (PKCS#12) certificates, their private keys
encrypted at rest, the `cybercoop documents` command, and the TOTP enrolment of the second factor."""

from __future__ import annotations

import base64
import datetime as dt
import io
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID
from django.core.management import CommandError, call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from cybercoop import cli
from cybercoop.audit.models import AuditEntry
from cybercoop.core import clock
from cybercoop.core.errors import InvalidInput
from cybercoop.documents import otp, pki
from cybercoop.documents.models import CredentialSource, PartyAuthority, SignerCredential
from tests.documents.signers import *  # noqa: F403 - fixtures
from tests.documents.signers import make_ca, make_pkcs12, make_signer, wrong_code

pytestmark = pytest.mark.django_db


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    return str(certificate.subject.get_attributes_for_oid(oid)[0].value)


# --- certificate authorities and issued certificates ---------------------------------------------------------------


def test_a_party_ca_is_a_p256_ca_with_its_key_encrypted(kz_body, sign_documents_key):
    authority = pki.create_party_ca(kz_body.party)
    certificate = x509.load_pem_x509_certificate(authority.certificate_pem.encode())
    assert certificate.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    assert certificate.public_key().curve.name == "secp256r1"
    assert _attribute(certificate, NameOID.COUNTRY_NAME) == "KZ"
    assert _attribute(certificate, NameOID.ORGANIZATION_NAME) == "Республика Казахстан"
    assert authority.has_private_key
    assert b"PRIVATE" not in bytes(authority.private_key_encrypted)
    # The node's documents key: created on first use, 32 bytes, readable by the owner only.
    assert stat.S_IMODE(sign_documents_key.stat().st_mode) == 0o600
    assert len(base64.urlsafe_b64decode(sign_documents_key.read_text().strip())) == 32
    entry = AuditEntry.objects.get(action="documents:authority:created")
    assert entry.data["party"] == "KZ"
    assert entry.data["fingerprint_sha256"] == authority.fingerprint_sha256


@pytest.mark.rule("P6.5")
def test_the_head_gets_a_certificate_naming_the_person_the_body_and_the_position(kz_head, sign_kz_ca):
    credential = pki.issue_signer(kz_head)
    certificate = x509.load_pem_x509_certificate(credential.certificate_pem.encode())
    assert _attribute(certificate, NameOID.COMMON_NAME) == kz_head.full_name
    assert _attribute(certificate, NameOID.ORGANIZATION_NAME) == kz_head.body.name_ru
    assert _attribute(certificate, NameOID.ORGANIZATIONAL_UNIT_NAME) == "KZ-MIA"
    assert _attribute(certificate, NameOID.TITLE) == "head"
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    assert certificate.issuer == x509.load_pem_x509_certificate(sign_kz_ca.certificate_pem.encode()).subject
    assert pki.is_issued_by(certificate, pki.load_certificate(sign_kz_ca.certificate_pem))
    assert (credential.not_after - credential.not_before).days == pki.SIGNER_VALID_DAYS
    assert credential.source == CredentialSource.ISSUED
    assert credential.position == "head"
    assert pki.credential_in_use(kz_head) == credential
    entry = AuditEntry.objects.get(action="documents:signer_certificate:issued")
    assert (entry.data["signer"], entry.data["body"], entry.data["position"]) == ("kz.head", "KZ-MIA", "head")


def test_a_new_certificate_supersedes_the_old_one(kz_head, sign_kz_ca):
    first = pki.issue_signer(kz_head)
    second = pki.issue_signer(kz_head)
    first.refresh_from_db()
    assert first.superseded_at is not None
    assert pki.credential_in_use(kz_head) == second


@pytest.mark.rule("P6.5")
def test_an_officer_gets_no_signing_certificate(kz_officer, sign_kz_ca):
    with pytest.raises(InvalidInput) as refused:
        pki.issue_signer(kz_officer)
    assert "head of a body or a deputy" in str(refused.value.errors["user"][0])
    assert not SignerCredential.objects.exists()


def test_no_certificate_without_a_party_ca(kz_head):
    with pytest.raises(InvalidInput) as refused:
        pki.issue_signer(kz_head)
    assert "no certificate authority" in str(refused.value.errors["user"][0])


# --- encryption at rest ----------------------------------------------------------------------------------------


def test_the_stored_key_is_encrypted_and_opens_only_for_its_own_certificate(kz_head, kz_deputy, sign_kz_ca):
    head = pki.issue_signer(kz_head)
    deputy = pki.issue_signer(kz_deputy)
    key = pki.open_credential(head).private_key
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert der not in bytes(head.private_key_encrypted)
    assert der[-32:] not in bytes(head.private_key_encrypted)
    assert key.public_key().public_numbers() == pki.load_certificate(head.certificate_pem).public_key().public_numbers()

    # A sealed key copied onto another credential's row does not open there.
    SignerCredential.objects.filter(pk=deputy.pk).update(private_key_encrypted=head.private_key_encrypted)
    deputy.refresh_from_db()
    with pytest.raises(pki.KeyUnavailable):
        pki.open_credential(deputy)


def test_a_replaced_documents_key_says_the_stored_keys_cannot_be_used(kz_head, sign_kz_ca, sign_documents_key):
    credential = pki.issue_signer(kz_head)
    sign_documents_key.write_text(base64.urlsafe_b64encode(b"\x01" * 32).decode())
    with pytest.raises(pki.KeyUnavailable) as refused:
        pki.open_credential(credential)
    assert "another documents key" in str(refused.value.message)


def test_a_documents_key_file_that_holds_no_key_is_refused_not_replaced(kz_head, sign_documents_key):
    from django.core.exceptions import ImproperlyConfigured

    sign_documents_key.parent.mkdir(parents=True)
    sign_documents_key.write_text("not a key\n")
    with pytest.raises(ImproperlyConfigured, match="does not hold a 256-bit key"):
        pki.create_party_ca(kz_head.body.party)
    assert sign_documents_key.read_text() == "not a key\n"
    assert not PartyAuthority.objects.exists()


# --- PKCS#12 from the Party's own PKI ----------------------------------------------------------------------------


@pytest.fixture
def sign_party_pki(kz_body):
    """Kazakhstan's own PKI: its CA registered on this node (certificate only)."""
    ca = make_ca("Kazakhstan national signing CA")
    pki.register_party_ca(kz_body.party, ca.pem)
    return ca


@pytest.mark.rule("P6.5")
def test_a_pkcs12_of_the_party_pki_is_imported(kz_head, sign_party_pki):
    signer = make_signer(sign_party_pki, name=kz_head.full_name)
    data = make_pkcs12(key=signer.key, certificate=signer.certificate, cas=[sign_party_pki.certificate])
    credential = pki.import_pkcs12(kz_head, data, "p12-secret")
    assert credential.source == CredentialSource.IMPORTED
    assert credential.authority.has_private_key is False
    assert credential.fingerprint_sha256 == pki.fingerprint(signer.certificate)
    opened = pki.open_credential(credential).private_key
    assert opened.private_numbers() == signer.key.private_numbers()
    entry = AuditEntry.objects.get(action="documents:signer_certificate:imported")
    assert entry.data["serial"] == credential.serial
    assert AuditEntry.objects.filter(action="documents:authority:registered").count() == 1


def _refused(user, data: bytes, password: str = "p12-secret") -> dict:  # noqa: S107 - a test file's password
    with pytest.raises(InvalidInput) as refused:
        pki.import_pkcs12(user, data, password)
    assert not SignerCredential.objects.exists()
    assert not AuditEntry.objects.filter(action="documents:signer_certificate:imported").exists()
    return {field: [str(text) for text in texts] for field, texts in refused.value.errors.items()}


def test_a_wrong_password_is_refused_and_nothing_stored(kz_head, sign_party_pki):
    signer = make_signer(sign_party_pki)
    data = make_pkcs12(key=signer.key, certificate=signer.certificate)
    assert _refused(kz_head, data, "wrong password") == {"password": ["The password does not open this file."]}


def test_a_file_that_is_not_pkcs12_is_refused(kz_head, sign_party_pki):
    assert _refused(kz_head, b"-----BEGIN CERTIFICATE-----\nnot really\n") == {
        "file": ["The file is not a PKCS#12 (.p12, .pfx) file."]
    }


def test_a_pkcs12_without_a_private_key_is_refused(kz_head, sign_party_pki):
    signer = make_signer(sign_party_pki)
    data = make_pkcs12(certificate=signer.certificate, cas=[sign_party_pki.certificate])
    assert _refused(kz_head, data) == {"file": ["The file holds no private key."]}


def test_a_key_that_does_not_belong_to_the_certificate_is_refused(kz_head, sign_party_pki):
    signer = make_signer(sign_party_pki)
    stranger = make_signer(sign_party_pki)
    # OpenSSL will not bundle a key with a certificate it does not match; as an extra certificate it will.
    data = make_pkcs12(key=stranger.key, cas=[signer.certificate])
    assert _refused(kz_head, data) == {"file": ["The private key in the file does not belong to its certificate."]}


def test_a_certificate_from_another_authority_is_refused(kz_head, sign_party_pki):
    other = make_ca("Somebody else's CA")
    signer = make_signer(other)
    errors = _refused(kz_head, make_pkcs12(key=signer.key, certificate=signer.certificate))
    party = kz_head.body.party.name  # in the language of the message
    assert errors == {"certificate": [f"The certificate was not issued by a certificate authority of {party}."]}


def test_an_expired_certificate_is_refused(kz_head, sign_party_pki):
    signer = make_signer(sign_party_pki, not_before=clock.now() - dt.timedelta(days=400), days=365)
    errors = _refused(kz_head, make_pkcs12(key=signer.key, certificate=signer.certificate))
    assert len(errors["certificate"]) == 1
    assert errors["certificate"][0].startswith("The certificate expired on ")


def test_a_certificate_for_another_body_or_position_is_refused(kz_head, sign_party_pki):
    signer = make_signer(sign_party_pki, body_code="KZ-KNB", title="deputy", non_repudiation=False)
    errors = _refused(kz_head, make_pkcs12(key=signer.key, certificate=signer.certificate))
    assert errors == {
        "certificate": [
            "The certificate does not allow signing documents (key usage: non-repudiation).",
            "The certificate does not name the body KZ-MIA (organisational unit).",
            "The certificate does not state the position “head” (title).",
        ]
    }


def test_an_officer_cannot_import_a_signing_certificate(kz_officer, sign_party_pki):
    signer = make_signer(sign_party_pki, title="officer")
    assert _refused(kz_officer, make_pkcs12(key=signer.key, certificate=signer.certificate)) == {
        "user": ["Only the head of a body or a deputy head signs official documents (P6.5)."]
    }


def test_a_ca_certificate_that_is_no_ca_is_not_registered(kz_body, sign_party_pki):
    signer = make_signer(sign_party_pki)
    with pytest.raises(InvalidInput) as refused:
        pki.register_party_ca(kz_body.party, signer.pem)
    assert "not a certificate authority" in str(refused.value.errors["certificate"][0])
    assert PartyAuthority.objects.count() == 1


# --- the command ----------------------------------------------------------------------------------------------------


def test_the_command_creates_a_ca_issues_and_imports(kz_head, kz_deputy, monkeypatch, tmp_path):
    out = io.StringIO()
    call_command("documents", "ca", "KZ", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("-----BEGIN CERTIFICATE-----")

    out = io.StringIO()
    call_command("documents", "issue", "kz.head", "--days", "30", stdout=out)
    credential = pki.credential_in_use(kz_head)
    assert credential is not None
    assert (credential.not_after - credential.not_before).days == 30
    assert credential.serial in out.getvalue()

    own = make_ca("Kazakhstan national signing CA")
    (tmp_path / "ca.pem").write_text(own.pem)
    call_command(
        "documents", "ca", "KZ", "--register", str(tmp_path / "ca.pem"), stdout=io.StringIO(), stderr=io.StringIO()
    )
    signer = make_signer(own, name=kz_deputy.full_name, title="deputy")
    (tmp_path / "deputy.p12").write_bytes(make_pkcs12(key=signer.key, certificate=signer.certificate))
    monkeypatch.setenv("CYBERCOOP_PKCS12_PASSWORD", "wrong")
    with pytest.raises(CommandError, match="password: The password does not open this file"):
        call_command("documents", "import", "kz.deputy", str(tmp_path / "deputy.p12"))
    monkeypatch.setenv("CYBERCOOP_PKCS12_PASSWORD", "p12-secret")
    call_command("documents", "import", "kz.deputy", str(tmp_path / "deputy.p12"), stdout=io.StringIO())
    assert pki.credential_in_use(kz_deputy).source == CredentialSource.IMPORTED

    out = io.StringIO()
    call_command("documents", "show", "KZ", stdout=out)
    assert "kz.head" in out.getvalue()
    assert "kz.deputy" in out.getvalue()
    assert "certificate only" in out.getvalue()


def test_the_command_refuses_an_unknown_party_or_user(kz_head):
    with pytest.raises(CommandError, match="no Party 'XX'"):
        call_command("documents", "ca", "XX")
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("documents", "issue", "nobody")


def test_cybercoop_documents_is_a_top_level_command():
    assert "documents" in cli.COMMAND_ALIASES
    args = cli.build_parser().parse_args(["documents", "show", "KZ"])
    assert args.rest == ["show", "KZ"]


# --- enrolling the second factor -----------------------------------------------------------------------------


def _code_of(secret: str, *, step: int = 0) -> str:
    totp = TOTP(base64.b32decode(secret), 30, 0, 6, 0)
    totp.time = totp.time + step * 30
    return f"{totp.token():06d}"


def test_a_user_enrols_an_authenticator_with_the_qr_code_and_a_first_code(kz_head, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the replay below would otherwise make the next code wait a second
    enrolment = otp.start_enrolment(kz_head)
    assert enrolment.url.startswith("otpauth://totp/")
    assert f"secret={enrolment.secret}" in enrolment.url
    assert enrolment.qr_svg.startswith("<svg")
    assert enrolment.secret not in repr(enrolment)
    assert not otp.has_second_factor(kz_head)

    otp.confirm_enrolment(kz_head, _code_of(enrolment.secret))
    assert otp.has_second_factor(kz_head)
    assert AuditEntry.objects.filter(action="documents:second_factor:enrolled", actor=kz_head).exists()
    # The code that confirmed the enrolment is spent; the next one opens a signature.
    with pytest.raises(InvalidInput):
        otp.verify_fresh_code(kz_head, _code_of(enrolment.secret))
    otp.verify_fresh_code(kz_head, _code_of(enrolment.secret, step=1))


def test_a_wrong_first_code_leaves_the_enrolment_unconfirmed(kz_head):
    enrolment = otp.start_enrolment(kz_head)
    with pytest.raises(InvalidInput) as refused:
        otp.confirm_enrolment(kz_head, f"{(int(_code_of(enrolment.secret)) + 1) % 1_000_000:06d}")
    assert refused.value.errors == {"code": ["The code is wrong."]}
    assert not otp.has_second_factor(kz_head)
    assert TOTPDevice.objects.get(user=kz_head).throttling_failure_count == 1  # the failure was committed


def test_replacing_the_authenticator_needs_the_current_one(kz_head):
    first = otp.start_enrolment(kz_head)
    otp.confirm_enrolment(kz_head, _code_of(first.secret))
    second = otp.start_enrolment(kz_head)
    with pytest.raises(InvalidInput) as refused:
        otp.confirm_enrolment(kz_head, _code_of(second.secret))
    assert set(refused.value.errors) == {"current_code"}
    otp.confirm_enrolment(kz_head, _code_of(second.secret), current_code=_code_of(first.secret, step=1))
    assert TOTPDevice.objects.filter(user=kz_head).count() == 1
    otp.verify_fresh_code(kz_head, _code_of(second.secret, step=1))


def test_the_enrolment_page_shows_the_qr_code_and_confirms_with_a_first_code(client, kz_head):
    client.force_login(kz_head)
    r = client.get("/documents/second-factor/")
    assert r.status_code == 200
    assert "second-factor-qr" not in r.text

    r = client.post("/documents/second-factor/", {"action": "start"}, follow=True)
    assert 'data-testid="second-factor-qr"' in r.text
    assert TOTPDevice.objects.filter(user=kz_head, confirmed=False).count() == 1
    enrolment = otp.pending_enrolment(kz_head)
    assert enrolment is not None
    assert enrolment.secret in r.text

    r = client.post("/documents/second-factor/", {"action": "confirm", "code": wrong_code(_code_of(enrolment.secret))})
    assert r.status_code == 422
    assert not otp.has_second_factor(kz_head)

    TOTPDevice.objects.filter(user=kz_head).update(throttling_failure_count=0)  # no waiting out the throttle here
    r = client.post("/documents/second-factor/", {"action": "confirm", "code": _code_of(enrolment.secret)}, follow=True)
    assert r.status_code == 200
    assert otp.has_second_factor(kz_head)
    assert "second-factor-qr" not in r.text


def test_the_enrolment_page_needs_a_signed_in_user(client):
    r = client.get("/documents/second-factor/")
    assert r.status_code == 302
    assert "/accounts/sign-in/" in r["Location"]
