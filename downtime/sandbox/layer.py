"""The toolkit's own layer in front of sekmet (an ASGI middleware): what a real EHR does that
sekmet does not, and the faults a test or drill asks for. Everything else is sekmet's.

On every request to the FHIR port:
1. the faults in force (faults.py): `slow` waits, `429` and `5xx` answer in sekmet's stead;
2. a Bulk kick-off (`GET .../$export`) has its `_since` brought to a UTC instant, as sekmet
   compares it as text (an offset gave wrong or empty exports), and a `_since` that is not a
   date is refused with 400 rather than exporting nothing;
3. a finished `_since` job's manifest gains `deleted[]` (deletions.py);
4. an export file is served gzip when the client accepts it, and short when `truncate` is
   in force.
`down` is no request's business: the server stops listening (server.py).
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .deletions import Deletions, sekmet_instant
from .faults import Fault, FaultSet

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

STATUS_PREFIX = "/fhir/bulk-status/"
FILES_PREFIX = "/fhir/bulk-files/"


def outcome(code: str, text: str) -> bytes:
    return json.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": code, "diagnostics": text}]}).encode()


class ToolkitLayer:
    def __init__(self, app: Callable, faults: FaultSet, deletions: Deletions) -> None:
        self.app, self.faults, self.deletions = app, faults, deletions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if (slow := self.faults.take("slow", path)) is not None:
            await asyncio.sleep(slow.seconds)
        for kind in ("429", "5xx"):
            if (fault := self.faults.take(kind, path)) is not None:
                return await _refuse(send, fault)
        if method == "GET" and path.endswith("/$export"):
            query = _since_query(scope.get("query_string", b""))
            if query is None:
                return await _answer(send, 400, outcome(
                    "invalid", "_since is not an ISO 8601 instant"), {})
            scope = {**scope, "query_string": query}
        if method == "GET" and path.startswith(STATUS_PREFIX):
            job_id = path[len(STATUS_PREFIX):]
            return await self.app(scope, receive, _Rewrite(send, lambda body: self._manifest(
                job_id, body)).send)
        if method == "GET" and path.startswith(FILES_PREFIX):
            return await self._file(scope, receive, send, path)
        return await self.app(scope, receive, send)

    def _manifest(self, job_id: str, body: bytes) -> bytes:
        manifest = json.loads(body)
        return json.dumps(self.deletions.manifest(job_id, manifest)).encode()

    async def _file(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        accepts = b"gzip" in dict(scope.get("headers") or []).get(b"accept-encoding", b"")
        cut = self.faults.take("truncate", path)
        rewrite = _Rewrite(send, lambda body: _truncated(body, cut) if cut else body,
                           gzip_it=accepts, drop_at=cut.keep if cut and cut.mode == "drop"
                           else None)
        await self.app(scope, receive, rewrite.send)


class _Rewrite:
    """Holds a 200 response's body, hands it to `change`, sends the result with its new
    Content-Length (gzip'd when asked); with `drop_at`, sends that share of the body under
    the full length and stops: the connection is then closed short. Other statuses pass."""

    def __init__(self, send: Send, change: Callable[[bytes], bytes], *, gzip_it: bool = False,
                 drop_at: float | None = None) -> None:
        self._send, self.change, self.gzip_it, self.drop_at = send, change, gzip_it, drop_at
        self.start: dict | None = None
        self.chunks: list[bytes] = []

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                return await self._send(message)
            self.start = message
            return None
        if self.start is None or message["type"] != "http.response.body":
            return await self._send(message)
        self.chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return None
        body = self.change(b"".join(self.chunks))
        headers = [(k, v) for k, v in self.start.get("headers", [])
                   if k.lower() not in (b"content-length", b"content-encoding")]
        if self.gzip_it:
            body = gzip.compress(body, compresslevel=5)
            headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._send({**self.start, "headers": headers})
        if self.drop_at is None:
            return await self._send({"type": "http.response.body", "body": body})
        # the rest of the promised length never comes: uvicorn closes the connection of a
        # response the app left unfinished (and logs that it did)
        await self._send({"type": "http.response.body", "body": body[:int(len(body) *
                                                                         self.drop_at)],
                          "more_body": True})


def _truncated(body: bytes, fault: Fault) -> bytes:
    at = int(len(body) * fault.keep)
    line_start = body.rfind(b"\n", 0, at) + 1
    if fault.mode == "lines":
        return body[:line_start]
    if fault.mode == "cut":
        line_end = body.find(b"\n", line_start)
        line_end = len(body) if line_end < 0 else line_end
        # in the middle of a line, never just after its closing brace
        return body[:line_start + max(1, (line_end - line_start) // 2)]
    return body  # drop: whole here, cut short on the wire (_Rewrite)


def _since_query(query: bytes) -> bytes | None:
    """The query with `_since` as a UTC instant; None when `_since` is not a date."""
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if not any(k == "_since" for k, _ in pairs):
        return query
    fixed = []
    for key, value in pairs:
        if key == "_since":
            value = sekmet_instant(value)
            if value is None:
                return None
        fixed.append((key, value))
    return urlencode(fixed).encode("latin-1")


async def _refuse(send: Send, fault: Fault) -> None:
    headers = {}
    if fault.retry_after is not None:
        headers["retry-after"] = str(fault.retry_after)
    if fault.kind == "429":
        return await _answer(send, 429, outcome("throttled", "Too many requests (sandbox "
                                                "fault 429)"), headers)
    return await _answer(send, fault.status, outcome(
        "transient", f"Service unavailable (sandbox fault 5xx, HTTP {fault.status})"), headers)


async def _answer(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-type", b"application/fhir+json; charset=utf-8"),
           (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
