"""Differences told in words: who (bed, name, MRN), which section, which record and field,
and what each side holds ("4W-012-A SMITH, Ann MRN 1234: allergies: Penicillin G's
criticality is high in legacy, low in target")."""

from __future__ import annotations

from datetime import datetime

from .sections import CODE_COLUMNS, TIME_COLUMNS

FIELD_WORDS = {"value_num": "value", "value_text": "value (text)", "effective_at": "time",
               "given_at": "time given", "written_at": "time written", "data": "content",
               "size": "size (bytes)", "no_known": "no-known statement", "mrn": "MRN",
               "birth_date": "birth date", "deceased_at": "time of death", "system":
               "code system", "type": "identifier type", "ref_low": "reference range low",
               "ref_high": "reference range high", "flag": "abnormal flag", "prn": "PRN",
               "iv": "IV"}
SYSTEMS = {"http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
           "http://snomed.info/sct": "SNOMED CT", "http://loinc.org": "LOINC",
           "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM", "http://hl7.org/fhir/sid/ndc": "NDC",
           "http://unitsofmeasure.org": "UCUM"}
LONG_TEXT = 60  # longer texts are told by length, not quoted whole


def who(patient: dict[str, str] | None) -> str:
    if not patient:
        return "(no census patient)"
    parts = [patient.get("bed") or "", patient.get("name") or patient.get("id") or "",
             f"MRN {patient['mrn']}" if patient.get("mrn") else ""]
    return " ".join(p for p in parts if p)


def field_name(column: str) -> str:
    return FIELD_WORDS.get(column, column.replace("_", " "))


def value_words(column: str, value: object) -> str:
    if value is None or value == "":
        return "not recorded"
    if column in TIME_COLUMNS and isinstance(value, str):
        return time_words(value)
    if column == "system" and isinstance(value, str):
        return SYSTEMS.get(value, value)
    if column in ("no_known", "deceased", "prn", "iv", "coded", "restricted", "name_alert"):
        return "yes" if value else "no"
    if column == "data":
        return f"SHA-256 {str(value)[:12]}…"
    return str(value)


def time_words(value: str) -> str:
    moment = _parse(value)
    return moment.strftime("%d %b %Y %H:%M UTC") if moment else value


def field_sentence(patient: dict | None, section: str, record: str, column: str,
                   legacy: object, target: object) -> str:
    name = field_name(column)
    head = f"{who(patient)}: {section}: {record}'s {name}" if record else \
        f"{who(patient)}: {section}: {name}"
    if column == "text" and isinstance(legacy, str) and isinstance(target, str) and \
            max(len(legacy), len(target)) > LONG_TEXT:
        return f"{head} is {len(legacy)} characters in legacy, {len(target)} in target" + \
            (" (cut short: the target's is the start of the legacy's)"
             if legacy.startswith(target) else " (the words differ)")
    text = f"{head} is {value_words(column, legacy)} in legacy, " \
           f"{value_words(column, target)} in target"
    return text + _hint(column, legacy, target)


def _hint(column: str, legacy: object, target: object) -> str:
    if column in TIME_COLUMNS and isinstance(legacy, str) and isinstance(target, str):
        a, b = _parse(legacy), _parse(target)
        if a and b and a != b:
            minutes = (b - a).total_seconds() / 60
            later = "later" if minutes > 0 else "earlier"
            hours = abs(minutes) / 60
            if hours == int(hours) and 0 < hours <= 14:
                return f" ({int(hours)} h {later} in target: a time-zone shift?)"
            return f" ({_span(abs(minutes))} {later} in target)"
    if column in CODE_COLUMNS:
        return " (a different code set)" if column == "system" else ""
    return ""


def _span(minutes: float) -> str:
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
