"""Small readers for FHIR R4 datatypes, tolerant of the shapes real exports get wrong.

Each returns None (never raises) when the element is absent or malformed; the mappers decide
whether that is a gap.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
RESTRICTED_CODES = frozenset({"R", "V"})

# Code systems the toolkit knows; a coding from any other is reported as a gap (warning).
KNOWN_SYSTEMS = frozenset({
    "http://snomed.info/sct", "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10",
    "http://hl7.org/fhir/sid/icd-9-cm", "http://hl7.org/fhir/sid/cvx", "http://unitsofmeasure.org",
    "http://hl7.org/fhir/sid/ndc", "urn:ietf:bcp:47", "http://www.ama-assn.org/go/cpt",
    "http://www.nubc.org/patient-discharge", "urn:oid:2.16.840.1.113883.6.238",
    "http://hl7.org/fhir/sid/us-npi",
})
KNOWN_PREFIXES = ("http://terminology.hl7.org/CodeSystem/", "http://hl7.org/fhir/",
                  "https://hospital.example.org/fhir/")

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_PATTERN.match(value))


def known_system(system: str | None) -> bool:
    return not system or system in KNOWN_SYSTEMS or system.startswith(KNOWN_PREFIXES)


def codings(cc: object) -> list[dict]:
    if not isinstance(cc, dict):
        return []
    found = cc.get("coding")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


# The three readers below run several times on every resource of an export: they walk the
# codings in place rather than through `codings`, which would build a list each time.

def first_coding(cc: object) -> dict:
    if isinstance(cc, dict):
        found = cc.get("coding")
        if isinstance(found, list):
            for c in found:
                if isinstance(c, dict):
                    return c
    return {}


def code_of(cc: object, system: str | None = None) -> str | None:
    if isinstance(cc, dict):
        found = cc.get("coding")
        if isinstance(found, list):
            for c in found:
                if isinstance(c, dict) and (system is None or c.get("system") == system):
                    return c.get("code")
    return None


def text_of(cc: object) -> str | None:
    """The human text of a CodeableConcept: its text, else the first coding's display/code."""
    if not isinstance(cc, dict):
        return None
    text = cc.get("text")
    if isinstance(text, str):
        text = text.strip()
        if text:
            return text
    found = cc.get("coding")
    if not isinstance(found, list):
        return None
    head = None
    for c in found:
        if isinstance(c, dict):
            if head is None:
                head = c
            if c.get("display"):
                return str(c["display"])
    return str(head["code"]) if head is not None and head.get("code") else None


def first(items: object) -> dict:
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return items if isinstance(items, dict) else {}


def as_list(value: object) -> list:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def utc_time(value: object) -> str | None:
    """An ISO 8601 instant in UTC (`...Z`), or a plain date kept as a date; None if invalid."""
    if not isinstance(value, str) or not value:
        return None
    if _CANONICAL.match(value):  # already what we store: the common case, kept cheap
        return value
    if _DATE.match(value):
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # FHIR requires a zone when a time is given; a zoneless time is read as UTC.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_datetime(iso: str | None) -> datetime | None:
    if not iso:
        return None
    if len(iso) == 10:
        iso += "T00:00:00Z"
    elif len(iso) < 10:
        iso = (iso + "-01-01")[:10] + "T00:00:00Z"
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


def period_start(resource: dict, *keys: str) -> str | None:
    """The first time found among effective[x]/performed[x]-style elements."""
    for key in keys:
        value = resource.get(key)
        if isinstance(value, dict):
            value = value.get("start") or value.get("end")
        found = utc_time(value)
        if found:
            return found
    return None


_NUMBER = (int, float)  # a tuple: isinstance with `int | float` builds the union every call


def quantity(q: object) -> tuple[float | None, str | None]:
    if not isinstance(q, dict):
        return None, None
    value = q.get("value")
    unit = q.get("unit") or q.get("code")
    return (float(value) if isinstance(value, _NUMBER) else None), unit


def quantity_text(q: object) -> str | None:
    value, unit = quantity(q)
    if value is None:
        return None
    return f"{value:g} {unit}".strip() if unit else f"{value:g}"


def restricted(resource: dict) -> bool:
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        return False
    security = meta.get("security")
    if security is None:  # most resources: no labels at all
        return False
    return any(isinstance(s, dict) and s.get("code") in RESTRICTED_CODES
               and s.get("system", CONFIDENTIALITY) == CONFIDENTIALITY
               for s in as_list(security))


def human_name(names: object) -> tuple[str, str, str]:
    """(family, given, display "FAMILY, Given") from the official (or first) HumanName."""
    candidates = [n for n in as_list(names) if isinstance(n, dict)]
    if not candidates:
        return "", "", ""
    name = next((n for n in candidates if n.get("use") == "official"), candidates[0])
    family = name.get("family") if isinstance(name.get("family"), str) else ""
    given = " ".join(g for g in as_list(name.get("given")) if isinstance(g, str))
    if not family and not given and isinstance(name.get("text"), str):
        return "", "", name["text"]
    display = f"{family.upper()}, {given}" if family and given else (family.upper() or given)
    return family, given, display


def practitioner_name(resource: dict) -> str:
    family, given, display = human_name(resource.get("name"))
    prefix = next((p for n in as_list(resource.get("name")) if isinstance(n, dict)
                   for p in as_list(n.get("prefix")) if isinstance(p, str)), "")
    if family:
        return f"{prefix} {given} {family}".strip()
    return display
