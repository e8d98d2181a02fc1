"""A throwaway self-signed certificate for 127.0.0.1, so that kubectl sends its token.

kubectl (client-go) reads a kubeconfig's credentials only when the transport is TLS
(kubernetes/kubernetes staging/src/k8s.io/client-go/tools/clientcmd/client_config.go:
"only try to read the auth information if we are secure"): against an ``http://`` server
every request is anonymous. The key lives in memory and a private temporary directory
only while the SSL context loads it.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import pathlib
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Certificate:
    """A certificate (PEM) and its private key (PEM), for one server."""

    cert_pem: bytes
    key_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        """An SSL context that serves this certificate over HTTP/1.1."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_alpn_protocols(['http/1.1'])
        with tempfile.TemporaryDirectory(prefix='jujusim-tls-') as tmp:
            cert, key = pathlib.Path(tmp, 'cert.pem'), pathlib.Path(tmp, 'key.pem')
            cert.write_bytes(self.cert_pem)
            key.touch(mode=0o600)
            key.write_bytes(self.key_pem)
            context.load_cert_chain(cert, key)
        return context


def self_signed(*, days: int = 365) -> Certificate:
    """A fresh self-signed certificate for ``127.0.0.1`` and ``localhost``.

    It is its own CA (clients trust it through ``certificate-authority-data``) and carries
    the key identifiers and key usages strict verifiers (Go, OpenSSL 3) look for.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'jujusim fake kube-apiserver')])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address('127.0.0.1')),
                    x509.DNSName('localhost'),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
