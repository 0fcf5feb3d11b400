"""TLS termination: certificate files, or a development CA made on first start.

``tls = "dev"`` creates ``ca.pem`` (a local certificate authority) and a server
certificate for localhost/127.0.0.1/::1 signed by it under the gateway's data directory,
once; later starts reuse them. Clients trust the CA file: ``curl --cacert .../ca.pem``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from hld.gateway.config import Tls

DEV_VALIDITY_DAYS = 825  # the longest validity browsers accept for a leaf certificate


def server_context(tls: Tls, data_dir: str, host: str) -> ssl.SSLContext:
    if tls.dev:
        cert, key = dev_certificate(Path(data_dir) / "tls", host)
    else:
        assert tls.cert is not None
        assert tls.key is not None
        cert, key = Path(tls.cert), Path(tls.key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None
    return context


def dev_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """The development CA and a server certificate signed by it (created once)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path, ca_path = (directory / "server.pem", directory / "server-key.pem",
                                    directory / "ca.pem")
    if cert_path.exists() and key_path.exists() and ca_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hld development CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=DEV_VALIDITY_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                     x509.IPAddress(ipaddress.ip_address("::1"))]
    if host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0", "::"):  # noqa: S104
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=DEV_VALIDITY_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path
