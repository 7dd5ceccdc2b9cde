"""A migration target made from the legacy export with seeded defects, one of each kind a
migration makes, and what the parity check must say of each (tests/test_parity.py).

Each defect picks its record from the data (the first that fits), edits a copy of the
export, and names the patient (id), the difference kind, section and field the check must
report. Nothing is picked twice: one patient, one defect, so each can be told apart."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass
class Defect:
    name: str
    patient: str  # the legacy patient id the difference is about
    kind: str  # Difference.kind
    section: str
    field: str = ""


class Export:
    """An NDJSON export held as resources per file, edited, then written back."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = {p.name: [orjson.loads(line) for line in p.read_bytes().splitlines()
                               if line.strip()] for p in sorted(folder.glob("*.ndjson"))}
        self.used: set[str] = set()

    def of(self, rtype: str) -> list[dict]:
        return self.files[f"{rtype}.ndjson"]

    def find(self, rtype: str, test: Callable[[dict], bool]) -> dict:
        for res in self.of(rtype):
            pid = patient_of(res)
            if pid and pid.startswith("pat-0") and pid not in self.used and test(res):
                self.used.add(pid)
                return res
        raise LookupError(f"no {rtype} fits")

    def drop(self, res: dict) -> None:
        self.of(res["resourceType"]).remove(res)

    def write(self) -> None:
        for name, resources in self.files.items():
            (self.folder / name).write_bytes(b"".join(orjson.dumps(r) + b"\n"
                                                      for r in resources))


def patient_of(res: dict) -> str:
    if res["resourceType"] == "Patient":
        return res["id"]
    ref = (res.get("patient") or res.get("subject") or {}).get("reference", "")
    return ref.rsplit("Patient/", 1)[-1] if "Patient/" in ref else ""


def inpatients(export: Export) -> set[str]:
    return {patient_of(e) for e in export.of("Encounter") if e.get("status") == "in-progress"}


def seed_defects(legacy: Path, target: Path, recent: str) -> list[Defect]:
    """Copy `legacy` to `target` with one defect of each kind; what the check must find.
    `recent`: an ISO time (UTC, Z) after which a lab result is inside the build's window."""
    shutil.copytree(legacy, target)
    ex = Export(target)
    census = inpatients(ex)
    ex.used |= {"pat-000003", "pat-000015", "pat-000006"}  # kept for the merge; demo messes
    found: list[Defect] = []

    def take(rtype: str, test: Callable[[dict], bool]) -> dict:
        return ex.find(rtype, lambda r: patient_of(r) in census and test(r))

    al = take("AllergyIntolerance", lambda r: r.get("criticality") in ("low", "high")
              and (r.get("code") or {}).get("coding"))
    ex.drop(al)
    found.append(Defect("dropped allergy", patient_of(al), "missing-record", "allergies"))

    al = take("AllergyIntolerance", lambda r: r.get("criticality") in ("low", "high"))
    al["criticality"] = "low" if al["criticality"] == "high" else "high"
    found.append(Defect("changed criticality", patient_of(al), "field", "allergies",
                        "criticality"))

    def long_note(r: dict) -> bool:
        att = r["content"][0]["attachment"]
        return att.get("contentType") == "text/plain" and len(att.get("data", "")) > 80

    doc = take("DocumentReference", long_note)
    att = doc["content"][0]["attachment"]
    text = base64.b64decode(att["data"])[:40]
    att["data"], att["size"] = base64.b64encode(text).decode(), len(text)
    found.append(Defect("truncated note", patient_of(doc), "field", "notes", "text"))

    mr = take("MedicationRequest", lambda r: r.get("status") == "active")
    ex.drop(mr)
    found.append(Defect("lost medication", patient_of(mr), "missing-record", "medications"))

    ma = take("MedicationAdministration", lambda r: str(r.get("effectiveDateTime", ""))
              .endswith("Z"))
    ma["effectiveDateTime"] = ma["effectiveDateTime"][:-1] + "-05:00"  # local time as UTC
    found.append(Defect("shifted timestamp", patient_of(ma), "field", "medication history",
                        "given_at"))

    lab = take("Observation", lambda r: r["id"].startswith("lab-") and "valueQuantity" in r
               and str(r.get("effectiveDateTime", "")) > recent)
    lab["valueQuantity"]["value"] = round(lab["valueQuantity"]["value"] * 1.5 + 1, 2)
    found.append(Defect("changed lab value", patient_of(lab), "field", "labs", "value_num"))

    cond = take("Condition", lambda r: (r.get("code") or {}).get("coding"))
    cond["code"]["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-9-cm"
    found.append(Defect("changed code system", patient_of(cond), "field", "problems",
                        "system"))

    pat = take("Patient", lambda r: len(r.get("identifier", [])) > 1)
    pat["identifier"] = pat["identifier"][:1]
    found.append(Defect("lost identifier", pat["id"], "missing-record", "identity"))

    for res in ex.of("Patient"):  # the merge: the old chart no longer says what replaced it
        if res["id"] in ("pat-merged-old", "pat-000003"):
            res.pop("link", None)
    found.append(Defect("broken merge link", "pat-000003", "missing-record", "identity"))

    mr = take("MedicationRequest", lambda r: r.get("status") == "active")
    del mr["status"]
    found.append(Defect("missing required field", patient_of(mr), "missing-record",
                        "medications"))
    found.append(Defect("missing required field (register)", patient_of(mr),
                        "required-field", "required fields"))

    pat = take("Patient", lambda r: True)
    ex.drop(pat)
    found.append(Defect("missing patient", pat["id"], "missing-patient", "census"))

    pat = take("Patient", lambda r: True)
    copy = orjson.loads(orjson.dumps(pat))
    copy["id"] = pat["id"] + "-dup"
    ex.of("Patient").append(copy)
    found.append(Defect("duplicated patient", pat["id"], "duplicated-patient", "census"))

    ex.write()
    return found
