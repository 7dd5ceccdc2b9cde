"""The codes and identifier systems back-entry Bundles are made with, and their settings.

The identifier systems are the toolkit's own URNs unless a site sets its own (BundleSettings):
a business identifier's value is where the entry is on paper (`DT-XXXXXXXXXX/p2/l14`), so the
same line always gets the same identifier, and the same identifier the same `urn:uuid`
(docs/back-entry-fhir.md).
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
MED_ADMIN_CATEGORY = "http://terminology.hl7.org/CodeSystem/medication-admin-category"
MED_REQUEST_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"

# measure -> (LOINC code, display). Blood pressure is the vital-signs profile's panel with a
# systolic and a diastolic component.
VITALS_LOINC: dict[str, tuple[str, str]] = {
    "heart_rate": ("8867-4", "Heart rate"),
    "respiratory_rate": ("9279-1", "Respiratory rate"),
    "temperature": ("8310-5", "Body temperature"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    "blood_pressure": ("85354-9", "Blood pressure panel with all children optional"),
    "weight": ("29463-7", "Body weight"),
    "height": ("8302-2", "Body height"),
    "pain": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
}
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
UCUM_DISPLAY = {"/min": "/min", "Cel": "Cel", "[degF]": "degF", "%": "%", "mm[Hg]": "mmHg",
                "kg": "kg", "g": "g", "[lb_av]": "lb", "cm": "cm", "m": "m", "[in_i]": "in",
                "{score}": "{score}"}
PROGRESS_NOTE = ("11506-3", "Progress note")
DECLINED_BY_PATIENT = ("182895007", "Drug declined by patient")


@dataclass(frozen=True)
class BundleSettings:
    """What a site may set for its Bundles (defaults: the toolkit's URNs). `policy` is the
    downtime procedure every Provenance cites: a site puts its own policy document's URL."""

    entry_system: str = "urn:downtime-toolkit:back-entry"  # a resource made from a line
    page_system: str = "urn:downtime-toolkit:scanned-page"  # a scanned page
    provenance_tag: str = "urn:downtime-toolkit:provenance"  # Provenance (no identifier in R4)
    downtime_mrn_system: str = "urn:downtime-toolkit:downtime-mrn"
    encounter_number_system: str = "urn:downtime-toolkit:downtime-encounter"
    policy: str = "urn:downtime-toolkit:policy:downtime-back-entry"
