"""Mapping the resources that decide the census: Patient, Practitioner, Location, Encounter."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlparse

from .fhirdata import (
    as_list,
    code_of,
    first_coding,
    human_name,
    practitioner_name,
    text_of,
    to_datetime,
    utc_time,
)
from .mapcontext import MapContext
from .reading import Record
from .structure import markup_in

MR_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
PRIMARY_MRN_SYSTEMS = ("https://hospital.example.org/fhir/mrn",)
UNIT_IDENTIFIER = "https://hospital.example.org/fhir/unit"
UNASSIGNED = "UNASSIGNED"


@dataclass
class Place:
    id: str
    name: str
    physical: str | None  # wa (ward), ro (room), bd (bed), ...
    parent: str | None
    code: str | None
    kind: str | None


@dataclass
class Placement:
    unit_id: str | None = None
    unit_code: str = UNASSIGNED
    room: str | None = None
    bed: str | None = None
    previous_units: list[str] = field(default_factory=list)


def map_practitioner(ctx: MapContext, record: Record) -> dict:
    res = record.resource
    name = practitioner_name(res)
    ctx.practitioners[res["id"]] = name
    npi = next((i.get("value") for i in as_list(res.get("identifier"))
                if isinstance(i, dict) and i.get("system") == "http://hl7.org/fhir/sid/us-npi"),
               None)
    return {"id": res["id"], "name": name, "npi": npi, **ctx.lineage(record)}


def map_location(ctx: MapContext, record: Record) -> Place:
    res = record.resource
    parent = ctx.resolver.ref_id(res.get("partOf"), "Location")
    code = next((i.get("value") for i in as_list(res.get("identifier"))
                 if isinstance(i, dict) and i.get("system") == UNIT_IDENTIFIER), None)
    return Place(id=res["id"], name=str(res.get("name") or res["id"]),
                 physical=code_of(res.get("physicalType")), parent=parent, code=code,
                 kind=code_of(first_of(res.get("type"))) or text_of(first_of(res.get("type"))))


def first_of(value: object) -> dict:
    items = as_list(value)
    return items[0] if items and isinstance(items[0], dict) else {}


def map_patient(ctx: MapContext, record: Record) -> tuple[dict, list[dict]]:
    """The patient row and its identifier rows; merges are noted in the resolver."""
    res = record.resource
    pid = res["id"]
    for link in as_list(res.get("link")):
        if isinstance(link, dict) and link.get("type") == "replaced-by":
            target = ctx.resolver.ref_id(link.get("other"), "Patient")
            if target and target != pid:
                ctx.resolver.replaced_by[pid] = target
    family, given, display = human_name(res.get("name"))
    if not display:
        ctx.gap(record, "missing-name", "Patient has no name", "warning", pid)
    elif markup_in(display):
        ctx.gap(record, "markup-in-text", f"name {display[:60]!r} holds markup; shown as "
                                          "plain text, never interpreted", "warning", pid)
    identifiers = []
    for ident in as_list(res.get("identifier")):
        if not isinstance(ident, dict) or not ident.get("value"):
            continue
        system = ident.get("system") or ""
        identifiers.append({"patient_id": pid, "system": system, "value": str(ident["value"]),
                            "type": code_of(ident.get("type")) or "",
                            "facility": urlparse(system).hostname or system})
    lineage = ctx.lineage(record)
    for ident in identifiers:
        ident.update(lineage)
    birth = res.get("birthDate") if isinstance(res.get("birthDate"), str) else None
    if birth and to_datetime(birth) is None:
        ctx.gap(record, "invalid-date", f"birthDate {birth!r} is not a date", "warning", pid)
        birth = None
    deceased_at = utc_time(res.get("deceasedDateTime"))
    row = {"id": pid, "mrn": primary_mrn(identifiers) or pid, "family": family, "given": given,
           "name": display, "birth_date": birth, "sex": res.get("gender"),
           "deceased": int(bool(res.get("deceasedBoolean") or deceased_at)),
           "deceased_at": deceased_at, "merged_from": "", **lineage}
    return row, identifiers


def primary_mrn(identifiers: list[dict]) -> str | None:
    mrns = [i for i in identifiers if i["type"] == "MR"]
    for system in PRIMARY_MRN_SYSTEMS:
        for i in mrns:
            if i["system"] == system:
                return i["value"]
    return (mrns or identifiers or [{"value": None}])[0]["value"]


def is_census_encounter(res: dict, statuses: tuple[str, ...], classes: tuple[str, ...]) -> bool:
    klass = res.get("class")
    code = klass.get("code") if isinstance(klass, dict) else None
    return res.get("status") in statuses and code in classes


def place(ctx: MapContext, places: dict[str, Place], res: dict) -> Placement:
    """Where the patient is now (the active location) and the units earlier in the stay."""
    current, earlier = None, []
    for loc in as_list(res.get("location")):
        if not isinstance(loc, dict):
            continue
        lid = ctx.resolver.ref_id(loc.get("location"), "Location")
        status = loc.get("status")
        ended = isinstance(loc.get("period"), dict) and loc["period"].get("end")
        if status in ("completed",) or (ended and status != "active"):
            earlier.append(lid)
        elif status != "planned" and lid:
            current = lid
    found = Placement()
    chain = _chain(places, current)
    for p in chain:
        if p.physical == "bd" and not found.bed:
            found.bed = p.name
        elif p.physical == "ro" and not found.room:
            found.room = p.name
    unit = next((p for p in chain if p.physical == "wa"), chain[-1] if chain else None)
    if unit:
        found.unit_id, found.unit_code = unit.id, unit.code or unit.id
    for lid in earlier:
        prior = next((p for p in _chain(places, lid) if p.physical == "wa"), None)
        if prior and (prior.code or prior.id) != found.unit_code:
            found.previous_units.append(prior.code or prior.id)
    return found


def _chain(places: dict[str, Place], lid: str | None) -> list[Place]:
    chain: list[Place] = []
    while lid and lid in places and len(chain) < 8:
        chain.append(places[lid])
        lid = places[lid].parent
    return chain


def map_encounter(ctx: MapContext, record: Record, patient_id: str, where: Placement) -> dict:
    res = record.resource
    period = res.get("period") if isinstance(res.get("period"), dict) else {}
    attending_id = None
    for part in as_list(res.get("participant")):
        if not isinstance(part, dict):
            continue
        roles = {c.get("code") for t in as_list(part.get("type")) for c in
                 as_list(t.get("coding") if isinstance(t, dict) else None) if isinstance(c, dict)}
        pid = ctx.resolver.ref_id(part.get("individual"), "Practitioner")
        if pid and ("ATND" in roles or attending_id is None):
            attending_id = pid
    reason = next((text_of(r) for r in as_list(res.get("reasonCode")) if text_of(r)), None)
    return {
        "id": res["id"], "patient_id": patient_id, "status": res.get("status"),
        "class": (res.get("class") or {}).get("code"), "unit_id": where.unit_id,
        "unit_code": where.unit_code, "room": where.room, "bed": where.bed,
        "admitted_at": utc_time(period.get("start")), "discharged_at": utc_time(period.get("end")),
        "attending_id": attending_id,
        "attending": ctx.practitioners.get(attending_id or "") or None,
        "reason": reason, "previous_units": ",".join(where.previous_units),
        "name_alert": 0, "name_alert_with": "", **ctx.lineage(record),
    }


def unit_row(p: Place, lineage: dict) -> dict:
    return {"id": p.id, "code": p.code or p.id, "name": p.name, "kind": p.kind, **lineage}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in text if c.isalpha()).upper()


def _soundex(word: str) -> str:
    codes = {**dict.fromkeys("BFPV", "1"), **dict.fromkeys("CGJKQSXZ", "2"),
             **dict.fromkeys("DT", "3"), "L": "4", **dict.fromkeys("MN", "5"), "R": "6"}
    word = _fold(word)
    if not word:
        return ""
    out, last = word[0], codes.get(word[0], "")
    for c in word[1:]:
        code = codes.get(c, "")
        if code and code != last:
            out += code
        if c not in "HW":
            last = code
    return (out + "000")[:4]


def names_alike(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Alike enough to be mixed up at the bedside: the same family name, or family names that
    sound alike with the same first initial."""
    fa, fb = _fold(a[0]), _fold(b[0])
    if not fa or not fb:
        return False
    if fa == fb:
        return True
    ga, gb = _fold(a[1])[:1], _fold(b[1])[:1]
    return _soundex(fa) == _soundex(fb) and ga == gb


def name_alerts(rows: list[tuple[str, str, str, str]]) -> dict[str, list[str]]:
    """(patient id, unit, family, given) -> for each patient, the others on the unit alike."""
    by_unit: dict[str, list[tuple[str, str, str]]] = {}
    for pid, unit, family, given in rows:
        by_unit.setdefault(unit, []).append((pid, family, given))
    alerts: dict[str, list[str]] = {}
    for members in by_unit.values():
        buckets: dict[str, list[tuple[str, str, str]]] = {}
        for m in members:
            buckets.setdefault(_soundex(m[1]), []).append(m)
        for bucket in buckets.values():
            for i, (pa, fa, ga) in enumerate(bucket):
                for pb, fb, gb in bucket[i + 1:]:
                    if pa != pb and names_alike((fa, ga), (fb, gb)):
                        alerts.setdefault(pa, []).append(pb)
                        alerts.setdefault(pb, []).append(pa)
    return alerts


def first_code(res: dict, key: str) -> str | None:
    return first_coding(res.get(key)).get("code")
