"""Bulk Data `$export` (HL7 FHIR Bulk Data Access): kick off, wait, download, clean up.

The export is asked at the system, `Patient/` or `Group/{id}/` level (Epic offers only the
last) with `_type` and `_since`, and `Prefer: respond-async`. The status URL is polled
honouring `Retry-After` (else an exponential backoff) until the manifest comes, or the
deadline passes, or the job fails. Every `output` file is downloaded streamed (gzip as
served), checked complete (its length, its last line), and kept in memory: a downloaded
export is patient data, which the toolkit never writes to disk in plaintext. The `deleted`
files (Bundles of DELETE entries) are read by the builder as deletions, the `error` files
(OperationOutcomes) become gap register entries. The job is deleted on the server when done,
and when the export fails or is interrupted (Ctrl-C, SIGTERM), so no finished files linger
there.

The client comes from outside (FhirClient), and every step is logged in an ExportLog (as
cumulus-etl's export log does: kick-off, progress, completion, each download, the cleanup),
which the build report keeps.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from .client import (
    FhirClient,
    _retryable,
    check_status,
    json_of,
    outcome_words,
    retry_after,
)
from .errors import ExportFailed, FhirError, NotFhir, TruncatedDownload

log = logging.getLogger("snapshots.fhir_client.bulk")

FIRST_POLL, LAST_POLL = 1.0, 60.0  # seconds between polls without a Retry-After
NDJSON = "application/fhir+ndjson"


@dataclass
class ExportFile:
    """One downloaded file: its resource type (as the manifest says) and its bytes."""

    type: str
    url: str
    data: bytes

    @property
    def lines(self) -> int:
        return self.data.count(b"\n")


@dataclass
class ExportLog:
    """Every step of one export, in order, with its time: kept in the build report."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, event: str, **detail: Any) -> None:
        entry = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                 "event": event, **detail}
        self.events.append(entry)
        log.info("export %s %s", event, detail)


@dataclass
class ExportResult:
    transaction_time: str  # the next `_since`
    request: str
    output: list[ExportFile]
    deleted: list[ExportFile]
    errors: list[str]  # the words of each OperationOutcome issue of the `error` files
    log: ExportLog


class BulkExport:
    def __init__(self, client: FhirClient, *, level: str = "system", group_id: str = "",
                 types: tuple[str, ...] = (), since: str | None = None,
                 deadline_minutes: float = 30, sleep: Callable[[float], None] = time.sleep,
                 export_log: ExportLog | None = None) -> None:
        if level == "group" and not group_id:
            raise ValueError("a Group export needs its group id")
        self.client = client
        self.level, self.group_id, self.types = level, group_id, types
        self.since = utc_instant(since) if since else None
        self.deadline_seconds = deadline_minutes * 60
        self.sleep = sleep
        self.log = export_log or ExportLog()

    @property
    def kickoff_path(self) -> str:
        return {"system": "$export", "patient": "Patient/$export",
                "group": f"Group/{self.group_id}/$export"}[self.level]

    def run(self) -> ExportResult:
        """The whole export; ExportFailed (or another FhirError) when it cannot be had."""
        status_url = self.kick_off()
        try:
            manifest = self.wait(status_url)
            result = self.download(manifest)
        except BaseException as e:  # noqa: BLE001 - failed or interrupted: clean up, go on up
            self.log.add("export_error", error=str(e)[:300] or type(e).__name__)
            self.cancel(status_url)
            raise
        self.cancel(status_url, done=True)
        self.log.add("export_complete", files=len(result.output),
                     resources=sum(f.lines for f in result.output),
                     deleted=sum(f.lines for f in result.deleted), errors=len(result.errors))
        return result

    def kick_off(self) -> str:
        params = {}
        if self.types:
            params["_type"] = ",".join(self.types)
        if self.since:
            params["_since"] = self.since
        url = self.client.url(self.kickoff_path)
        response = self.client.request("GET", url, params=params,
                                       headers={"Prefer": "respond-async"})
        status_url = response.headers.get("Content-Location", "")
        if response.status_code != 202 or not status_url:
            raise NotFhir(f"{url}: the export was not started as Bulk Data says (HTTP "
                          f"{response.status_code}, Content-Location "
                          f"{status_url or 'missing'})", url=url)
        self.log.add("kickoff", url=str(response.request.url), status_url=status_url)
        return status_url

    def wait(self, status_url: str) -> dict:
        """Poll until the manifest; honour Retry-After, back off, keep to the deadline."""
        deadline = time.monotonic() + self.deadline_seconds
        delay, progress, failures = FIRST_POLL, None, 0
        while True:
            if time.monotonic() > deadline:
                raise ExportFailed(f"{status_url}: the export was not complete after "
                                   f"{self.deadline_seconds / 60:g} min (last progress: "
                                   f"{progress or 'none reported'}); cancelled",
                                   url=status_url)
            try:
                response = self.client.request("GET", status_url, retry=False,
                                               headers={"Accept": "application/json"})
            except FhirError as e:
                if not e.retryable or failures >= self.client.settings.retries or \
                        (e.status and e.status >= 500 and not _transient(e)):
                    raise ExportFailed(f"{status_url}: the export failed: {e}",
                                       url=status_url, status=e.status) from None
                failures += 1
                self.log.add("status_error", error=str(e)[:300])
                self.sleep(min(e.retry_after or delay, LAST_POLL))
                delay = min(delay * 2, LAST_POLL)
                continue
            failures = 0
            if response.status_code == 200:
                manifest = json_of(response, status_url)
                self.log.add("status_complete", transaction_time=manifest.get("transactionTime"))
                return manifest
            if response.headers.get("X-Progress") != progress:
                progress = response.headers.get("X-Progress")
                self.log.add("status_progress", progress=progress)
            asked = retry_after(response)
            self.sleep(min(asked if asked is not None else delay, LAST_POLL))
            delay = min(delay * 2, LAST_POLL)

    def download(self, manifest: dict) -> ExportResult:
        output = manifest.get("output")
        when = manifest.get("transactionTime")
        if not isinstance(output, list) or not isinstance(when, str):
            raise NotFhir(f"{manifest.get('request', 'the export')}: the manifest has no "
                          "output list or transactionTime", url=str(manifest.get("request")))
        with_token = bool(manifest.get("requiresAccessToken", True))
        files = [self._file(item, with_token) for item in output]
        deleted = [self._file(item, with_token) for item in manifest.get("deleted") or []]
        errors = [words for item in manifest.get("error") or []
                  for words in _issues(self._file(item, with_token))]
        return ExportResult(when, str(manifest.get("request", "")), files, deleted, errors,
                            self.log)

    def _file(self, item: object, with_token: bool) -> ExportFile:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise NotFhir(f"a manifest entry without a url: {item!r:.80}")
        url, rtype = item["url"], str(item.get("type", ""))
        retrying = Retrying(stop=stop_after_attempt(self.client.settings.retries + 1),
                            wait=self.client._wait, retry=retry_if_exception(_retryable),
                            reraise=True, sleep=self.sleep)
        data = retrying(self._fetch_counted, url, with_token, item.get("count"))
        self.log.add("download_complete", url=url, type=rtype, bytes=len(data),
                     lines=data.count(b"\n"))
        return ExportFile(rtype, url, data)

    def _fetch_counted(self, url: str, with_token: bool, count: object) -> bytes:
        """A file whose resources are as many as the manifest's `count` says, when it says:
        a file cut at a line boundary is whole to look at, and short by that count."""
        data = self._fetch(url, with_token)
        if isinstance(count, int) and not isinstance(count, bool):
            lines = sum(1 for line in data.splitlines() if line.strip())
            if lines != count:
                raise TruncatedDownload(f"{url}: {lines} resources where the manifest says "
                                        f"{count}", url=url)
        return data

    def _fetch(self, url: str, with_token: bool) -> bytes:
        """One file, whole and checked: its declared length, and no line cut off."""
        self.log.add("download_request", url=url)
        # a file server that asks for no token (a cloud bucket's signed URL) must not get one
        auth = httpx.USE_CLIENT_DEFAULT if with_token else None
        try:
            with self.client._http.stream("GET", url, auth=auth,
                                          headers={"Accept": NDJSON}) as response:
                check_status(response)
                data = b"".join(response.iter_bytes())
                raw = response.num_bytes_downloaded
                declared = response.headers.get("Content-Length")
        except httpx.HTTPError as e:
            raise TruncatedDownload(f"{url}: the download broke off ({e})", url=url) from None
        if declared is not None and declared.isdigit() and int(declared) != raw:
            raise TruncatedDownload(f"{url}: {raw} of {declared} bytes arrived", url=url)
        if url.split("?")[0].endswith(".gz") or data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as e:
                raise TruncatedDownload(f"{url}: the gzip file is cut off ({e})",
                                        url=url) from None
        if data and not data.endswith(b"\n") and not data.rstrip().endswith(b"}"):
            raise TruncatedDownload(f"{url}: the file ends in the middle of a line", url=url)
        return data

    def cancel(self, status_url: str, done: bool = False) -> None:
        """DELETE the job: a running one stops, a finished one's files go (best effort: a
        server that cannot be reached is logged, not an error on top of the first)."""
        try:
            self.client.request("DELETE", status_url, retry=False)
            self.log.add("delete" if done else "cancel", status_url=status_url)
        except FhirError as e:
            self.log.add("delete_error", status_url=status_url, error=str(e)[:300])


def utc_instant(value: str | datetime) -> str:
    """`_since` as a UTC instant ending in Z: some servers compare it as text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"_since {value!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _transient(error: FhirError) -> bool:
    """A 5xx on the status URL that Bulk Data means as "try again" (issue code transient)."""
    return "transient" in error.codes


def _issues(file: ExportFile) -> list[str]:
    import orjson

    found = []
    for line in file.data.splitlines():
        try:
            words = outcome_words(orjson.loads(line))
        except orjson.JSONDecodeError:
            words = f"an error file line that is not JSON ({file.url})"
        if words:
            found.append(words)
    return found
