"""Pulling what a snapshot needs from the EHR's FHIR server, into memory, as a Source the
builder reads exactly as it reads an export on disk.

Two ways, by `[source] mode`:
- bulk: one Bulk Data export (system, Patient or Group level; `_since` for a refresh), its
  `deleted` files read as deletions and its `error` files entered in the gap register;
- search: the active encounters (status and class as `[build]` selects) with `_include` of
  patient, location and participant, every Location (the unit, room and bed hierarchy), then
  what the chart needs of those patients only, `patient=a,b,c` in batches, within the build's
  windows (`_lastUpdated` since the previous snapshot for a refresh).

For a refresh, the whole chart of a patient admitted since the previous snapshot is fetched
as well (by search, within the windows): a `_since` export holds only what changed, and an
admission's allergies and orders may be older than that.

Nothing of it touches the disk: the files are bytes in memory (snapshots.reading.MemoryFile).
A pull that fails raises; there is no partial Source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from .fhir_client import BulkExport, ClientSettings, ExportLog, FhirClient, utc_instant
from .fhirdata import to_datetime
from .reading import MemoryFile, Source
from .settings import BuildSettings

# What the chart reads of a census patient, and the window (a BuildSettings field) that
# bounds each search; the builder applies the windows again, these only spare the transfer.
CHART_SEARCHES: tuple[tuple[str, str, str | None, tuple[tuple[str, str], ...]], ...] = (
    ("AllergyIntolerance", "patient", None, ()),
    ("Condition", "patient", None, ()),
    ("MedicationRequest", "patient", None, (("_include", "MedicationRequest:medication"),)),
    ("MedicationAdministration", "patient", "administrations_hours", ()),
    ("Observation", "patient", "observations", ()),
    ("Procedure", "patient", "procedures_days", ()),
    ("DocumentReference", "patient", "notes_days", ()),
    ("Flag", "patient", None, ()),
)
# The search parameter that holds each type's clinical time, for its window.
TIME_PARAMS = {"MedicationAdministration": "effective-time", "Observation": "date",
               "Procedure": "date", "DocumentReference": "date"}
GAP_OF_ERRORS = "export-error"


@dataclass
class Pulled:
    """What one pull gave: the files, the server's time they hold (the next `_since`), the
    export's errors and every step it logged."""

    files: list[MemoryFile]
    transaction_time: str
    described: str
    faults: list[tuple[str, str, str]] = field(default_factory=list)
    log: ExportLog = field(default_factory=ExportLog)

    def source(self) -> Source:
        return Source.in_memory(self.files, lambda *fault: None, self.described, self.faults)

    @property
    def resources(self) -> int:
        return sum(f.data.count(b"\n") for f in self.files)


def pull(client: FhirClient, build: BuildSettings, since: str | None = None) -> Pulled:
    """Everything the snapshot needs (or what changed since `since`, plus the whole charts
    of patients admitted since)."""
    settings = client.settings
    pulled = pull_bulk(client, settings, since) if settings.mode == "bulk" else \
        pull_search(client, build, since)
    if since:
        admitted = admitted_since(pulled.files, since, build)
        if admitted:
            pulled.log.add("admissions", patients=len(admitted))
            pulled.files.extend(admission_files(client, build, sorted(admitted)))
    return pulled


def pull_bulk(client: FhirClient, settings: ClientSettings, since: str | None) -> Pulled:
    export = BulkExport(client, level=settings.export_level, group_id=settings.group_id,
                        types=settings.types, since=since,
                        deadline_minutes=settings.export_deadline_minutes)
    result = export.run()
    files = [MemoryFile(f"{f.type or 'Unknown'}.{n:03d}.ndjson", f.data)
             for n, f in enumerate(result.output)]
    # Bundles of DELETE entries: the reader turns each entry into a deletion
    files += [MemoryFile(f"Bundle.deleted.{n:03d}.ndjson", f.data)
              for n, f in enumerate(result.deleted)]
    faults = [(f"{client.base_url} export error file", GAP_OF_ERRORS, words[:300])
              for words in result.errors]
    level = export.kickoff_path
    return Pulled(files, result.transaction_time,
                  f"{client.base_url}/{level}" + (f" _since {since}" if since else ""), faults,
                  result.log)


def pull_search(client: FhirClient, build: BuildSettings, since: str | None) -> Pulled:
    """The census by REST search, then the charts of its patients. The server's time at the
    first request, less a minute, is the next `_since` (what changes while the pull runs is
    read again next time rather than missed)."""
    log = ExportLog()
    started = server_time(client)
    encounters = _encounter_params(build, since)
    found = _by_type(client.search_resources("Encounter", encounters))
    log.add("census", encounters=len(found.get("Encounter", [])),
            patients=len(found.get("Patient", [])))
    places: list[tuple[str, Any]] = [("_count", client.settings.page_size)]
    if since:
        places.append(("_lastUpdated", f"gt{since}"))
    found.setdefault("Location", []).extend(client.search_resources("Location", places))
    patients = sorted({r["id"] for r in found.get("Patient", []) if isinstance(r.get("id"), str)})
    linked = sorted(_linked(found.get("Patient", [])) - set(patients))
    if linked:  # a merged chart: the replaced record's allergies and orders still point to it
        found["Patient"].extend(client.search_resources(
            "Patient", [("_id", ",".join(linked)), ("_count", client.settings.page_size)]))
        patients += linked
    files = _files(found, "census")
    files += chart_files(client, build, patients, "chart", since)
    files += _practitioners(client, files, {r.get("id") for r in found.get("Practitioner", [])})
    log.add("charts", patients=len(patients), files=len(files))
    return Pulled(files, utc_instant(started - timedelta(minutes=1)),
                  f"{client.base_url} (search)" + (f" _lastUpdated > {since}" if since else ""),
                  log=log)


def admission_files(client: FhirClient, build: BuildSettings, patients: list[str]
                    ) -> list[MemoryFile]:
    """The Patient resources of patients admitted since the last pull (a `_since` export
    leaves out a Patient that did not change) and their whole charts."""
    found: dict[str, list[dict]] = {}
    size = max(1, client.settings.batch_patients)
    for start in range(0, len(patients), size):
        found.setdefault("Patient", []).extend(client.search_resources(
            "Patient", [("_id", ",".join(patients[start:start + size])),
                        ("_count", client.settings.page_size)]))
    files = _files(found, "admitted")
    return files + chart_files(client, build, patients, "admitted")


def chart_files(client: FhirClient, build: BuildSettings, patients: list[str], label: str,
                since: str | None = None) -> list[MemoryFile]:
    """What the chart needs of `patients`, batched `patient=a,b,c`, within the windows (sent
    as date filters unless `[source] search_windows` is off). Each type's batches shrink to
    what one page holds once a batch needed more: a server pages by offset, and every page of
    a long result can cost it as much as the whole."""
    found: dict[str, list[dict]] = {}
    settings = client.settings
    for rtype, param, window, extra in CHART_SEARCHES:
        size, start = max(1, settings.batch_patients), 0
        while start < len(patients):
            batch = patients[start:start + size]
            params: list[tuple[str, Any]] = [
                (param, ",".join(f"Patient/{p}" for p in batch)),
                ("_count", settings.page_size), *extra]
            cutoff = _cutoff(build, window) if settings.search_windows else None
            if cutoff:
                params.append((TIME_PARAMS[rtype], f"ge{cutoff}"))
            if since:
                params.append(("_lastUpdated", f"gt{since}"))
            got = 0
            for resource in client.search_resources(rtype, params):
                found.setdefault(str(resource.get("resourceType")), []).append(resource)
                got += 1
            start += len(batch)
            if got > settings.page_size:  # more than a page: fewer patients a query
                size = max(1, len(batch) * settings.page_size // got)
    return _files(found, label)


def _practitioners(client: FhirClient, files: list[MemoryFile], have: set) -> list[MemoryFile]:
    """The Practitioners the charts name (who gave a dose, wrote a note, ordered) that the
    census search did not bring: the MAR says who gave what by name."""
    wanted = sorted(_references(_resources(files), "Practitioner") - have)
    found: dict[str, list[dict]] = {}
    size = max(1, client.settings.batch_patients)
    for start in range(0, len(wanted), size):
        found.setdefault("Practitioner", []).extend(client.search_resources(
            "Practitioner", [("_id", ",".join(wanted[start:start + size])),
                             ("_count", client.settings.page_size)]))
    return _files(found, "named") if found else []


def _references(resources: Iterable[dict], rtype: str) -> set[str]:
    """The ids of every `rtype/<id>` reference anywhere in the resources."""
    found: set[str] = set()
    prefix = f"{rtype}/"

    def walk(value: object) -> None:
        if isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and ref.startswith(prefix):
                found.add(ref[len(prefix):].split("/")[0])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for resource in resources:
        walk(resource)
    return found


def admitted_since(files: Iterable[MemoryFile], since: str, build: BuildSettings) -> set[str]:
    """Patients of the pulled active encounters that began after `since`: their charts are
    older than the delta and must be fetched whole."""
    cutoff = to_datetime(since)
    patients = set()
    for resource in _resources(f for f in files if f.name.startswith("Encounter.")):
        if resource.get("status") not in build.encounter_status:
            continue
        start = to_datetime((resource.get("period") or {}).get("start"))
        ref = (resource.get("subject") or {}).get("reference", "")
        if start and cutoff and start >= cutoff and isinstance(ref, str) and \
                ref.startswith("Patient/"):
            patients.add(ref.removeprefix("Patient/").split("/")[0])
    return patients


def server_time(client: FhirClient) -> datetime:
    """The server's clock (its Date header on /metadata), else this machine's."""
    import email.utils

    try:
        response = client.request("GET", "metadata")
        when = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
        return when.astimezone(UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _encounter_params(build: BuildSettings, since: str | None) -> list[tuple[str, Any]]:
    params: list[tuple[str, Any]] = [
        ("_include", "Encounter:patient"), ("_include", "Encounter:location"),
        ("_include", "Encounter:participant")]
    if since:  # a discharge or a transfer is a changed encounter of any status
        params.append(("_lastUpdated", f"gt{since}"))
    else:
        params += [("status", ",".join(build.encounter_status)),
                   ("class", ",".join(build.encounter_class))]
    return params


def _cutoff(build: BuildSettings, window: str | None) -> str | None:
    if window is None:
        return None
    if window == "observations":  # vitals and labs: the wider of the two windows
        span = timedelta(hours=max(build.vitals_hours, build.labs_days * 24))
    elif window.endswith("_hours"):
        span = timedelta(hours=getattr(build, window))
    else:
        span = timedelta(days=getattr(build, window))
    return utc_instant(build.as_of - span)


def _linked(patients: Iterable[dict]) -> set[str]:
    """The other patients these are linked to (replaces, replaced-by, seealso)."""
    found = set()
    for patient in patients:
        for link in patient.get("link") or []:
            ref = ((link or {}).get("other") or {}).get("reference", "") \
                if isinstance(link, dict) else ""
            if isinstance(ref, str) and ref.startswith("Patient/"):
                found.add(ref.removeprefix("Patient/").split("/")[0])
    return found


def _by_type(resources: Iterable[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for resource in resources:
        found.setdefault(str(resource.get("resourceType")), []).append(resource)
    return found


def _files(found: dict[str, list[dict]], label: str) -> list[MemoryFile]:
    """One NDJSON file per type (a resource included twice, once)."""
    files = []
    for rtype, resources in sorted(found.items()):
        seen, lines = set(), []
        for resource in resources:
            key = resource.get("id")
            if key in seen and key is not None:
                continue
            seen.add(key)
            lines.append(orjson.dumps(resource))
        files.append(MemoryFile(f"{rtype}.{label}.ndjson", b"\n".join(lines) + b"\n"))
    return files


def _resources(files: Iterable[MemoryFile]) -> Iterator[dict]:
    for file in files:
        for line in file.data.splitlines():
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(resource, dict):
                yield resource
