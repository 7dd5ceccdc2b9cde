"""Reading FHIR R4 sources: Bulk Data NDJSON folders (plain or .ndjson.gz), folders of
Bundles and single resources (the Synthea layout), or one file of either kind.

A source is read in two passes: `core()` yields the resources that decide who is in the census
(Patient, Encounter, Location, Practitioner and friends), `rest()` everything else, so that the
clinical resources can be mapped as they stream past without holding a whole export in memory.
Lines and files that are not JSON objects are reported to `on_bad` with file and line number;
reading goes on.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import orjson

from .errors import ToolkitError

CORE_TYPES = frozenset({"Patient", "Encounter", "Location", "Practitioner", "PractitionerRole",
                        "Organization", "Medication"})

# Resource types a Bulk Data file name may announce (R4); others are read in the first pass.
_KNOWN_TYPES = CORE_TYPES | frozenset({
    "AllergyIntolerance", "Condition", "MedicationRequest", "MedicationAdministration",
    "MedicationStatement", "Observation", "Procedure", "DocumentReference", "Flag",
    "DiagnosticReport", "Immunization", "CarePlan", "CareTeam", "Claim", "ExplanationOfBenefit",
    "Device", "ImagingStudy", "Goal", "Provenance", "SupplyDelivery", "Media", "Binary",
    "ServiceRequest", "Composition", "AuditEvent", "Bundle", "Coverage", "Specimen",
})

# A line or file that is not JSON but names an Encounter with a status the build selects.
MALFORMED_ENCOUNTER = "malformed-active-encounter"

# The pseudo resource type of a Bundle entry whose request is a DELETE (a `_since` export's
# deletions), for a refresh to apply.
DELETE = "__delete__"

BadInput = Callable[[str, str, str], None]  # (where, reason, detail)


@dataclass(slots=True)
class Record:
    where: str  # "Observation.ndjson:12" or "bundle.json#entry[3]"
    resource: dict
    raw: bytes | None = None  # the exact source bytes, when the source had one per resource
    full_url: str | None = None  # Bundle.entry.fullUrl, for urn:uuid references


class SourceError(ToolkitError):
    """The source as a whole cannot be read (missing, empty, not FHIR)."""

    reason = "source"


_TYPE_FROM_NAME = re.compile(r"^([A-Z][A-Za-z]+)")
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_BOM = b"\xef\xbb\xbf"
# Faults of the input the reader works around: warnings, the resources are still read.
WARNING_INPUT = frozenset({"byte-order-mark", "relative-fullurl"})


class MemoryFile:
    """An NDJSON file held in memory (a Bulk export or the answers of a FHIR search, which
    are patient data and never written to disk in plaintext), read as a file on disk is:
    its name says its type, its size and bytes are there to be read in slices."""

    __slots__ = ("name", "data")

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data

    def stat(self) -> SimpleNamespace:
        return SimpleNamespace(st_size=len(self.data))

    def open_binary(self) -> io.BytesIO:
        return io.BytesIO(self.data)

    def __repr__(self) -> str:
        return f"MemoryFile({self.name!r}, {len(self.data)} bytes)"


SourceFile = Path | MemoryFile


def ndjson_type(path: SourceFile) -> str | None:
    """`Observation.000.ndjson.gz` -> Observation (Bulk Data file naming)."""
    m = _TYPE_FROM_NAME.match(path.name)
    return m.group(1) if m else None


def _open(path: SourceFile):
    if isinstance(path, MemoryFile):
        return path.open_binary()
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _broken(data: bytes, looks_active: Callable[[bytes], bool] | None) -> str:
    """The reason for bytes that are not JSON: an unreadable line that looks like an active
    encounter gets its own, so the census can count it as missing rather than shrink."""
    if looks_active is not None and b'"Encounter"' in data and looks_active(data):
        return MALFORMED_ENCOUNTER
    return "malformed-json"


def ndjson_records(path: SourceFile, on_bad: BadInput,
                    looks_active: Callable[[bytes], bool] | None = None,
                    start: int = 0, stop: int | None = None) -> Iterator[Record]:
    """The resources of one NDJSON file; with `start`/`stop` (plain files only), those of
    the lines that begin at a byte offset in [start, stop), numbered as in the whole file."""
    name = path.name
    try:
        with _open(path) as f:
            first = _seek_line(f, start) if start else 1
            offset = f.tell()
            for n, line in enumerate(f, first):
                if stop is not None and offset >= stop:
                    break
                offset += len(line)
                if not line.strip():
                    continue
                where = f"{name}:{n}"
                try:
                    resource = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    on_bad(where, _broken(line, looks_active), str(e).split(":")[0][:120])
                    continue
                if not isinstance(resource, dict):
                    on_bad(where, "not-a-resource", f"a JSON {type(resource).__name__}, "
                                                    "not an object")
                    continue
                if resource.get("resourceType") == "Bundle":
                    yield from _entries(resource, where, None, on_bad)
                else:
                    yield Record(where, resource, line.rstrip(b"\r\n"))
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        on_bad(name, "unreadable-file", str(e)[:160])


def _seek_line(f, start: int) -> int:
    """Move `f` to the first line that begins at or after byte `start`; return its number."""
    f.seek(start - 1)
    if f.read(1) != b"\n":
        f.readline()  # the line under `start` began before it: it belongs to the range before
    line_start = f.tell()
    f.seek(0)
    newlines, left = 0, line_start
    while left:
        chunk = f.read(min(left, 1 << 22))
        if not chunk:
            break
        newlines += chunk.count(b"\n")
        left -= len(chunk)
    f.seek(line_start)
    return newlines + 1


def _bundle_records(path: Path, on_bad: BadInput,
                    looks_active: Callable[[bytes], bool] | None = None) -> Iterator[Record]:
    """Resources of one JSON file: a Bundle's entries (recursively), or a lone resource."""
    try:
        raw = path.read_bytes()
        if raw.startswith(_BOM):
            on_bad(path.name, "byte-order-mark", "file starts with a UTF-8 byte-order mark, "
                                                 "which JSON does not allow; read without it")
        data = orjson.loads(raw.removeprefix(_BOM))
    except OSError as e:
        on_bad(path.name, "unreadable-file", e.strerror or str(e))
        return
    except orjson.JSONDecodeError as e:
        on_bad(path.name, _broken(raw, looks_active), str(e)[:160])
        return
    if not isinstance(data, dict):
        on_bad(path.name, "not-a-resource", "the file is not a JSON object")
        return
    yield from _entries(data, path.name, None, on_bad)


def _entries(data: dict, where: str, full_url: str | None, on_bad: BadInput) -> Iterator[Record]:
    if data.get("resourceType") != "Bundle":
        yield Record(where, data, None, full_url)
        return
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        on_bad(where, "invalid-bundle", "Bundle.entry is not an array")
        return
    for i, entry in enumerate(entries):
        here = f"{where}#entry[{i}]"
        request = entry.get("request") if isinstance(entry, dict) else None
        if isinstance(request, dict) and request.get("method") == "DELETE":
            yield Record(here, {"resourceType": DELETE, "url": request.get("url", "")})
            continue
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            on_bad(here, "invalid-bundle", "entry has no resource object")
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and not _ABSOLUTE.match(full_url):
            on_bad(here, "relative-fullurl", f"fullUrl {full_url[:80]!r} is not absolute (R4 "
                                             "requires a URL or urn:uuid)")
        yield from _entries(resource, here, full_url, on_bad)


class Source:
    """A FHIR source on disk (a folder or a file, NDJSON or JSON), or NDJSON files held in
    memory (`Source.in_memory`: what a FHIR server gave)."""

    def __init__(self, path: Path, on_bad: BadInput):
        self.path = Path(path)
        self.on_bad = on_bad
        # Set by the builder: whether unreadable bytes hold an encounter status it selects.
        self.looks_active: Callable[[bytes], bool] | None = None
        if not self.path.exists():
            raise SourceError(f"{self.path}: source does not exist")
        if self.path.is_file() and not _is_fhir_file(self.path):
            # A key file or a PDF given by mistake would otherwise be "read" as a broken
            # Bundle and build an empty snapshot; the name is all a Bulk Data file has to go by.
            raise SourceError(f"{self.path}: not a FHIR source file (.ndjson, .ndjson.gz or "
                              ".json, or a folder of them)")
        files = [self.path] if self.path.is_file() else sorted(
            p for p in self.path.rglob("*") if p.is_file() and _is_fhir_file(p))
        if not files:
            raise SourceError(f"{self.path}: no .ndjson, .ndjson.gz or .json files in source")
        self.ndjson: list[SourceFile] = [p for p in files if ".ndjson" in p.name]
        self.json = [p for p in files if p not in self.ndjson]
        self._held: list[Record] | None = None
        self.description: str | None = None  # where in-memory files came from
        self.faults: list[tuple[str, str, str]] = []

    @classmethod
    def in_memory(cls, files: list[MemoryFile], on_bad: BadInput, description: str,
                  faults: list[tuple[str, str, str]] = ()) -> Source:
        """NDJSON files held in memory; `description` says where they came from (the URL);
        `faults` (where, reason, detail) go to the build's gap register when it attaches
        (an export's error files: resources the server could not export)."""
        source = cls.__new__(cls)
        source.path, source.on_bad, source.looks_active = Path("."), on_bad, None
        source.ndjson, source.json, source._held = list(files), [], None
        source.description, source.faults = description, list(faults)
        return source

    def describe(self) -> str:
        if self.description is not None:
            return f"{self.description} ({len(self.ndjson)} NDJSON files, in memory)"
        return f"{self.path} ({len(self.ndjson)} NDJSON, {len(self.json)} JSON files)"

    def _bundle_pool(self) -> list[Record]:
        # Bundles mix every type in one file, so they are read once and held: Synthea-style
        # folders are per-patient files, far smaller than a Bulk Data export.
        if self._held is None:
            self._held = [r for p in self.json
                          for r in _bundle_records(p, self.on_bad, self.looks_active)]
        return self._held

    def bundle_records(self) -> list[Record]:
        return self._bundle_pool()

    def core(self) -> Iterator[Record]:
        # Files whose name does not say their type are read here too; the builder sets aside
        # whatever non-core resources they hold for the second pass.
        for path in self.ndjson:
            if ndjson_type(path) in CORE_TYPES or ndjson_type(path) not in _KNOWN_TYPES:
                yield from ndjson_records(path, self.on_bad, self.looks_active)
        for record in self._bundle_pool():
            if _type_name(record.resource) in CORE_TYPES:
                yield record

    def rest(self, skip: set[SourceFile] | frozenset[SourceFile] = frozenset()
             ) -> Iterator[Record]:
        """The second pass, passing over the NDJSON files in `skip` (read elsewhere)."""
        for path in self.ndjson:
            if path not in skip and ndjson_type(path) in _KNOWN_TYPES - CORE_TYPES:
                yield from ndjson_records(path, self.on_bad, self.looks_active)
        for record in self._bundle_pool():
            if _type_name(record.resource) not in CORE_TYPES:
                yield record


def _type_name(resource: dict) -> str | None:
    rtype = resource.get("resourceType")
    return rtype if isinstance(rtype, str) else None  # a list here must not stop the read


def _is_fhir_file(p: Path) -> bool:
    name = p.name
    return not name.startswith(".") and (name.endswith((".ndjson", ".ndjson.gz", ".json")))
