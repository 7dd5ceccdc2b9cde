"""Records of a census patient that did not load (rejected at build: oversized, an invalid
id, a required element missing, a structure the mappers could not take...).

The gap register holds each one with its reason; this module says which patient it belongs to
(its subject, else its encounter) and whether it was an active order or allergy, which the
chart and every form of that patient say, and which makes `snapshot build` exit non-zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .fhirdata import code_of
from .gaps import Gap
from .references import Resolver

# The types whose loss a clinician must be told of by the build itself, not only the chart.
ALERTING = ("MedicationRequest", "AllergyIntolerance")
NOT_RECORDED = "(not recorded)"
_ACTIVE = {"MedicationRequest": frozenset({"active", "on-hold", "draft", NOT_RECORDED}),
           "AllergyIntolerance": frozenset({"active", NOT_RECORDED})}

# How the chart counts them ("1 medication order could not be loaded"): singular, plural
NOUNS = {"MedicationRequest": ("medication order", "medication orders"),
         "AllergyIntolerance": ("allergy record", "allergy records"),
         "MedicationAdministration": ("medication administration", "medication administrations"),
         "Observation": ("vital sign or lab result", "vital signs or lab results"),
         "Condition": ("problem", "problems"), "Procedure": ("procedure", "procedures"),
         "DocumentReference": ("note or document", "notes or documents"),
         "Flag": ("flag (code status, isolation...)", "flags (code status, isolation...)")}


def record_status(resource: dict) -> str:
    """The status a rejected record carried, as far as it can be read: what decides whether it
    was active. An order or allergy without a readable status counts as active."""
    rtype = resource.get("resourceType")
    if rtype == "AllergyIntolerance":
        verification = code_of(resource.get("verificationStatus"))
        if verification in ("refuted", "entered-in-error"):
            return str(verification)
        status = code_of(resource.get("clinicalStatus"))
    else:
        status = resource.get("status")
    return status if isinstance(status, str) and status else NOT_RECORDED


def row_status(table: str, row: dict) -> str:
    """The status of a mapped row that could not be stored, read as record_status reads a
    resource's."""
    if table == "allergies":
        if row.get("verification_status") in ("refuted", "entered-in-error"):
            return str(row["verification_status"])
        status = row.get("clinical_status")
    else:
        status = row.get("status")
    return status if isinstance(status, str) and status else NOT_RECORDED


def attribute(new_gaps: Sequence[Gap], resource: dict, resolver: Resolver,
              census: Mapping[str, str]) -> None:
    """A rejected record's error gaps name the census patient it belongs to (its subject,
    else its encounter's patient) and the status it carried: the chart says what it lacks, and
    an active order or allergy makes the build alert. A record of a patient outside the census
    concerns no chart and is left as it was; one whose patient cannot be told keeps no
    patient but its status (an active one alerts all the same)."""
    errors = [g for g in new_gaps if g.severity == "error"]
    if not errors:
        return
    try:
        pid = owner(resource, resolver, census)
    except Exception:  # noqa: BLE001 - a reference of any shape: then unknown
        pid = None
    if pid is not None and pid not in census:
        return
    status = record_status(resource)
    for g in errors:
        g.patient_id = g.patient_id or (pid or "")
        g.record_status = status


def owner(resource: dict, resolver: Resolver, census: Mapping[str, str]) -> str | None:
    """The patient a record is about: its subject, else its encounter's census patient."""
    ref = resource.get("patient") if resource.get("resourceType") == "AllergyIntolerance" \
        else resource.get("subject")
    pid = resolver.patient_id(ref)
    if pid is not None:
        return pid
    for key in ("encounter", "context"):
        eid = resolver.ref_id(resource.get(key), "Encounter")
        if eid:
            return next((p for p, e in census.items() if e == eid), None)
    return None


def is_active(resource_type: str, status: str | None) -> bool:
    return (status or NOT_RECORDED) in _ACTIVE.get(resource_type, frozenset())


def noun(resource_type: str, n: int) -> str:
    one, many = NOUNS.get(resource_type, (f"{resource_type} record", f"{resource_type} records"))
    return one if n == 1 else many


@dataclass(frozen=True)
class NotLoaded:
    """One kind of record missing from a patient's chart: how many, and why (the reasons)."""

    resource_type: str
    count: int
    active: int  # of which active orders/allergies (ALERTING types only)
    reasons: tuple[str, ...]

    @property
    def text(self) -> str:
        """ "1 medication order (active) could not be loaded: see the source"."""
        what = noun(self.resource_type, self.count)
        if self.active and self.active == self.count:
            what += " (active)" if self.count == 1 else " (all active)"
        elif self.active:
            what += f" ({self.active} active)"
        return f"{self.count} {what} could not be loaded: see the source"


def active_lost(rows: list[dict]) -> list[dict]:
    """Of gap rows (dicts with resource_type, reason, record_status...), the error-level ones
    about an active order or allergy."""
    return [r for r in rows if str(r.get("reason", "")).startswith("error:") and
            r.get("resource_type") in ALERTING and r.get("record_status") and
            is_active(str(r["resource_type"]), r.get("record_status"))]
