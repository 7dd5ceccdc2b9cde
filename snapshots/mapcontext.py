"""What every mapper needs: the resolver, the gap register, the settings and the lineage of the
record being mapped, plus the structural checks done once per resource before mapping."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import orjson

from .fhirdata import codings, is_valid_id, known_system
from .gaps import GapRegister
from .r4model import element_kinds, is_model_name
from .reading import Record
from .references import Resolver
from .settings import BuildSettings
from .structure import (
    contained_faults,
    empty_faults,
    narrative_faults,
    shape_faults,
    status_fault,
)

# FHIR R4 elements of min cardinality 1 (and, for the clinical types, the subject the downtime
# chart cannot do without). A record missing one goes to the gap register.
REQUIRED: dict[str, tuple[str, ...]] = {
    "Encounter": ("status", "class", "subject"),
    "AllergyIntolerance": ("patient",),
    "Condition": ("subject",),
    "MedicationRequest": ("status", "intent", "medication[x]", "subject"),
    "MedicationAdministration": ("status", "medication[x]", "subject", "effective[x]"),
    "Observation": ("status", "code", "subject"),
    "Procedure": ("status", "subject"),
    "DocumentReference": ("status", "content", "subject"),
    "Flag": ("status", "code", "subject"),
    "Location": (),
    "Patient": (),
    "Practitioner": (),
}

# Types that make most of an export (vital signs every few hours, every dose given).
HIGH_VOLUME = frozenset({"Observation", "MedicationAdministration"})

_dumps, _SORTED, _sha256 = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256

# FHIR servers cap resources at a few MB; anything larger is a fault or an attack.
MAX_RESOURCE_BYTES = 1 << 20

# Where each mapped type keeps the coding whose system is checked for code-set integrity.
MAIN_CODE: dict[str, str] = {
    "AllergyIntolerance": "code", "Condition": "code", "Observation": "code",
    "Procedure": "code", "MedicationRequest": "medicationCodeableConcept",
    "MedicationAdministration": "medicationCodeableConcept",
}


_EMPTIABLE = (str, list, dict)

# What the checks count as a build goes (MapContext fields): the build report's inputs.
COUNTERS = ("missing", "systems", "unknown_systems", "timestamp_issues")

# The settings that are windows (a record older than the window is not kept), with their unit.
WINDOW_UNITS = {"vitals_hours": "hours", "labs_days": "days", "administrations_hours": "hours",
                "notes_days": "days", "procedures_days": "days"}


def present(resource: dict, element: str) -> bool:
    if element[-1] != "]":
        # Absent: missing, null, "", [] or {} (0 and false are values).
        value = resource.get(element)
        return value is not None and (bool(value) or not isinstance(value, _EMPTIABLE))
    if element.endswith("[x]"):
        stem = element[:-3]
        # The usual types first, looked up by name; only without one are all keys scanned
        # (an export's own type, e.g. medicationFoo, counts as present too).
        for name in _usual_choices(stem):
            value = resource.get(name)
            if value is not None and (bool(value) or not isinstance(value, _EMPTIABLE)):
                return True
        return any(k.startswith(stem) and k[len(stem):][:1].isupper() and resource[k]
                   not in (None, "", [], {}) for k in resource)
    return resource.get(element) not in (None, "", [], {})


@cache
def _usual_choices(stem: str) -> tuple[str, ...]:
    return tuple(stem + kind for kind in ("CodeableConcept", "Reference", "DateTime", "Period"))


@cache
def allowed_elements(rtype: str) -> frozenset[str]:
    """The element names R4 allows at the top level of a resource type (snapshots.r4model)."""
    return frozenset(element_kinds(rtype)) | {"resourceType"}


@cache
def _plan(rtype: str) -> tuple[frozenset[str], tuple[str, ...], bool]:
    """What `check` asks of every resource of a type: the allowed elements, the required ones
    and whether those are all plain names (no value[x] choice)."""
    required = REQUIRED.get(rtype, ())
    return allowed_elements(rtype), required, all(e[-1] != "]" for e in required)


@cache
def is_r4_type(rtype: str) -> bool:
    """Whether R4 has a resource type of that name (cached: asked once per type)."""
    return is_model_name(rtype)


@dataclass
class MapContext:
    settings: BuildSettings
    resolver: Resolver = field(default_factory=Resolver)
    gaps: GapRegister = field(default_factory=GapRegister)
    practitioners: dict[str, str] = field(default_factory=dict)  # id -> display name
    medications: dict[str, str] = field(default_factory=dict)  # Medication id -> name
    # Counters for the build report.
    missing: dict[tuple[str, str], int] = field(default_factory=dict)
    systems: dict[str, int] = field(default_factory=dict)
    unknown_systems: dict[str, int] = field(default_factory=dict)
    timestamp_issues: dict[str, int] = field(default_factory=dict)
    _cutoffs: dict[tuple, str] = field(default_factory=dict)
    _windows: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def counters(self) -> dict[str, dict]:
        """The check counters the build report reads (a forked child's, to add to these)."""
        return {name: getattr(self, name) for name in COUNTERS}

    def reset_counters(self) -> None:
        for name in COUNTERS:
            setattr(self, name, {})

    def add_counters(self, other: dict[str, dict]) -> None:
        for name in COUNTERS:
            mine: dict = getattr(self, name)
            for key, n in other[name].items():
                mine[key] = mine.get(key, 0) + n

    @property
    def as_of(self) -> datetime:
        return self.settings.as_of

    def cutoff(self, **delta: float) -> str:
        """`since` as canonical text, cached: windows are compared a million times a build."""
        key = tuple(sorted(delta.items()))
        found = self._cutoffs.get(key)
        if found is None:
            found = self._cutoffs[key] = self.since(**delta).strftime("%Y-%m-%dT%H:%M:%SZ")
        return found

    def window(self, setting: str) -> tuple[str, datetime]:
        """Where the window of a setting ("vitals_hours", "labs_days", ...) begins, as
        canonical text and as a time. Cached by name: `cutoff` builds its key from keyword
        arguments, which costs a microsecond on each of a million calls."""
        found = self._windows.get(setting)
        if found is None:
            since = self.since(**{WINDOW_UNITS[setting]: getattr(self.settings, setting)})
            found = self._windows[setting] = (since.strftime("%Y-%m-%dT%H:%M:%SZ"), since)
        return found

    def since(self, **delta: float) -> datetime:
        return self.settings.as_of - timedelta(**delta)

    def lineage(self, record: Record) -> dict:
        src_type, src_id, version, updated, digest = self.lineage_values(record)
        return {"src_type": src_type, "src_id": src_id, "src_version": version,
                "src_updated": updated, "src_hash": digest,
                "_where": record.where}  # not a column: for the gap register if a row fails

    def lineage_values(self, record: Record) -> tuple[object, object, str, str, bytes]:
        """(src_type, src_id, src_version, src_updated, src_hash), the LINEAGE columns."""
        res = record.resource
        meta = res.get("meta")
        if not isinstance(meta, dict):
            meta = {}
        # Canonical JSON, not the source bytes: an unchanged resource re-exported with other
        # whitespace or key order must still be recognised as unchanged.
        body = _dumps(res, option=_SORTED)
        return (res.get("resourceType"), res.get("id"), str(meta.get("versionId") or ""),
                str(meta.get("lastUpdated") or ""),
                # 16 raw bytes, not 32 hex digits: 16 bytes less on every row of a snapshot,
                # which is opened in memory.
                _sha256(body).digest()[:16])

    def gap(self, record: Record, reason: str, detail: str = "", severity: str = "error",
            patient_id: str = "") -> None:
        res = record.resource
        self.gaps.add(record.where, reason, detail, resource_type=str(res.get("resourceType")),
                      resource_id=str(res.get("id") or ""), patient_id=patient_id,
                      severity=severity)

    def timestamp_issue(self, record: Record, kind: str, detail: str, patient_id: str = "") -> None:
        self.timestamp_issues[kind] = self.timestamp_issues.get(kind, 0) + 1
        self.gap(record, f"timestamp-{kind}", detail, "warning", patient_id)

    def check(self, record: Record) -> bool:
        """Structural checks before mapping: False means the record is not usable at all."""
        res = record.resource
        rtype = res["resourceType"]
        body = record.raw if record.raw is not None else orjson.dumps(res)
        # The deep structural checks cost a few microseconds a resource: run on every type but
        # the two that make most of an export, whose structural faults the mappers tolerate
        # (as_list) or report as `unmappable`.
        deep = rtype not in HIGH_VOLUME
        if deep:
            for fault in empty_faults(res, body):
                self.gap(record, "empty-element", f"{fault} (FHIR JSON allows neither empty "
                                                  "arrays or objects nor nulls)", "warning")
            for fault in contained_faults(res):
                self.gap(record, "invalid-contained-id", fault, "warning")
        if not is_valid_id(res.get("id")):
            rid = res.get("id")
            shown = rid if not isinstance(rid, str) or len(rid) <= 40 else f"{rid[:40]}... " \
                f"({len(rid)} characters)"
            missing = [e for e in REQUIRED.get(rtype, ()) if not present(res, e)]
            also = f"; it also has no {', '.join(missing)}" if missing else ""
            self.gap(record, "invalid-id", f"id {shown!r} is not a FHIR id "
                                           f"([A-Za-z0-9-.], 1-64 characters){also}")
            return False
        size = len(body)
        if size > MAX_RESOURCE_BYTES:
            self.gap(record, "oversized", f"{size:,} bytes: over the {MAX_RESOURCE_BYTES:,}-byte "
                                          "limit for one resource")
            return False
        allowed, required, plain = _plan(rtype)
        if not allowed.issuperset(res):
            unknown = set(res) - allowed
            self.gap(record, "unknown-element",
                     f"element(s) not in R4 {rtype}: {', '.join(sorted(unknown))}", "warning")
        if deep:
            for fault in shape_faults(res, rtype):
                self.gap(record, "wrong-shape", fault, "warning")
            fault = status_fault(res, rtype)
            if fault:
                self.gap(record, "invalid-code", fault, "warning")
            for fault in narrative_faults(res):
                self.gap(record, "unsafe-narrative", fault, "warning")
        # Every required value truthy is every required element present: asked first, in C.
        missing = [] if plain and all(map(res.get, required)) else \
            [e for e in required if not present(res, e)]
        for element in missing:
            key = (rtype, element)
            self.missing[key] = self.missing.get(key, 0) + 1
        if missing:
            self.gap(record, "missing-required", f"{rtype} has no {', '.join(missing)}")
            return False
        main = MAIN_CODE.get(rtype)
        if main:
            for c in codings(res.get(main)):
                system = c.get("system") or ""
                if not isinstance(system, str):  # counted by name in the report: keep it text
                    system = f"(not a URI: a JSON {type(system).__name__})"
                self.systems[system] = self.systems.get(system, 0) + 1
                if not known_system(system):
                    self.unknown_systems[system] = self.unknown_systems.get(system, 0) + 1
                    self.gap(record, "unknown-code-system",
                             f"{main} coding {c.get('code')!r} from unknown system {system}",
                             "warning")
        return True
