"""Authorization for the FHIR client: a static bearer token, or SMART Backend Services.

SMART Backend Services (SMART App Launch 2.x): the client signs a short JWT with its private
key (RS384 for an RSA key, ES384 for a P-384 EC key; `kid` names it in the JWKS the EHR
holds), trades it at the token endpoint for an access token (client_credentials grant,
`private_key_jwt`), keeps the token until shortly before it expires, and on a 401 gets a new
one once before giving up. PyJWT signs the assertion; nothing of JOSE is written here.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Generator
from pathlib import Path

import httpx

from .errors import FhirAuthError
from .settings import AuthSettings

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # seconds: the most SMART allows
EARLY = 30  # seconds: a token this close to expiry is renewed before it is used


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                                None]:
        request.headers["Authorization"] = self._header
        yield request


class SmartBackendAuth(httpx.Auth):
    """client_credentials with a private_key_jwt assertion; the token is cached and shared
    by every request of the client (under a lock: the client may be used from threads)."""

    requires_response_body = True

    def __init__(self, settings: AuthSettings, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.token_url = settings.token_url
        self._key, self._alg = _signing_key(settings.private_key)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                                None]:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires - EARLY:
                yield from self._fetch_token()
            token = self._token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:  # expired or revoked early: one new token, one retry
            with self._lock:
                if self._token == token:
                    yield from self._fetch_token()
                token = self._token
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _fetch_token(self) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.token_url:
            yield from self._discover()
        response = yield httpx.Request(
            "POST", self.token_url, headers={"Accept": "application/json"},
            data={"grant_type": "client_credentials", "scope": self.settings.scope,
                  "client_assertion_type": ASSERTION_TYPE,
                  "client_assertion": self._assertion()})
        if response.status_code != 200:
            raise FhirAuthError(f"{self.token_url}: the token endpoint refused client "
                                f"{self.settings.client_id!r} (HTTP {response.status_code}: "
                                f"{_oauth_error(response)})", url=self.token_url,
                                status=response.status_code)
        try:
            body = response.json()
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise FhirAuthError(f"{self.token_url}: the token endpoint's answer holds no "
                                "access_token", url=self.token_url) from None
        self._expires = time.monotonic() + lifetime

    def _discover(self) -> Generator[httpx.Request, httpx.Response, None]:
        url = f"{self.base_url}/.well-known/smart-configuration"
        response = yield httpx.Request("GET", url, headers={"Accept": "application/json"})
        try:
            self.token_url = str(response.json()["token_endpoint"]) \
                if response.status_code == 200 else ""
        except (ValueError, KeyError, TypeError):
            self.token_url = ""
        if not self.token_url:
            raise FhirAuthError(f"{url}: no token_endpoint (HTTP {response.status_code}); set "
                                "[source] token_url", url=url, status=response.status_code)

    def _assertion(self) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": self.settings.client_id, "sub": self.settings.client_id,
                  "aud": self.token_url, "exp": now + ASSERTION_LIFETIME, "iat": now,
                  "jti": str(uuid.uuid4())}
        headers = {"kid": self.settings.kid} if self.settings.kid else {}
        return jwt.encode(claims, self._key, algorithm=self._alg, headers=headers)


def _signing_key(path: Path | None):  # -> (private key, "RS384" | "ES384")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if path is None:
        raise FhirAuthError("[source] private_key: SMART Backend Services needs the client's "
                            "private key")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as e:
        raise FhirAuthError(f"{path}: cannot read the SMART client key ({e.strerror})") \
            from None
    except (ValueError, TypeError):
        raise FhirAuthError(f"{path}: not an unencrypted PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS384"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return key, "ES384"
    raise FhirAuthError(f"{path}: SMART Backend Services signs with RS384 (an RSA key) or "
                        "ES384 (a P-384 EC key); this is neither")


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('error', '')}: {body.get('error_description', '')}".strip(": ")[:200]
    except ValueError:
        return response.reason_phrase
