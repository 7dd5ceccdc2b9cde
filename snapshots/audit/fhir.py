"""An audit log as FHIR R4: one AuditEvent per entry, in a Bundle of type collection."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .verify import read_entries

DCM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
_TYPES = {  # action -> (type code, type display, subtype, FHIR action code)
    "unlock": ((DCM, "110114", "User Authentication"), (DCM, "110122", "Login"), "E"),
    "unlock-failed": ((DCM, "110114", "User Authentication"), (DCM, "110122", "Login"), "E"),
    "lock": ((DCM, "110114", "User Authentication"), (DCM, "110123", "Logout"), "E"),
    "chart-open": ((DCM, "110110", "Patient Record"), (RESTFUL, "read", "read"), "R"),
    "break-glass": ((DCM, "110113", "Security Alert"), (RESTFUL, "read", "read"), "R"),
    "snapshot-switch": ((DCM, "110100", "Application Activity"),
                        (DCM, "110120", "Application Start"), "E"),
    "print": ((DCM, "110106", "Export"), (DCM, "110106", "Export"), "R"),
    "submit": ((DCM, "110107", "Import"), (RESTFUL, "transaction", "transaction"), "C"),
    "snapshot-fallback": ((DCM, "110113", "Security Alert"),
                          (DCM, "110100", "Application Activity"), "E"),
}


def audit_event(entry: dict) -> dict:
    """One log entry as a FHIR R4 AuditEvent."""
    (tsys, tcode, tdisp), (ssys, scode, sdisp), action = _TYPES[entry["action"]]
    failed = entry["action"] == "unlock-failed"
    event: dict = {
        "resourceType": "AuditEvent",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"downtime-audit:{entry['hash']}")),
        "type": {"system": tsys, "code": tcode, "display": tdisp},
        "subtype": [{"system": ssys, "code": scode, "display": sdisp}],
        "action": action,
        "recorded": entry["time"].replace(".000000Z", "Z"),
        "outcome": "4" if failed else "0",
        "agent": [{"who": {"display": entry["user"] or "(unknown)"}, "requestor": True,
                   "network": {"address": entry.get("host") or "unknown", "type": "1"}}],
        "source": {"site": "downtime-toolkit",
                   "observer": {"display": entry.get("host") or "unknown"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                             "code": "4", "display": "Application Server"}]},
    }
    if failed:
        event["outcomeDesc"] = entry.get("detail") or "unlock failed"
    if entry["action"] == "break-glass":
        event["purposeOfEvent"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG",
            "display": "break the glass"}], "text": entry.get("detail") or ""}]
    entities = []
    if entry.get("patient_id"):
        entities.append({"what": {"reference": f"Patient/{entry['patient_id']}"},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/"
                                  "audit-entity-type", "code": "1", "display": "Person"},
                         "role": {"system": "http://terminology.hl7.org/CodeSystem/"
                                  "object-role", "code": "1", "display": "Patient"}})
    chain = [{"type": "seq", "valueString": str(entry["seq"])},
             {"type": "prev-hash", "valueString": entry["prev"]},
             {"type": "hash", "valueString": entry["hash"]}]
    if entry.get("detail") and entry["action"] != "break-glass":
        chain.append({"type": "detail", "valueString": entry["detail"]})
    # what the audit writer adds (hashed, so needed to re-check the chain from the export)
    for name, kind in (("os_user", "os-user"), ("spooled", "spooled"), ("key", "key"),
                       ("sig", "signature")):
        if entry.get(name):
            chain.append({"type": kind, "valueString": entry[name]})
    snapshot = {"what": {"identifier": {"system": "urn:downtime:snapshot-id",
                                        "value": entry.get("snapshot_id") or "none"}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                         "code": "2", "display": "System Object"},
                "description": "downtime snapshot and audit-chain position",
                "detail": chain}
    entities.append(snapshot)
    event["entity"] = entities
    return event


@dataclass(frozen=True)
class ExportResult:
    count: int  # AuditEvents written
    damaged: list[tuple[int, str]] = field(default_factory=list)  # lines left out, and why


def export_fhir(path: Path, out_file: Path) -> ExportResult:
    """Write every well-formed entry as a FHIR R4 Bundle (type collection) of AuditEvent; say
    which lines could not be (they would make the Bundle invalid FHIR)."""
    entries, damaged = read_entries(path)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entry": [{"fullUrl": f"urn:uuid:{ev['id']}", "resource": ev}
                  for ev in (audit_event(e) for e in entries)],
    }
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    # owner-only, like the log itself: patient ids and break-glass reasons are in it
    fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n")
    return ExportResult(len(entries), damaged)
