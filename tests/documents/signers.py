"""Fixtures and helpers for the signing tests: the node's documents key in a temporary folder, Party CAs and
signers, an sign_authenticator app that gives fresh TOTP codes, a Party's "own PKI" built here with `cryptography`,
test PDFs made with WeasyPrint, and poppler's `pdfsig` with an NSS database trusting a given CA.

Imported by the test modules with `from tests.documents.signers import *` so pytest sees the fixtures.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.utils import translation

from cybercoop.core import clock
from cybercoop.documents import pki
from tests.accounts.second_factor import Authenticator, wrong_code  # noqa: F401 - re-exported for the documents' tests


@pytest.fixture(autouse=True)
def sign_messages_in_english():
    """These tests read the services' messages in English (Russian is checked by the i18n test and the pages)."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def sign_documents_key(settings, tmp_path) -> Path:
    """Each test has its own node documents key (never the shared var/ folder)."""
    settings.DOCUMENTS_KEY_FILE = tmp_path / "node" / "documents" / "keys.key"
    return settings.DOCUMENTS_KEY_FILE


@functools.cache
def _html_pdf() -> bytes:
    from weasyprint import HTML

    return HTML(
        string=(
            "<html lang='ru'><body style='font-family: DejaVu Sans'>"
            "<h1>Запрос о содействии № KZ-2026-0001</h1>"
            "<p>Министерство внутренних дел Республики Казахстан просит оказать содействие. "
            "Қазақ тілі: әғқңөұүһі.</p></body></html>"
        )
    ).write_pdf()


@pytest.fixture
def sign_unsigned_pdf() -> bytes:
    """A small unsigned official-looking PDF (Russian and Kazakh letters)."""
    return _html_pdf()


@pytest.fixture
def sign_kz_ca(kz_body):
    return pki.create_party_ca(kz_body.party)


@pytest.fixture
def sign_ru_ca(ru_body):
    return pki.create_party_ca(ru_body.party)


@pytest.fixture
def sign_kz_head_credential(kz_head, sign_kz_ca):
    return pki.issue_signer(kz_head)


@pytest.fixture
def sign_authenticator():
    return Authenticator


# --- a Party's own PKI, outside CyberCoop -------------------------------------------------------------------------


@dataclass
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_ca(name: str, *, country: str = "KZ", days: int = 3650) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, country), x509.NameAttribute(NameOID.COMMON_NAME, name)]
    )
    now = clock.now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def make_signer(
    ca: Issued,
    *,
    name: str = "Ахметов Ерлан",
    body_code: str = "KZ-MIA",
    title: str = "head",
    not_before: dt.datetime | None = None,
    days: int = 365,
    non_repudiation: bool = True,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or clock.now() - dt.timedelta(hours=1)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, body_code),
            x509.NameAttribute(NameOID.TITLE, title),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=non_repudiation,
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
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(certificate, key)


def make_pkcs12(
    *,
    key=None,
    certificate=None,
    cas: list[x509.Certificate] | None = None,
    password: str | None = "p12-secret",  # noqa: S107 - a test file's password
) -> bytes:
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"signer", key, certificate, cas, encryption)


def material(signer: Issued, ca: Issued) -> pki.SigningMaterial:
    return pki.SigningMaterial(certificate=signer.certificate, private_key=signer.key, issuer=ca.certificate)


# --- poppler's pdfsig, an independent verifier ------------------------------------------------------------------


@dataclass
class PdfsigReport:
    text: str

    @property
    def signature_valid(self) -> bool:
        return "Signature Validation: Signature is Valid." in self.text

    @property
    def certificate_trusted(self) -> bool:
        return "Certificate Validation: Certificate is Trusted." in self.text

    @property
    def whole_document(self) -> bool:
        return "- Total document signed" in self.text and "Not total document signed" not in self.text

    @property
    def valid(self) -> bool:
        return self.signature_valid and self.certificate_trusted and self.whole_document


def _tool(name: str) -> str:
    """The full path of a Debian tool the tests need (poppler-utils, libnss3-tools): missing is a failure."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (apt-get install poppler-utils libnss3-tools)"
    return path


def pdfsig(signed: bytes, *, trusting: list[str], folder: Path) -> PdfsigReport:
    """Run `pdfsig` on `signed` with an NSS database that trusts the PEM CAs in `trusting` (and nothing else).

    pdfsig exits 0 even for a tampered file, so its text is what counts (STACK-NOTES).
    """
    folder.mkdir(parents=True, exist_ok=True)
    nss = folder / "nss"
    if not nss.exists():
        nss.mkdir()
        subprocess.run(
            [_tool("certutil"), "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True
        )
        for index, pem in enumerate(trusting):
            ca_file = folder / f"ca{index}.pem"
            ca_file.write_text(pem)
            subprocess.run(
                [_tool("certutil"), "-A", "-d", f"sql:{nss}", "-n", f"ca{index}", "-t", "CT,C,C", "-i", str(ca_file)],
                check=True,
                capture_output=True,
            )
    document = folder / "document.pdf"
    document.write_bytes(signed)
    result = subprocess.run(
        [_tool("pdfsig"), "-nssdir", f"sql:{nss}", str(document)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return PdfsigReport(result.stdout + result.stderr)
