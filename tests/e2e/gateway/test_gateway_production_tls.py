"""HTTPS: the gateway serves TLS with a certificate the test generates; plain HTTP to that port fails."""

from __future__ import annotations

import datetime
import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.processes import ServiceProcess, start_service

pytestmark = pytest.mark.e2e

KEY = "sk-tls-key"


def write_self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its private key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, Path]]:
    cert, key = write_self_signed(tmp_path_factory.mktemp("tls"))
    gateway = start_service("gateway", {"GATEWAY_API_KEYS": KEY, "GATEWAY_TLS_CERT_FILE": str(cert),
                                        "GATEWAY_TLS_KEY_FILE": str(key), "GATEWAY_READY_REQUIRES": ""},
                            wait=False)
    https = f"https://127.0.0.1:{gateway.port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(https + "/readyz", verify=str(cert), timeout=2).status_code == 200:
                break
        except requests.RequestException:
            if gateway.process.poll() is not None or time.monotonic() > deadline:
                gateway.stop()
                raise RuntimeError(f"the TLS gateway did not start:\n{gateway.log_tail()}") from None
            time.sleep(0.3)
    yield gateway, cert
    gateway.stop()


def test_https_with_the_generated_certificate_succeeds(tls_gateway: tuple[ServiceProcess, Path]) -> None:
    gateway, cert = tls_gateway
    https = f"https://127.0.0.1:{gateway.port}"
    assert requests.get(https + "/healthz", verify=str(cert), timeout=10).json() == {"status": "ok"}
    refused = requests.get(https + "/v1/models", verify=str(cert), timeout=10)
    assert refused.status_code == 401
    models = requests.get(https + "/v1/models", verify=str(cert), timeout=10,
                          headers={"Authorization": f"Bearer {KEY}"})
    assert models.status_code == 200 and models.json()["object"] == "list"


def test_an_untrusted_certificate_is_refused_by_the_client(tls_gateway: tuple[ServiceProcess, Path]) -> None:
    gateway, _ = tls_gateway
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://127.0.0.1:{gateway.port}/healthz", timeout=10)  # system trust store only


def test_plain_http_to_the_tls_port_fails(tls_gateway: tuple[ServiceProcess, Path]) -> None:
    gateway, _ = tls_gateway
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{gateway.port}/healthz", timeout=10)
    assert gateway.process.poll() is None  # and the gateway keeps serving
