"""A small EHR and a downtime episode with a seeded conflict of every kind (issue 12, §4), for
the conflict tests against an export folder and against the sandbox: `EHR` the resources
(written as NDJSON by `write_export`, loaded into the sandbox from the same folder),
`seeded()` the entries with the conflict codes each must get, no more and no fewer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconcile.entries import (
    Drug,
    Entry,
    MarAdministration,
    PageLine,
    Person,
    PhysicianOrder,
    ProgressNote,
    Quantity,
    VitalReading,
    VitalsRow,
)
from reconcile.staff import StaffList
from tests.reconcile_helpers import END, START, new_episode, record

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
SCT = "http://snomed.info/sct"
NURSE = Person(name="Jo Kim, RN", initials="JK")
DOCTOR = Person(name="Dr. Ana Silva", initials="AS")
CLERK = Person(name="Dana Reyes (HIM)", initials="DR")
STAFF = StaffList.from_table({"4W": [{"initials": "JK", "name": "Jo Kim, RN"}],
                              "*": [{"initials": "AS", "name": "Dr. Ana Silva"}]}, "test")


def _t(hours: float) -> str:
    return (START + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _patient(pid: str, family: str, mrn: str, **more) -> dict:
    return {"resourceType": "Patient", "id": pid, "active": True,
            "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": mrn}],
            "name": [{"use": "official", "family": family, "given": ["Test"]}], **more}


def _encounter(eid: str, pid: str, stays: list[tuple[str, float, float | None]],
               status: str = "in-progress", end: float | None = None) -> dict:
    period = {"start": _t(-48)} | ({"end": _t(end)} if end is not None else {})
    return {"resourceType": "Encounter", "id": eid, "status": status,
            "class": {"code": "IMP"}, "subject": {"reference": f"Patient/{pid}"},
            "period": period, "location": [
                {"location": {"reference": f"Location/{bed}"},
                 "period": {"start": _t(a)} | ({"end": _t(b)} if b is not None else {})}
                for bed, a, b in stays]}


def _location(lid: str, kind: str, part_of: str | None = None, code: str | None = None
              ) -> dict:
    res = {"resourceType": "Location", "id": lid, "name": lid, "physicalType": {
        "coding": [{"code": kind}]}}
    if part_of:
        res["partOf"] = {"reference": f"Location/{part_of}"}
    if code:
        res["identifier"] = [{"system": "https://hospital.example.org/unit", "value": code}]
    return res


def _order(oid: str, pid: str, eid: str, text: str, rx: str | None, dose: float, unit: str,
           route: str, authored: float, status: str = "active") -> dict:
    med = {"text": text} | ({"coding": [{"system": RX, "code": rx}]} if rx else {})
    return {"resourceType": "MedicationRequest", "id": oid, "status": status,
            "intent": "order", "medicationCodeableConcept": med,
            "subject": {"reference": f"Patient/{pid}"},
            "encounter": {"reference": f"Encounter/{eid}"}, "authoredOn": _t(authored),
            "dosageInstruction": [{"route": {"text": route}, "doseAndRate": [
                {"doseQuantity": {"value": dose, "unit": unit, "code": unit}}]}]}


EHR: list[dict] = [
    _location("unit-4W", "wa", code="4W"), _location("room-4W-1", "ro", "unit-4W"),
    _location("bed-4W-1", "bd", "room-4W-1"),
    _location("unit-ICU", "wa", code="ICU"), _location("bed-ICU-1", "bd", "unit-ICU"),
    _patient("p-alive", "Alvarez", "MRN200001"),
    _patient("p-dead", "Dumont", "MRN200002", deceasedDateTime=_t(2)),
    _patient("p-old", "Alvarez", "MRN200099", active=False,
             link=[{"other": {"reference": "Patient/p-alive"}, "type": "replaced-by"}]),
    _patient("p-disc", "Dijkstra", "MRN200003"),
    _patient("p-moved", "Moreau", "MRN200004"),
    _encounter("e-alive", "p-alive", [("bed-4W-1", -48, None)]),
    _encounter("e-dead", "p-dead", [("bed-4W-1", -48, None)]),
    _encounter("e-old", "p-old", [("bed-4W-1", -48, None)]),
    _encounter("e-disc", "p-disc", [("bed-4W-1", -48, 1)], status="finished", end=1),
    _encounter("e-moved", "p-moved", [("bed-4W-1", -48, 2), ("bed-ICU-1", 2, None)]),
    _order("mr-metop", "p-alive", "e-alive", "Metoprolol tartrate 25 mg tablet", "866514", 25,
           "mg", "Oral", -40),
    _order("mr-panto", "p-alive", "e-alive", "Pantoprazole 40 mg injection", "198211", 40,
           "mg", "Intravenous", 11),  # entered electronically after recovery (END is 10 h)
    _order("mr-ondan", "p-alive", "e-alive", "Ondansetron 4 mg/2 mL injection", "312086", 4,
           "mg", "Intravenous", 1, status="completed"),
    _order("mr-furo", "p-alive", "e-alive", "Furosemide 40 mg tablet", "310798", 40, "mg",
           "Oral", -30),  # standing since the day before the downtime
    {"resourceType": "MedicationAdministration", "id": "ma-metop", "status": "completed",
     "medicationCodeableConcept": {"text": "Metoprolol tartrate 25 mg tablet"},
     "subject": {"reference": "Patient/p-alive"}, "effectiveDateTime": _t(3),
     "request": {"reference": "MedicationRequest/mr-metop"},
     "dosage": {"route": {"text": "Oral"}, "dose": {"value": 25, "unit": "mg"}}},
    {"resourceType": "AllergyIntolerance", "id": "al-pcn", "patient": {
        "reference": "Patient/p-alive"}, "clinicalStatus": {"coding": [{"code": "active"}]},
     "verificationStatus": {"coding": [{"code": "confirmed"}]}, "category": ["medication"],
     "code": {"coding": [{"system": RX, "code": "7980"}], "text": "Penicillin G"}},
]
PATIENTS = {"p-alive": "e-alive", "p-dead": "e-dead", "p-old": "e-old", "p-disc": "e-disc",
            "p-moved": "e-moved", "p-nobody": "e-nobody"}
# one form per patient and kind, issued on 4W (and one for p-alive issued on nobody's)
_LETTER = {"mar": "M", "orders": "R", "vitals": "V", "note": "N"}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
FORMS = {(pid, kind): f"DT-{_ALPHABET[n]}{_LETTER[kind]}{'Q' * 8}"
         for n, (pid, kind) in enumerate((pid, kind) for pid in PATIENTS
                                         for kind in ("mar", "orders", "vitals", "note"))}
NOT_ISSUED = "DT-NEVRSEEN9A"


def write_export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[dict]] = {}
    for res in EHR:
        by_type.setdefault(res["resourceType"], []).append(res)
    for rtype, items in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items))
    return folder


def registry_records() -> list[dict]:
    return [record(form, "orders" if kind == "orders" else kind, pid, PATIENTS[pid])
            for (pid, kind), form in FORMS.items()]


_LINES: dict[str, int] = {}


def _base(pid: str, kind: str, hours: float, by: Person = NURSE, form: str | None = None,
          at: datetime | None = None, encounter: str | None = None) -> dict:
    form = form or FORMS[(pid, kind)]
    _LINES[form] = _LINES.get(form, 0) + 1
    when = at or START + timedelta(hours=hours)
    return {"source": PageLine(form_id=form, page=1, line=_LINES[form]), "patient_id": pid,
            "encounter_id": encounter or PATIENTS[pid], "written_by": by, "entered_by": CLERK,
            "paper_time": when, "entered_at": END + timedelta(days=1)}


def _vitals(pid: str, hours: float, hr: int = 80, **kw) -> VitalsRow:
    return VitalsRow(**_base(pid, "vitals", hours, **kw), readings=(
        VitalReading(measure="heart_rate", value=hr, unit="/min"),))


def _mar(pid: str, hours: float, drug: str, dose: float, unit: str, route: str, **kw
         ) -> MarAdministration:
    return MarAdministration(**_base(pid, "mar", hours), drug=Drug(text=drug),
                             dose=Quantity(value=dose, unit=unit), route=route, **kw)


def _paper_order(pid: str, hours: float, drug: str, dose: float, unit: str, route: str,
                 rx: str | None = None) -> PhysicianOrder:
    return PhysicianOrder(**_base(pid, "orders", hours, DOCTOR), drug=Drug(text=drug, rxnorm=rx),
                          dose=Quantity(value=dose, unit=unit), route=route, frequency="q8h")


def seeded() -> list[tuple[Entry, set[str]]]:
    """Each entry and the conflict codes it must get."""
    _LINES.clear()
    heparin = _paper_order("p-alive", 1, "Heparin 5000 units SC", 5000, "[iU]", "SC")
    return [
        (_mar("p-alive", 6, "Metoprolol 25 mg PO", 25, "mg", "PO", order_id="mr-metop"), set()),
        (heparin, set()),
        (_mar("p-alive", 2, "Heparin", 5000, "[iU]", "SC", order_line=heparin.source), set()),
        (_mar("p-alive", 9, "Heparin", 7500, "[iU]", "SC", order_line=heparin.source),
         {"dose-mismatch"}),
        (_vitals("p-disc", 3), {"discharged"}),
        (_vitals("p-moved", 4), {"transferred"}),
        (ProgressNote(**_base("p-dead", "note", 3), text="Comfortable overnight."), {"died"}),
        (_vitals("p-old", 2), {"merged"}),
        (_paper_order("p-alive", 5, "Pantoprazole 40 mg IV", 40, "mg", "IV"),
         {"order-duplicate"}),
        (_paper_order("p-alive", 1.5, "Ondansetron 4 mg IV", 4, "mg", "IV"),
         {"order-completed"}),
        (_paper_order("p-alive", 2, "Amoxicillin 500 mg PO", 500, "mg", "PO"), {"allergy"}),
        (_paper_order("p-alive", 4, "Furosemide 80 mg PO", 80, "mg", "PO"), {"order-active"}),
        (_mar("p-alive", 4.5, "Metoprolol 25 mg PO", 25, "mg", "PO", order_id="mr-nowhere"),
         {"order-unknown"}),
        (_mar("p-alive", 8, "Metoprolol 50 mg PO", 50, "mg", "PO", order_id="mr-metop"),
         {"dose-mismatch"}),
        (_mar("p-alive", 3.1, "Metoprolol 25 mg PO", 25, "mg", "PO", order_id="mr-metop"),
         {"administration-duplicate"}),
        (_vitals("p-alive", -3, hr=81), {"out-of-window"}),
        (_vitals("p-alive", 0, hr=82, at=datetime.now(UTC) + timedelta(days=2)),
         {"future", "out-of-window"}),
        (_vitals("p-alive", 5, hr=83, by=Person(name="Zed Stranger", initials="ZS")),
         {"author-unknown"}),
        (_vitals("p-alive", 5, hr=84, form=NOT_ISSUED),
         {"form-not-issued"}),
        (_vitals("p-alive", 5, hr=85, form=FORMS[("p-disc", "vitals")]),
         {"form-other-patient"}),
        (_vitals("p-alive", 7, hr=90), set()),
        (_vitals("p-alive", 7, hr=90), {"entered-twice"}),
        (_vitals("p-nobody", 5), {"patient-unknown"}),
        (_vitals("p-alive", 6, hr=91, encounter="e-nowhere"), {"encounter-unknown"}),
        (_vitals("p-alive", 6, hr=92, encounter="e-disc"), {"encounter-unknown"}),
    ]


# what each code's reason must say besides the patient (the words a clerk acts on)
WORDS = {"discharged": "discharged", "transferred": "transferred from 4W to ICU",
         "died": "died", "merged": "merged into ALVAREZ, Test MRN200001",
         "order-duplicate": "entered electronically since recovery",
         "order-completed": "already completed", "allergy": "Penicillin G",
         "order-active": "doubles it unless that one is stopped",
         "order-unknown": "neither on paper nor in the EHR", "dose-mismatch": "does not match",
         "administration-duplicate": "already has this dose charted",
         "out-of-window": "outside the downtime", "future": "in the future",
         "author-unknown": "Zed Stranger", "form-not-issued": "never issued",
         "form-other-patient": "issued for DIJKSTRA", "entered-twice": "the same was entered",
         "patient-unknown": "no patient p-nobody", "encounter-unknown": "encounter"}


def episode_with_entries(folder: Path):
    """A new episode with the registry of FORMS collected and the seeded entries recorded."""
    from reconcile.backentry import ToRecord, record_entries
    from reconcile.state import derive

    ep, _ = new_episode(folder / "episodes")
    ep.journal.append("registry-collected", {"workstation": "ws-4W-1", "source": "copy",
                                             "records": registry_records(), "seen": 1}, "t")
    state = derive(ep.journal.read())
    cases = seeded()
    record_entries(ep.journal, state.entries, [ToRecord(e, "tui") for e, _ in cases], "t")
    return ep, state, cases


PASS = "correct horse battery"
CONFIG = """[reconcile]
folder = "rec"
identity = "keys/him-1.age"
[reconcile.units]
4W = ["ws-4W-1"]
[reconcile.staff]
4W = [{initials = "JK", name = "Jo Kim, RN"}]
"*" = [{initials = "AS", name = "Dr. Ana Silva"}]
[reconcile.conflicts]
duplicate_order_hours = 24
"""


def run(root: Path, *args: str, ok: bool = True):
    from click.testing import CliRunner

    from downtime.cli import cli

    result = CliRunner().invoke(cli, ["--config", str(root / "downtime.toml"), *args],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    if ok:
        assert result.exit_code == 0, result.output
    return result


def make_site(root: Path):
    """A HIM station (passphrase-protected identity, config with staff lists), an episode
    opened through the CLI with the registry collected and the seeded entries recorded."""
    from downtime.cli.reconcile import _recipients
    from downtime.config import load_config
    from reconcile.backentry import ToRecord, record_entries
    from reconcile.episode import load_episode
    from reconcile.state import derive
    from snapshots.keys import create_identity, load_identity

    create_identity(root / "keys", "him-1", PASS)
    (root / "downtime.toml").write_text(CONFIG)
    run(root, "reconcile", "open", "--start", START.isoformat(), "--end", END.isoformat(),
        "--units", "4W")
    config = load_config(root / "downtime.toml")
    ident = load_identity(root / "keys" / "him-1.age", PASS)
    ep = load_episode(config.reconcile.folder, None, _recipients(config, ident),
                      [ident.secret], "test@him-1")
    ep.journal.append("registry-collected", {"workstation": "ws-4W-1", "source": "copy",
                                             "records": registry_records(), "seen": 1}, "t")
    cases = seeded()
    record_entries(ep.journal, derive(ep.journal.read()).entries,
                   [ToRecord(e, "tui") for e, _ in cases], "t")
    return root, ep, cases, write_export(root / "export")
