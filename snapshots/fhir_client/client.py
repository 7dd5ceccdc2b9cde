"""The FHIR R4 REST client the builder pulls with and reconciliation posts back with.

One `FhirClient` per base URL (httpx underneath): `read`, `search` (pages, following
`Bundle.link` next until there is none), `transaction` and `batch` (per-entry outcomes), and
the Bulk Data export of bulk.py. TLS is always verified, against the system's trust store or
the site's CA bundle; a client certificate where the EHR asks for one. Authorization: none,
a static bearer token, or SMART Backend Services (auth.py).

Each request is retried where retrying is right (tenacity): a refused or dropped connection,
a timeout, a 5xx, a 429 (after its Retry-After), a download cut short; not a 4xx, not a TLS
certificate the client does not trust. What is left after the retries is one FhirError line
naming the URL and the cause. Every request and outcome is logged (logger
`snapshots.fhir_client`), never a body.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from .auth import BearerAuth, SmartBackendAuth
from .errors import (
    FhirAuthError,
    FhirError,
    FhirRefused,
    FhirServerError,
    FhirUnreachable,
    NotFhir,
)
from .settings import ClientSettings, check_url

log = logging.getLogger("snapshots.fhir_client")

FHIR_JSON = "application/fhir+json"
MAX_WAIT = 120.0  # seconds: the longest a Retry-After is honoured for
FIRST_WAIT, LAST_WAIT = 0.5, 30.0  # the exponential backoff's bounds without a Retry-After


class FhirTlsError(FhirUnreachable):
    """The server's certificate is not trusted (or TLS failed): not worth retrying."""

    reason = "fhir-tls"
    retryable = False


@dataclass(frozen=True)
class EntryOutcome:
    """One entry of a transaction-response or batch-response Bundle."""

    status: str  # "201 Created"
    location: str = ""
    etag: str = ""
    outcome: str = ""  # the OperationOutcome's words, for a failed batch entry

    @property
    def code(self) -> int:
        try:
            return int(self.status.split()[0])
        except (ValueError, IndexError):
            return 0

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


class FhirClient:
    def __init__(self, settings: ClientSettings, *, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        check_url(settings.base_url, "the FHIR base URL")
        self.settings = settings
        self.base_url = settings.base_url
        self._sleep = sleep
        self._http = httpx.Client(
            verify=_verify(settings), cert=_client_cert(settings), auth=_auth(settings),
            timeout=httpx.Timeout(settings.timeout_seconds), follow_redirects=False,
            headers={"Accept": FHIR_JSON, "User-Agent": "downtime-toolkit"},
            transport=transport)

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        """An absolute URL: `path` relative to the base, or already absolute (a next link)."""
        return path if path.startswith(("http://", "https://")) else \
            f"{self.base_url}/{path.lstrip('/')}"

    # --- requests -----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, retry: bool = True,
                **kwargs: Any) -> httpx.Response:
        """One request, retried as the module says; the 2xx response, or FhirError."""
        url = self.url(path)
        attempts = self.settings.retries + 1 if retry else 1
        retrying = Retrying(stop=stop_after_attempt(attempts), wait=self._wait,
                            retry=retry_if_exception(_retryable), reraise=True,
                            sleep=self._sleep, before_sleep=_log_retry)
        return retrying(self._send, method, url, **kwargs)

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise FhirUnreachable(f"{url}: no answer within {self.settings.timeout_seconds:g} s "
                                  "(timed out)", url=url) from None
        except httpx.ConnectError as e:
            raise _connect_error(url, e) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as e:
            raise FhirUnreachable(f"{url}: the connection broke ({_first_line(e)})",
                                  url=url) from None
        log.debug("%s %s -> %s in %.0f ms", method, url, response.status_code,
                 (time.monotonic() - started) * 1000)
        check_status(response)
        return response

    def _wait(self, state: Any) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            return min(max(asked, 0.0), MAX_WAIT)
        return min(FIRST_WAIT * 2 ** (state.attempt_number - 1), LAST_WAIT)

    # --- REST ---------------------------------------------------------------------------------

    def read(self, rtype: str, rid: str) -> dict:
        return json_of(self.request("GET", f"{rtype}/{rid}"), f"{rtype}/{rid}")

    def search(self, rtype: str, params: dict[str, Any] | list[tuple[str, Any]]
               ) -> Iterator[dict]:
        """Every page of a search, as Bundles, following `next` links (never built here).
        The server is asked to refuse a parameter it does not know (Prefer:
        handling=strict) rather than ignore it: a search quietly wider or narrower than
        asked is how patients go missing."""
        url, seen = self.url(rtype), set()
        kwargs: dict[str, Any] = {"params": params, "headers": {"Prefer": "handling=strict"}}
        while url:
            response = self.request("GET", url, **kwargs)
            page = json_of(response, str(response.request.url))
            if page.get("resourceType") != "Bundle":
                raise NotFhir(f"{response.request.url}: a search page that is not a Bundle "
                              f"(resourceType {page.get('resourceType')!r:.40})",
                              url=str(response.request.url))
            yield page
            url = next_link(page)
            if url in seen:
                raise NotFhir(f"{url}: the search's next link points back to a page already "
                              "read", url=url)
            seen.add(url)
            kwargs = {"headers": {"Prefer": "handling=strict"}}

    def search_resources(self, rtype: str, params: dict[str, Any] | list[tuple[str, Any]]
                         ) -> Iterator[dict]:
        """The resources of every page (matches and `_include`s), in the order served."""
        for page in self.search(rtype, params):
            for entry in page.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                mode = (entry.get("search") or {}).get("mode") if isinstance(entry, dict) \
                    else None
                if isinstance(resource, dict) and mode != "outcome":
                    yield resource

    def transaction(self, bundle: dict) -> list[EntryOutcome]:
        """POST a transaction Bundle: all or nothing (FhirRefused with the server's words
        when refused); one outcome per entry, in order."""
        return self._bundle(bundle, "transaction")

    def batch(self, bundle: dict) -> list[EntryOutcome]:
        """POST a batch Bundle: each entry succeeds or fails on its own."""
        return self._bundle(bundle, "batch")

    def _bundle(self, bundle: dict, kind: str) -> list[EntryOutcome]:
        if bundle.get("type") != kind:
            raise ValueError(f"a {kind} needs a Bundle of type {kind}, not {bundle.get('type')}")
        response = self.request("POST", self.base_url, json=bundle,
                                headers={"Content-Type": FHIR_JSON})
        body = json_of(response, self.base_url)
        if body.get("type") != f"{kind}-response":
            raise NotFhir(f"{self.base_url}: the answer to a {kind} is not a {kind}-response "
                          "Bundle", url=self.base_url)
        entries = body.get("entry") or []
        if len(entries) != len(bundle.get("entry") or []):
            raise NotFhir(f"{self.base_url}: {len(entries)} outcomes for "
                          f"{len(bundle.get('entry') or [])} entries", url=self.base_url)
        return [_outcome(e) for e in entries]


# --- what the answers must be ----------------------------------------------------------------

def check_status(response: httpx.Response) -> None:
    code, url = response.status_code, str(response.request.url)
    if code < 300:
        return
    body = _body(response)
    words, codes = outcome_words(body), issue_codes(body)
    said = f": {words}" if words else ""
    if code in (401, 403):
        raise FhirAuthError(f"{url}: {'not authorized' if code == 401 else 'forbidden'} (HTTP "
                            f"{code}{said})", url=url, status=code, codes=codes)
    if code == 429 or code >= 500:
        raise FhirServerError(f"{url}: HTTP {code} {response.reason_phrase}{said}", url=url,
                              status=code, retry_after=retry_after(response), codes=codes)
    raise FhirRefused(f"{url}: HTTP {code} {response.reason_phrase}{said}", url=url,
                      status=code, codes=codes)


def _body(response: httpx.Response) -> object:
    try:
        response.read()
        return response.json()
    except (ValueError, httpx.HTTPError):
        return None


def issue_codes(body: object) -> tuple[str, ...]:
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ()
    return tuple(str(i.get("code")) for i in body.get("issue") or []
                 if isinstance(i, dict) and i.get("code"))


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (it may be seconds or an HTTP date)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def outcome_words(body: object) -> str:
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    words = []
    for issue in body.get("issue") or []:
        if isinstance(issue, dict):
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or \
                issue.get("code") or ""
            words.append(str(text))
    return "; ".join(w for w in words if w)[:300]


def json_of(response: httpx.Response, where: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise NotFhir(f"{where}: the answer is not JSON ({response.headers.get('content-type')})",
                      url=where) from None
    if not isinstance(body, dict):
        raise NotFhir(f"{where}: the answer is not a JSON object", url=where)
    return body


def next_link(bundle: dict) -> str:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return ""


def _outcome(entry: object) -> EntryOutcome:
    response = entry.get("response") if isinstance(entry, dict) else None
    if not isinstance(response, dict):
        return EntryOutcome("0 no response")
    return EntryOutcome(str(response.get("status", "")), str(response.get("location", "")),
                        str(response.get("etag", "")), outcome_words(response.get("outcome")))


def _verify(settings: ClientSettings) -> ssl.SSLContext | bool:
    if settings.tls.ca_bundle is None:
        return True  # the system's trust store; never a silent verify=False
    try:
        return ssl.create_default_context(cafile=str(settings.tls.ca_bundle))
    except (OSError, ssl.SSLError) as e:
        raise FhirTlsError(f"{settings.tls.ca_bundle}: cannot use as the CA bundle ({e})") \
            from None


def _client_cert(settings: ClientSettings) -> tuple[str, str] | str | None:
    tls = settings.tls
    if tls.client_cert is None:
        return None
    return (str(tls.client_cert), str(tls.client_key)) if tls.client_key else \
        str(tls.client_cert)


def _auth(settings: ClientSettings) -> httpx.Auth | None:
    kind = settings.auth.kind
    if kind == "bearer":
        return BearerAuth(settings.auth.bearer_token())
    if kind == "smart":
        return SmartBackendAuth(settings.auth, settings.base_url)
    return None


def _connect_error(url: str, error: httpx.ConnectError) -> FhirUnreachable:
    cause = error.__context__ or error.__cause__
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__context__ or cause.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return FhirTlsError(f"{url}: the server's TLS certificate is not trusted "
                            f"({cause.verify_message}); set [source] ca_bundle to the "
                            "hospital's CA", url=url)
    if isinstance(cause, ssl.SSLError):
        return FhirTlsError(f"{url}: TLS failed ({cause.reason or cause})", url=url)
    return FhirUnreachable(f"{url}: cannot connect ({_first_line(error)})", url=url)


def _first_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]


def _retryable(error: BaseException) -> bool:
    return bool(getattr(error, "retryable", False))


def _log_retry(state: Any) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("retrying (attempt %d) after: %s", state.attempt_number, error)


__all__ = ["EntryOutcome", "FhirClient", "FhirError", "FhirTlsError"]
