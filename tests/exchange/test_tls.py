"""Transport security between nodes: `cybercoop serve` over HTTPS, with mutual TLS when a client CA is set, and
the federation's client (`client.open_url`, used for messages, files, pings and the directory) checking the
peer's certificate against CYBERCOOP_FEDERATION_CA and presenting this node's client certificate. Real
certificates (made here with `cryptography`), a real gunicorn process, real TLS handshakes on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cybercoop.core.server import tls_options
from cybercoop.demo.runner import stop_processes
from cybercoop.exchange.federation import client
from tests.nodes import STARTUP_SECONDS, free_port


@dataclass
class Issued:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Issued(cert_path, key_path)


def _authority(folder: Path, stem: str) -> tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(stem))
        .issuer_name(_name(stem))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
    return _write(folder, stem, certificate, key), certificate, key


def _issue(folder: Path, stem: str, *, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], server: bool) -> Issued:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(stem))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return _write(folder, stem, builder.sign(ca_key, hashes.SHA256()), key)


@dataclass
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    foreign_client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, ca_cert, ca_key = _authority(folder, "CyberCoop federation test CA")
    _foreign, foreign_cert, foreign_key = _authority(folder, "Someone else's CA")
    return Pki(
        ca=ca,
        server=_issue(folder, "ru-node", ca=(ca_cert, ca_key), server=True),
        client=_issue(folder, "kz-node", ca=(ca_cert, ca_key), server=False),
        foreign_client=_issue(folder, "intruder", ca=(foreign_cert, foreign_key), server=False),
    )


@pytest.fixture(scope="module")
def mutual_tls_node(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A node served by `cybercoop serve` over HTTPS that serves only clients with a certificate of the CA."""
    data_dir = tmp_path_factory.mktemp("tls-node")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env.update(
        {
            "CYBERCOOP_DATA_DIR": str(data_dir),
            "CYBERCOOP_NODE_ID": "ru",
            "CYBERCOOP_TLS_CERT": str(pki.server.cert),
            "CYBERCOOP_TLS_KEY": str(pki.server.key),
            "CYBERCOOP_TLS_CLIENT_CA": str(pki.ca.cert),
        }
    )
    log = data_dir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cybercoop", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while "Booting worker" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the TLS node did not start:\n" + log.read_text())
            time.sleep(0.2)
        yield url
    finally:
        stop_processes([process])


def _node_info(url: str, settings, *, ca: Path | None, cert: Issued | None) -> object:
    settings.FEDERATION_CA_FILE = str(ca) if ca else ""
    settings.FEDERATION_CLIENT_CERT = str(cert.cert) if cert else ""
    settings.FEDERATION_CLIENT_KEY = str(cert.key) if cert else ""
    return client.request_json(client.endpoint(url, "/node"), timeout=10)


def _until_up(url: str, settings, pki: Pki) -> dict:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            answer = _node_info(url, settings, ca=pki.ca.cert, cert=pki.client)
        except client.DeliveryError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
        else:
            assert isinstance(answer, dict)
            return answer


@pytest.mark.rule("P4.1")
def test_a_node_with_a_client_certificate_of_the_federation_ca_is_served_over_mutual_tls(
    mutual_tls_node, pki, settings
):
    answer = _until_up(mutual_tls_node, settings, pki)
    assert answer["node"] == "ru"


def test_a_caller_without_a_client_certificate_or_with_a_foreign_one_is_refused_in_the_handshake(
    mutual_tls_node, pki, settings
):
    _until_up(mutual_tls_node, settings, pki)
    for cert in (None, pki.foreign_client):
        with pytest.raises(client.DeliveryError, match="unreachable"):
            _node_info(mutual_tls_node, settings, ca=pki.ca.cert, cert=cert)


def test_a_peer_whose_server_certificate_is_not_trusted_is_refused(mutual_tls_node, pki, settings):
    _until_up(mutual_tls_node, settings, pki)
    with pytest.raises(client.DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        _node_info(mutual_tls_node, settings, ca=None, cert=pki.client)  # the system's trust store: not our CA


def test_a_half_tls_configuration_is_refused_before_serving():
    assert tls_options(cert="", key="", client_ca="") == {}
    with pytest.raises(ValueError, match="together"):
        tls_options(cert="server.pem", key="", client_ca="")
    with pytest.raises(ValueError, match="needs"):
        tls_options(cert="", key="", client_ca="ca.pem")
    done = subprocess.run(
        [sys.executable, "-m", "cybercoop", "serve", "--bind", f"127.0.0.1:{free_port()}"],
        env={**os.environ, "CYBERCOOP_TLS_CERT": "server.pem", "CYBERCOOP_TLS_KEY": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "CYBERCOOP_TLS_CERT and CYBERCOOP_TLS_KEY" in done.stderr
