"""SMART Backend Services and TLS on the sandbox, as the toolkit's client meets them: a token
for an RS384 and an ES384 client assertion, a wrong key refused, and HTTPS verified against
a test CA (trustme)."""

from __future__ import annotations

import ssl
import time
import uuid

import httpx
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from downtime.sandbox import SandboxError, start_sandbox
from downtime.sandbox.server import SmartAuth, SmartClient, Tls

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, ca):
    folder = tmp_path_factory.mktemp("smart")
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    auth = SmartAuth((SmartClient.for_key("rs-client", RSA_KEY.public_key(), "rs-1"),
                      SmartClient.for_key("es-client", EC_KEY.public_key(), "es-1")))
    with start_sandbox(folder / "data", auth=auth,
                       tls=Tls(folder / "cert.pem", folder / "key.pem")) as running:
        yield running


@pytest.fixture(scope="module")
def http(sandbox, ca, tmp_path_factory):
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with httpx.Client(verify=ssl.create_default_context(cafile=str(bundle)),
                      timeout=30) as client:
        yield client


def assertion(sandbox, client_id: str, key, alg: str, kid: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": client_id, "sub": client_id, "aud": sandbox.token_url,
                       "exp": now + 240, "iat": now, "jti": str(uuid.uuid4())},
                      key, algorithm=alg, headers={"kid": kid})


def token(http, sandbox, signed: str) -> httpx.Response:
    return http.post(sandbox.token_url, data={
        "grant_type": "client_credentials", "scope": "system/*.read",
        "client_assertion_type": ASSERTION, "client_assertion": signed})


def test_https_on_127_0_0_1_verified_against_the_site_ca(sandbox, http):
    assert sandbox.base_url.startswith("https://127.0.0.1:")
    assert http.get(f"{sandbox.base_url}/metadata").status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{sandbox.base_url}/metadata")  # the system trust store knows no test CA


def test_discovery_names_the_token_endpoint(sandbox, http):
    config = http.get(f"{sandbox.base_url}/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == sandbox.token_url
    assert {"RS384", "ES384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])


@pytest.mark.parametrize(("client_id", "key", "alg", "kid"), [
    ("rs-client", RSA_KEY, "RS384", "rs-1"), ("es-client", EC_KEY, "ES384", "es-1")])
def test_a_signed_assertion_gets_a_token_that_opens_the_server(sandbox, http, client_id, key,
                                                               alg, kid):
    assert http.get(f"{sandbox.base_url}/Patient").status_code == 401
    answer = token(http, sandbox, assertion(sandbox, client_id, key, alg, kid))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 300
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert http.get(f"{sandbox.base_url}/Patient", headers=bearer).status_code == 200
    kick = http.get(f"{sandbox.base_url}/$export", headers={**bearer,
                                                             "Prefer": "respond-async"})
    assert kick.status_code == 202
    for _ in range(100):
        status = http.get(kick.headers["Content-Location"], headers=bearer)
        if status.status_code == 200:
            break
        time.sleep(0.05)
    assert status.json()["requiresAccessToken"] is True


def test_a_wrong_key_is_refused(sandbox, http):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    answer = token(http, sandbox, assertion(sandbox, "rs-client", stranger, "RS384", "rs-1"))
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    other_curve = ec.generate_private_key(ec.SECP384R1())
    answer = token(http, sandbox, assertion(sandbox, "es-client", other_curve, "ES384", "es-1"))
    assert answer.status_code == 401


def test_a_client_with_mixed_key_types_is_refused_before_it_can_fail(tmp_path):
    rs = SmartClient.for_key("x", RSA_KEY.public_key(), "a")
    es = SmartClient.for_key("x", EC_KEY.public_key(), "b")
    mixed = SmartClient("both", {"keys": rs.jwks["keys"] + es.jwks["keys"]})
    with pytest.raises(SandboxError, match="mixes key types"):
        start_sandbox(tmp_path / "sb", auth=SmartAuth((mixed,)))
    with pytest.raises(SandboxError, match="no such TLS certificate"):
        start_sandbox(tmp_path / "sb", tls=Tls(tmp_path / "none.pem", tmp_path / "none.key"))
