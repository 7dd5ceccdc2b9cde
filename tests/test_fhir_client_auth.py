"""The FHIR client's SMART Backend Services and TLS against the sandbox: RS384 and ES384
client assertions, the token kept and renewed once on a 401, a wrong key refused, HTTPS
verified against the site's CA (trustme here), a self-signed server refused at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from downtime.sandbox import start_sandbox
from downtime.sandbox.server import SmartAuth, SmartClient, Tls
from snapshots.fhir_client import (
    AuthSettings,
    ClientSettings,
    FhirAuthError,
    FhirClient,
    FhirError,
    FhirTlsError,
    TlsSettings,
)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("auth")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    auth = SmartAuth((SmartClient.for_key("rs-client", RSA_KEY.public_key(), "rs-1"),
                      SmartClient.for_key("es-client", EC_KEY.public_key(), "es-1")))
    with start_sandbox(folder / "data", auth=auth,
                       tls=Tls(folder / "cert.pem", folder / "key.pem")) as sandbox:
        yield sandbox, folder


def client_for(sandbox, folder: Path, client_id: str, key, kid: str, **tls) -> FhirClient:
    auth = AuthSettings(kind="smart", client_id=client_id, kid=kid,
                        private_key=pem(key, folder / f"{client_id}-{kid}.pem"),
                        scope="system/*.read")
    settings = ClientSettings(url=sandbox.base_url, auth=auth, retries=1, timeout_seconds=10,
                              tls=TlsSettings(**({"ca_bundle": folder / "ca.pem"} | tls)))
    return FhirClient(settings)


@pytest.mark.parametrize("client_id,key,kid", [("rs-client", RSA_KEY, "rs-1"),
                                               ("es-client", EC_KEY, "es-1")])
def test_a_smart_client_gets_a_token_and_reads_over_verified_tls(site, client_id, key, kid):
    sandbox, folder = site
    with client_for(sandbox, folder, client_id, key, kid) as client:
        pages = list(client.search("Patient", {"_count": 5}))
        assert pages[0]["resourceType"] == "Bundle"
        auth = client._http.auth
        first = auth._token
        list(client.search("Patient", {"_count": 5}))
        assert auth._token == first  # kept until it nears its expiry
        assert auth.token_url == sandbox.token_url  # found in .well-known


def test_a_token_refused_by_the_server_is_renewed_once(site):
    sandbox, folder = site
    with client_for(sandbox, folder, "rs-client", RSA_KEY, "rs-1") as client:
        list(client.search("Patient", {"_count": 1}))
        auth = client._http.auth
        auth._token, auth._expires = "revoked", time.monotonic() + 3600
        list(client.search("Patient", {"_count": 1}))  # 401, a new token, the same request
        assert auth._token != "revoked"


def test_a_wrong_key_is_refused_in_one_line(site):
    sandbox, folder = site
    with client_for(sandbox, folder, "rs-client", STRANGER, "rs-1") as client, \
            pytest.raises(FhirAuthError) as caught:
        list(client.search("Patient", {"_count": 1}))
    message = str(caught.value)
    assert "the token endpoint refused client 'rs-client' (HTTP 401" in message
    assert sandbox.token_url in message and "\n" not in message


def test_a_server_whose_certificate_is_not_trusted_is_refused_at_once(site):
    sandbox, folder = site
    client = FhirClient(ClientSettings(url=sandbox.base_url, retries=5))  # no site CA given
    started = time.monotonic()
    with client, pytest.raises(FhirTlsError) as caught:
        list(client.search("Patient", {"_count": 1}))
    assert "TLS certificate is not trusted" in str(caught.value)
    assert "set [source] ca_bundle" in str(caught.value)
    assert time.monotonic() - started < 5  # not retried: it would never get better


def test_a_plain_http_client_to_an_https_only_server_fails_clearly(site):
    sandbox, _ = site
    plain = sandbox.base_url.replace("https://", "http://")
    with FhirClient(ClientSettings(url=plain, retries=0, timeout_seconds=3)) as client, \
            pytest.raises(FhirError) as caught:
        list(client.search("Patient", {"_count": 1}))
    assert "\n" not in str(caught.value) and plain in str(caught.value)
