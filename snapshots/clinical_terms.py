"""Units and test names as clinicians write them, for every screen and printed form.

FHIR carries a quantity's unit twice: `code`, UCUM for machines ("Cel", "mm[Hg]",
"10*3/uL"), and `unit`, the human-readable text. The snapshot keeps the human-readable one
where the source has it (snapshots.fhirdata.quantity) and the code otherwise; many sources
(Synthea, the demo hospital) put the UCUM code in both. `unit_text` turns the UCUM codes the
toolkit meets into what a nurse writes (°C, mmHg, ×10³/µL) and leaves any other text as the
source wrote it. Doses follow the safe-abbreviation lists (ISMP, The Joint Commission): "U"
and "IU" are written "units", micrograms "mcg".

Test and vital-sign names: the short names clinicians use (SpO2, WBC, Hgb, Na, K, HR), by
LOINC code; a test the table does not know keeps its own name, shortened to the part before
the LOINC property ("Creatinine [Mass/volume] in Serum or Plasma" -> "Creatinine").
"""

from __future__ import annotations

import re

# UCUM code -> as written on a chart. Codes not listed are shown as they are.
UCUM_DISPLAY = {
    "Cel": "°C", "[degF]": "°F", "mm[Hg]": "mmHg", "cm[H2O]": "cmH₂O",
    "/min": "/min", "{beats}/min": "/min", "{breaths}/min": "/min", "/h": "/h",
    "%": "%", "kg": "kg", "g": "g", "[lb_av]": "lb", "cm": "cm", "m": "m", "[in_i]": "in",
    "kg/m2": "kg/m²", "m2": "m²",
    "10*3/uL": "×10³/µL", "10*6/uL": "×10⁶/µL", "10*9/L": "×10⁹/L", "10*12/L": "×10¹²/L",
    "/uL": "/µL", "fL": "fL", "pg": "pg",
    "g/dL": "g/dL", "g/L": "g/L", "mg/dL": "mg/dL", "mg/L": "mg/L", "ug/dL": "mcg/dL",
    "ug/L": "mcg/L", "ug/mL": "mcg/mL", "ng/mL": "ng/mL", "ng/L": "ng/L", "pg/mL": "pg/mL",
    "mmol/L": "mmol/L", "umol/L": "µmol/L", "meq/L": "mEq/L", "mEq/L": "mEq/L",
    "U/L": "units/L", "[IU]/L": "units/L", "mL/min/{1.73_m2}": "mL/min/1.73 m²",
    "mL/min": "mL/min", "s": "s", "{INR}": "", "{ratio}": "", "{score}": "", "1": "",
    # doses and rates
    "mg": "mg", "ug": "mcg", "mcg": "mcg", "ng": "ng", "mL": "mL", "L": "L",
    "U": "units", "[iU]": "units", "[IU]": "units", "meq": "mEq", "mmol": "mmol",
    "mL/h": "mL/h", "mL/hr": "mL/h", "U/h": "units/h", "[iU]/h": "units/h",
    "mg/h": "mg/h", "ug/min": "mcg/min", "ug/kg/min": "mcg/kg/min", "mg/kg": "mg/kg",
    "{tbl}": "tablet", "{tablet}": "tablet", "{capsule}": "capsule", "{puff}": "puff",
    "{drop}": "drop",
}


def unit_text(unit: str | None) -> str:
    """A quantity's unit as clinicians write it ("" for none or a unit-less ratio)."""
    if not unit:
        return ""
    if unit in UCUM_DISPLAY:
        return UCUM_DISPLAY[unit]
    if unit.startswith("{") and unit.endswith("}") and "}" not in unit[:-1]:
        return unit[1:-1]  # a bare annotation: "{cells}" says "cells"
    return unit


def with_unit(value: str, unit: str | None) -> str:
    """ "37.4 °C", "135/92 mmHg", "98 %", "1.1" (no unit)."""
    shown = unit_text(unit)
    return f"{value} {shown}" if shown and value else value


_QUANTITY = re.compile(r"^(?P<value>[<>≤≥]?\s*[\d.,]+(?:\s*[–-]\s*[\d.,]+)?)\s+(?P<unit>\S+)$")


def dose_text(text: str | None) -> str:
    """A dose or rate as the snapshot holds it ("4 U", "75 mL/h", "1–2 {tbl}") with its unit
    as clinicians write it ("4 units"); text of any other shape is left as it is."""
    if not text:
        return ""
    found = _QUANTITY.match(text.strip())
    if not found:
        return text
    return with_unit(found["value"], found["unit"]) or text


# LOINC code -> the short name used on the ward. Both blood pressure components have one,
# for a reading whose other half is missing; paired they are "BP" (snapshots.blood_pressure).
SHORT_NAMES = {
    # vital signs
    "85354-9": "BP", "55284-4": "BP", "8480-6": "Systolic BP", "8462-4": "Diastolic BP",
    "8478-0": "MAP", "8867-4": "HR", "9279-1": "RR", "8310-5": "Temp", "8331-1": "Temp",
    "59408-5": "SpO2", "2708-6": "SpO2", "20564-1": "SpO2", "3150-0": "FiO2",
    "72514-3": "Pain", "38208-5": "Pain", "29463-7": "Weight", "3141-9": "Weight",
    "8302-2": "Height", "8306-3": "Height", "39156-5": "BMI", "9187-6": "Urine output",
    "9269-2": "GCS",
    # chemistry
    "2951-2": "Na", "2947-0": "Na", "2823-3": "K", "6298-4": "K", "2075-0": "Cl",
    "2069-3": "Cl", "2028-9": "CO2", "1963-8": "HCO3", "3094-0": "BUN", "6299-2": "BUN",
    "2160-0": "Creat", "38483-4": "Creat", "33914-3": "eGFR", "62238-1": "eGFR",
    "2345-7": "Glucose", "2339-0": "Glucose", "41653-7": "Glucose (POC)", "17861-6": "Ca",
    "49765-1": "Ca", "2601-3": "Mg", "19123-9": "Mg", "2777-1": "Phos", "1742-6": "ALT",
    "1920-8": "AST", "1975-2": "Bili", "6768-6": "Alk phos", "2885-2": "Protein",
    "1751-7": "Albumin", "2524-7": "Lactate", "32693-4": "Lactate", "4548-4": "HbA1c",
    "10839-9": "Troponin I", "6598-7": "Troponin T", "89579-7": "hs-Troponin I",
    "30934-4": "BNP", "33762-6": "NT-proBNP", "1988-5": "CRP", "33959-8": "Procalcitonin",
    # haematology and coagulation
    "6690-2": "WBC", "26464-8": "WBC", "718-7": "Hgb", "20509-6": "Hgb", "4544-3": "Hct",
    "20570-8": "Hct", "777-3": "Plt", "26515-7": "Plt", "789-8": "RBC", "787-2": "MCV",
    "5902-2": "PT", "34714-6": "INR", "6301-6": "INR", "3173-2": "aPTT", "14979-9": "aPTT",
    "3255-7": "Fibrinogen", "48065-7": "D-dimer",
    # blood gas
    "2744-1": "pH", "2019-8": "pCO2", "2703-7": "pO2",
}

# The order vital signs are read out in (handover, the flowsheet); others follow.
VITAL_ORDER = ("BP", "Systolic BP", "Diastolic BP", "MAP", "HR", "RR", "Temp", "SpO2",
               "FiO2", "Pain", "GCS", "Urine output", "Weight", "Height", "BMI")


def short_name(code: str | None, display: str | None) -> str:
    """The name clinicians use for a test or vital sign: by LOINC code, else the source's
    name up to its LOINC property ("Sodium [Moles/volume] in Serum" -> "Sodium")."""
    if code and code in SHORT_NAMES:
        return SHORT_NAMES[code]
    text = (display or code or "?").strip()
    return text.split(" [")[0].strip() or text


def vital_rank(name: str) -> int:
    """Where a vital sign (by its short name) comes in VITAL_ORDER; unknown ones last."""
    try:
        return VITAL_ORDER.index(name)
    except ValueError:
        return len(VITAL_ORDER)
