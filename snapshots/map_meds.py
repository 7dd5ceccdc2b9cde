"""Mapping medication orders and administrations (the downtime MAR's raw material)."""

from __future__ import annotations

from .fhirdata import (
    as_list,
    code_of,
    first,
    first_coding,
    period_start,
    quantity,
    quantity_text,
    restricted,
    text_of,
    utc_time,
)
from .map_clinical import OutsideWindow, _recent
from .mapcontext import MapContext
from .reading import Record

LEGACY_STATUS = "https://hospital.example.org/fhir/StructureDefinition/legacy-medication-status"
# Legacy status codes some EHRs still carry in an extension, and what they mean in R4 terms.
LEGACY_CODES = {"HELD": "on-hold", "HOLD": "on-hold", "SUSP": "on-hold"}
CURRENT = frozenset({"active", "on-hold", "draft"})
IV_ROUTES = frozenset({"47625008", "255560000"})

# The hospital's standard administration times, used when an order gives a frequency code but
# no times of day (the MAR grid still needs boxes to initial).
STANDARD_TIMES = {
    "QD": "09:00", "QOD": "09:00", "AM": "09:00", "PM": "18:00", "BID": "09:00,21:00",
    "TID": "09:00,14:00,21:00", "QID": "09:00,13:00,17:00,21:00",
    "Q4H": "02:00,06:00,10:00,14:00,18:00,22:00", "Q6H": "00:00,06:00,12:00,18:00",
    "Q8H": "06:00,14:00,22:00", "Q12H": "09:00,21:00", "HS": "21:00",
}
_HOURS = {"h": 1, "d": 24, "min": 1 / 60, "wk": 168}


def medication_name(ctx: MapContext, res: dict) -> str | None:
    concept = res.get("medicationCodeableConcept")
    if isinstance(concept, list):  # a list where R4 has one (a wrong-shape gap says so)
        concept = next((c for c in concept if isinstance(c, dict)), None)
    elif isinstance(concept, str):
        return concept.strip() or None
    if isinstance(concept, dict):
        return text_of(concept)
    ref = res.get("medicationReference")
    if isinstance(ref, dict):
        target = ref.get("reference") or ""
        if target.startswith("#"):
            for contained in as_list(res.get("contained")):
                if isinstance(contained, dict) and contained.get("id") == target[1:]:
                    return text_of(contained.get("code"))
        mid = ctx.resolver.ref_id(ref, "Medication")
        return ctx.medications.get(mid or "") or ref.get("display")
    return None


def _status(ctx: MapContext, record: Record, pid: str) -> tuple[str, str | None]:
    res = record.resource
    status = res.get("status")
    for ext in as_list(res.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == LEGACY_STATUS:
            legacy = ext.get("valueCode") or ext.get("valueString")
            if legacy in LEGACY_CODES and status == "active":
                return LEGACY_CODES[legacy], f"legacy status {legacy}: active but on hold"
            ctx.gap(record, "unmapped-legacy-status",
                    f"legacy medication status {legacy!r} with status {status!r} not understood; "
                    f"status {status!r} kept", "warning", pid)
    return status, None


def _schedule(dosage: dict) -> tuple[str | None, str | None, float | None]:
    """(frequency label, times of day, interval hours) from a Dosage's timing."""
    timing = dosage.get("timing") if isinstance(dosage.get("timing"), dict) else {}
    repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else {}
    code = code_of(timing.get("code"))
    times = [t[:5] for t in as_list(repeat.get("timeOfDay")) if isinstance(t, str)]
    freq, period, unit = repeat.get("frequency"), repeat.get("period"), repeat.get("periodUnit")
    interval = None
    if isinstance(period, int | float) and unit in _HOURS and (freq in (None, 1)):
        interval = float(period) * _HOURS[unit]
    label = code or text_of(timing.get("code"))
    if not label and isinstance(period, int | float) and unit:
        label = f"q{period:g}{unit}" if freq in (None, 1) else f"{freq}x per {period:g}{unit}"
    if not times and code in STANDARD_TIMES:
        times = STANDARD_TIMES[code].split(",")
    if interval is None and code and code.startswith("Q") and code.endswith("H"):
        try:
            interval = float(code[1:-1])
        except ValueError:
            pass
    return label or dosage.get("text"), ",".join(times) or None, interval


def map_med_order(ctx: MapContext, record: Record, pid: str, encounter: str | None) -> dict:
    res = record.resource
    status, note = _status(ctx, record, pid)
    authored = utc_time(res.get("authoredOn"))
    if status not in CURRENT:
        _recent(ctx, authored, "labs_days")
    dosages = res.get("dosageInstruction")
    dosage = first(dosages)
    if isinstance(dosages, list) and len(dosages) > 1:
        # A tapering or split-dose order: the MAR row shows the first; say what it leaves out.
        extra = "; ".join(str(d.get("text") or "(no text)") if isinstance(d, dict) else "?"
                          for d in dosages[1:])
        ctx.gap(record, "unmapped-dosage", f"{len(dosages) - 1} more dosageInstruction "
                f"entr{'y' if len(dosages) == 2 else 'ies'} not mapped (only the first is on "
                f"the MAR): {extra}"[:300], "warning", pid)
    dose_rate = first(dosage.get("doseAndRate"))
    dose_value, dose_unit = quantity(dose_rate.get("doseQuantity"))
    dose = quantity_text(dose_rate.get("doseQuantity"))
    if dose is None and isinstance(dose_rate.get("doseRange"), dict):
        low = quantity_text(dose_rate["doseRange"].get("low"))
        high = quantity_text(dose_rate["doseRange"].get("high"))
        dose = f"{low}–{high}" if low and high else (low or high)
    rate = quantity_text(dose_rate.get("rateQuantity"))
    route_cc = dosage.get("route")
    route = text_of(route_cc)
    frequency, times, interval = _schedule(dosage)
    prn_cc = dosage.get("asNeededCodeableConcept")
    prn = bool(dosage.get("asNeededBoolean")) or isinstance(prn_cc, dict)
    medication = medication_name(ctx, res)
    if not medication:
        ctx.gap(record, "unnamed-medication", "order names no medication the toolkit can "
                                              "resolve; shown as '(unnamed medication)'",
                "warning", pid)
    prescriber = ctx.resolver.ref_id(res.get("requester"), "Practitioner")
    coding = first_coding(res.get("medicationCodeableConcept"))
    return {
        "id": res["id"], "patient_id": pid, "encounter_id": encounter, "medication": medication,
        "code": coding.get("code"), "system": coding.get("system"),
        "dose": dose, "dose_value": dose_value, "dose_unit": dose_unit, "rate": rate,
        "route": route, "frequency": frequency, "times": None if prn else times,
        "interval_hours": interval, "prn": int(prn), "prn_reason": text_of(prn_cc),
        "iv": int(bool(rate) or code_of(route_cc) in IV_ROUTES or
                  "intravenous" in (route or "").lower()),
        "status": status, "status_note": note, "instructions": dosage.get("text"),
        "authored_at": authored,
        "prescriber": ctx.practitioners.get(prescriber or "") or
        (res.get("requester") or {}).get("display"),
        "restricted": int(restricted(res)), **ctx.lineage(record),
    }


def map_administration(ctx: MapContext, record: Record, pid: str) -> dict:
    res = record.resource
    when = period_start(res, "effectiveDateTime", "effectivePeriod")
    _recent(ctx, when, "administrations_hours")
    dosage = res.get("dosage") if isinstance(res.get("dosage"), dict) else {}
    performer = None
    for p in as_list(res.get("performer")):
        if isinstance(p, dict):  # the first performer entry names the one who gave it
            performer = ctx.practitioners.get(ctx.resolver.ref_id(p.get("actor"),
                                                                  "Practitioner") or "")
            break
    return {
        "id": res["id"], "patient_id": pid,
        "order_id": ctx.resolver.ref_id(res.get("request"), "MedicationRequest"),
        "medication": medication_name(ctx, res), "given_at": when, "status": res.get("status"),
        "dose": quantity_text(dosage.get("dose")), "route": text_of(dosage.get("route")),
        "performer": performer, **ctx.lineage(record),
    }


__all__ = ["OutsideWindow", "map_administration", "map_med_order", "medication_name"]
