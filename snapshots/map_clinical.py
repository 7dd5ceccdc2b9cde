"""Mapping the clinical resources of a census patient: problems, observations, procedures,
notes and flags (allergies: snapshots.map_allergy). Each mapper returns the canonical row, or
raises OutsideWindow when the record is older than the downtime chart keeps."""

from __future__ import annotations

import base64
import binascii

from .fhirdata import (
    as_list,
    code_of,
    first_coding,
    period_start,
    quantity,
    restricted,
    text_of,
    to_datetime,
    utc_time,
)
from .mapcontext import MapContext
from .reading import Record

FLAG_KINDS = "https://hospital.example.org/fhir/CodeSystem/flag-kind"
VITALS, LABS = "vital-signs", "laboratory"
LOINC = "http://loinc.org"


class OutsideWindow(Exception):
    """The record is older than what the downtime chart keeps (not a gap: counted only)."""


def _recent(ctx: MapContext, when: str | None, setting: str) -> None:
    """Raise OutsideWindow when `when` is before the window of `setting` ("vitals_hours"...)."""
    start, since = ctx.window(setting)
    if when and len(when) == 20:  # canonical UTC form: compare as text, no parsing
        if when < start:
            raise OutsideWindow
        return
    moment = to_datetime(when)
    if moment is not None and moment < since:
        raise OutsideWindow


def map_condition(ctx: MapContext, record: Record, pid: str) -> dict:
    res = record.resource
    coding = first_coding(res.get("code"))
    return {
        "id": res["id"], "patient_id": pid, "code": coding.get("code"),
        "system": coding.get("system"),
        "display": text_of(res.get("code")) or "(problem without a name)",
        "clinical_status": code_of(res.get("clinicalStatus")),
        "onset": period_start(res, "onsetDateTime", "onsetPeriod", "recordedDate"),
        "restricted": int(restricted(res)), **ctx.lineage(record),
    }


def observation_category(res: dict) -> str:
    for cat in as_list(res.get("category")):
        code = code_of(cat)
        if code in (VITALS, LABS):
            return code
    return "other"


_OBSERVED_AT = ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")
_WINDOW_OF = {VITALS: "vitals_hours", LABS: "labs_days"}


def map_observations(ctx: MapContext, record: Record, pid: str,
                     encounter: str | None) -> list[tuple]:
    """One row per value: a blood-pressure panel gives a row per component. Observations are
    most of an export, so their rows are tuples, not dicts: the columns in the order of
    TABLES["observations"], then where the record was read (for the gap register, should the
    row not store)."""
    res = record.resource
    category = observation_category(res)
    when = period_start(res, *_OBSERVED_AT)
    window = _WINDOW_OF.get(category)
    if window is None:
        cats = res.get("category")
        if cats is not None and not (isinstance(cats, list) and
                                     all(isinstance(c, dict) for c in cats)):
            # Not "other": unreadable. Whether it was a vital sign cannot be told, so it is
            # not quietly counted as left out on purpose.
            raise ValueError("category is not an array of CodeableConcepts")
        raise OutsideWindow  # social history, surveys...: not part of the downtime chart
    _recent(ctx, when, window)
    lineage = ctx.lineage_values(record)
    masked = int(restricted(res))
    found = res.get("component")
    components = [c for c in as_list(found) if isinstance(c, dict)] if found is not None else []
    # A panel with its own value[x] is one row; asked only of panels (most have no components).
    has_value = bool(components) and any(k.startswith("value") for k in res)
    parts = components if components and not has_value else [res]
    rows = []
    for i, part in enumerate(parts):
        rid = res["id"] if part is res else f"{res['id']}#{i}"
        code = part.get("code")
        coding = first_coding(code)
        display = text_of(code)
        value_num, value_text, unit = _value(part)
        low, high, ref_text = _reference(part)
        flag = _interpretation(part) or (None if part is res else _interpretation(res))
        if value_num is None and value_text is None and any(k.startswith("value") for k in part):
            ctx.gap(record, "unreadable-value", f"{rid}: value[x] of the wrong shape; "
                    "shown without a value", "warning", pid)
        elif display is None and code is not None:
            ctx.gap(record, "wrong-shape", f"{rid}: code is not a CodeableConcept "
                    "with text or a coding; shown without a name", "warning", pid)
        rows.append((rid, pid, encounter, category, coding.get("code"), coding.get("system"),
                     display, value_num, value_text, unit, when, low, high, ref_text, flag,
                     masked, *lineage, record.where))
    return rows


def _value(part: dict) -> tuple[float | None, str | None, str | None]:
    """(value_num, value_text, unit)."""
    if isinstance(part.get("valueQuantity"), dict):
        value, unit = quantity(part["valueQuantity"])
        return value, None, unit
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in part and part[key] is not None:
            value = part[key]
            if key == "valueInteger":
                return float(value), None, None
            return None, str(value), None
    if isinstance(part.get("valueCodeableConcept"), dict):
        return None, text_of(part["valueCodeableConcept"]), None
    return None, (text_of(part.get("dataAbsentReason")) and
                  f"(no value: {text_of(part.get('dataAbsentReason'))})"), None


_NO_RANGE = (None, None, None)


def _reference(part: dict) -> tuple[float | None, float | None, object]:
    """(ref_low, ref_high, ref_text) of the first reference range."""
    for first in as_list(part.get("referenceRange")):
        if isinstance(first, dict):
            low, _ = quantity(first.get("low"))
            high, _ = quantity(first.get("high"))
            return low, high, first.get("text")
    return _NO_RANGE


def _interpretation(part: dict) -> str | None:
    for interp in as_list(part.get("interpretation")):
        code = code_of(interp)
        if code:
            return code
    return None


def map_procedure(ctx: MapContext, record: Record, pid: str) -> dict:
    res = record.resource
    when = period_start(res, "performedDateTime", "performedPeriod")
    _recent(ctx, when, "procedures_days")
    coding = first_coding(res.get("code"))
    return {"id": res["id"], "patient_id": pid, "code": coding.get("code"),
            "system": coding.get("system"), "display": text_of(res.get("code")) or "(procedure)",
            "status": res.get("status"), "performed_at": when,
            "restricted": int(restricted(res)), **ctx.lineage(record)}


def map_document(ctx: MapContext, record: Record, pid: str, encounter: str | None) -> dict:
    res = record.resource
    when = utc_time(res.get("date")) or period_start(res.get("context") or {}, "period")
    attachment = next((c.get("attachment") for c in as_list(res.get("content"))
                       if isinstance(c, dict) and isinstance(c.get("attachment"), dict)), {})
    when = when or utc_time(attachment.get("creation"))
    _recent(ctx, when, "notes_days")
    content_type = attachment.get("contentType") or ""
    data, text = None, None
    if attachment.get("data"):
        try:
            data = base64.b64decode(attachment["data"], validate=True)
        except (binascii.Error, ValueError):
            # Keep the note's title and author on the chart; say its content is unreadable.
            ctx.gap(record, "invalid-attachment", "attachment data is not valid base64; "
                                                  "content left out", "warning", pid)
            data, content_type = b"", "text/plain"
            attachment = {**attachment, "size": None}
        if attachment.get("size") not in (None, len(data)):
            ctx.gap(record, "attachment-size", f"attachment size {attachment['size']} but data "
                                               f"is {len(data)} bytes", "warning", pid)
        if content_type.startswith("text/"):
            text, data = data.decode("utf-8", errors="replace"), None
            text = text or "(attachment could not be decoded)"
    elif attachment.get("url"):
        ctx.gap(record, "external-attachment", f"attachment only by URL ({attachment['url']}); "
                                               "content not in the snapshot", "warning", pid)
    authors = [ctx.practitioners.get(ctx.resolver.ref_id(a, "Practitioner") or "") or
               (a.get("display") if isinstance(a, dict) else None)
               for a in as_list(res.get("author"))]
    kind = text_of(res.get("type"))
    return {"id": res["id"], "patient_id": pid, "encounter_id": encounter,
            "title": attachment.get("title") or res.get("description") or kind or "Document",
            "kind": kind, "author": ", ".join(a for a in authors if a) or None,
            "written_at": when, "content_type": content_type, "text": text, "data": data,
            "size": len(text.encode()) if text is not None else (len(data) if data else 0),
            "restricted": int(restricted(res)), **ctx.lineage(record)}


def map_flag(ctx: MapContext, record: Record, pid: str) -> dict:
    res = record.resource
    kind = "other"
    for cat in as_list(res.get("category")):
        for c in as_list(cat.get("coding") if isinstance(cat, dict) else None):
            if isinstance(c, dict) and c.get("system") == FLAG_KINDS and c.get("code"):
                kind = c["code"]
    if kind == "other":
        kind = _guess_flag_kind(text_of(res.get("code")) or "")
    period = res.get("period") if isinstance(res.get("period"), dict) else {}
    return {"id": res["id"], "patient_id": pid, "kind": kind,
            "text": text_of(res.get("code")) or "(flag)", "status": res.get("status"),
            "since": utc_time(period.get("start")), **ctx.lineage(record)}


def _guess_flag_kind(text: str) -> str:
    lower = text.lower()
    if any(w in lower for w in ("dnr", "full code", "resusc", "code status", "comfort care")):
        return "code-status"
    if "isolation" in lower or "precaution" in lower:
        return "isolation"
    if "fall" in lower:
        return "fall-risk"
    return "other"
