"""The demo hospital for the back-entry end-to-end tests (tests/test_backentry_e2e*.py): the
generated hospital loaded into the sandbox (the EHR), a 4W snapshot printed as packets and
registration forms into a workstation's registry, the pages scanned as a scanner would
(tests/scansim.py), and the EHR moved on so that every kind of conflict of issue 12 §4 has
something to find. Roles of the generated 4W inpatients living at the downtime's start
(chosen from the built snapshot: the generator's data follows its as_of):

- `main`, the one with the most active oral orders in mg: the busy chart, most checks (an
  allergy to penicillin recorded in the EHR since);
- `discharged`, `moved` (transferred to ICU), `died` during the downtime;
- `merged`: the chart merged since into `survivor`'s (another unit's patient).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import zxingcpp

from downtime.generator import generate
from forms.jobs import PrintRequest, run_print_job
from forms.qr import QrPayload
from forms.registry import FormRegistry
from snapshots import chart, sealed
from snapshots.keys import create_identity
from snapshots.pipeline import build_database
from snapshots.sealed import open_snapshot
from snapshots.settings import BuildSettings
from tests.factory import Keys
from tests.scansim import Scan, rasterise, scan_page, to_pdf, to_tiff
from tests.tui_helpers import write_pub

PASS = "correct horse battery"
TRANSCRIBED = {"mar", "orders", "vitals", "note", "registration"}
FHIR = {"Content-Type": "application/fhir+json"}
NOT_ISSUED = "DT-NEVRSEEN9A"
# who writes on 4W's paper; QF floats from 5E (on no 4W list: author-unknown)
STAFF = """[reconcile.staff]
4W = [{initials = "JK", name = "Jo Kim, RN"}, {initials = "LM", name = "Lee Moss, RN"}]
5E = [{initials = "QF", name = "Quinn Float, RN"}]
"*" = [{initials = "AS", name = "Dr. Ana Silva"}]
"""


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Hospital:
    """What the tests need to know of the site they set up."""

    root: Path
    start: datetime  # the downtime window
    end: datetime
    forms: dict[tuple[str, str], str]  # (patient id, kind) -> form id; registration: by MRN
    pages: dict[str, int]  # form id -> pages printed
    registrations: list[tuple[str, str, str]]  # (form id, downtime MRN, encounter number)
    packet_pages: int = 0
    names: list[bytes] = field(default_factory=list)  # plaintext that must not be on disk
    mrns: list[bytes] = field(default_factory=list)
    lookalike: dict = field(default_factory=dict)  # a patient as a registration row names them
    roles: dict[str, str] = field(default_factory=dict)  # main, discharged, ... -> patient id
    orders: list[tuple[str, str, float]] = field(default_factory=list)  # main's: id, drug, mg
    census: dict[str, str] = field(default_factory=dict)  # patient id -> encounter id
    spare: dict[tuple[str, str], str] = field(default_factory=dict)  # a second sheet's form

    def encounter(self, patient: str) -> str:
        return self.census[patient]

    def __getattr__(self, role: str) -> str:
        try:
            return self.__dict__["roles"][role]
        except KeyError:
            raise AttributeError(role) from None


def _roles(conn) -> tuple[dict[str, str], list[tuple[str, str, float]]]:
    living = [r[0] for r in conn.execute(
        "select p.id from patients p join encounters e on e.patient_id = p.id "
        "where e.unit_code = '4W' and e.status = 'in-progress' and not p.deceased "
        "order by p.id")]
    assert len(living) >= 5, f"the generated 4W has {len(living)} living inpatients"
    # main: the most active oral orders in mg that are not against its own allergies (an
    # opioid with a codeine allergy, at some hours): their doses on paper would all be
    # allergy conflicts the test does not seed
    usable = {pid: _usable_orders(conn, pid) for pid in living}
    living.sort(key=lambda pid: -len(usable[pid]))
    others = [r[0] for r in conn.execute(
        "select p.id from patients p join encounters e on e.patient_id = p.id "
        "where e.unit_code != '4W' and e.status = 'in-progress' and not p.deceased "
        "order by p.id")]
    roles = dict(zip(("main", "discharged", "moved", "died", "merged"), living, strict=False))
    roles |= {"survivor": others[0], "lookalike": others[1]}
    orders = usable[roles["main"]]
    assert len(orders) >= 2, orders
    return roles, orders


def _usable_orders(conn, pid: str) -> list[tuple[str, str, float]]:
    flagged = {c.order_id for c in chart.allergy_check(conn, pid).conflicts}
    return [(r[1], r[2], r[3]) for r in conn.execute(
        "select id, src_id, medication, dose_value from med_orders where patient_id = ? and "
        "status = 'active' and route = 'Oral' and dose_unit = 'mg' order by src_id", (pid,))
        if r[0] not in flagged]


def make_hospital(root: Path) -> tuple[Hospital, Keys, Callable[[], None]]:
    """Generate, build and print; returns the hospital, its keys and a function that scans
    the printed pages into root/inbox (the printed PDFs are kept in memory only)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(hours=10)
    generate(root / "hospital", patients=30, seed=5, as_of=start - timedelta(minutes=30))
    built = build_database(root / "hospital", BuildSettings(as_of=start))
    roles, orders = _roles(built.conn)
    keys = Keys()
    him = create_identity(root / "keys", "him-1", PASS)
    # the unit's snapshot, readable at the HIM station too (`reconcile enter` shows the
    # patient's header from it)
    (root / "store").mkdir()
    sealed_file = root / "store" / f"unit-4W-000001{sealed.SUFFIX}"
    sealed.seal(built.conn, sealed_file, scope="unit:4W", sequence=1, as_of=iso(start),
                source="tests/backentry_site.py", counts={"patients": len(roles)},
                recipients=[keys.unit.recipient, him], signing_key=keys.signing,
                units=["4W"])
    write_pub(keys, root / "keys" / "builder.pub")
    snap = open_snapshot(sealed_file, keys.trusted, [keys.unit])
    registry = FormRegistry(root / "share" / "ws-4W-1" / "registry", [keys.unit.recipient, him])
    at = start + timedelta(minutes=5)
    pdfs: list[bytes] = []
    forms: dict[tuple[str, str], str] = {}
    spare: dict[tuple[str, str], str] = {}
    pages: dict[str, int] = {}
    regs = []
    requests = [("packet", None), *[("vitals", roles[r]) for r in ("main", "discharged", "moved",
                                                                "merged")],
                ("registration", None), ("registration", None),
                ("vitals", roles["main"]), ("vitals", roles["moved"]),  # second sheets
                ("vitals", roles["died"])]  # never comes back: marked lost
    for n, (kind, patient) in enumerate(requests):
        request = PrintRequest(kind, "4W", patient_id=patient, pdf_path=root / f"p-{n}.pdf")
        result = run_print_job(snap, request, registry, now=at, identities=[keys.unit.secret])
        pdfs.append(request.pdf_path.read_bytes())
        request.pdf_path.unlink()  # plaintext: the paper is what goes on
        for f in result.forms:
            pages[f.form_id] = f.pages
            if f.kind == "registration":
                regs.append((f.form_id, f.patient_id, f.encounter_id))
            elif f.patient_id and (f.patient_id, f.kind) in forms:
                spare[(f.patient_id, f.kind)] = f.form_id
            elif f.patient_id:
                forms[(f.patient_id, f.kind)] = f.form_id
    names = [r[0].encode() for r in built.conn.execute(
        "select family from patients where id in (select patient_id from encounters "
        "where unit_code = '4W')")]
    mrns = [r[0].encode() for r in built.conn.execute(
        "select mrn from patients where id in (select patient_id from encounters "
        "where unit_code = '4W')")]
    [(family, given, birth, sex)] = built.conn.execute(
        "select family, given, birth_date, sex from patients where id = ?",
        (roles["lookalike"],))
    names.append(family.encode())
    # the registry keeps the real time of printing: the EHR comes back just after it
    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    hospital = Hospital(root, start, end, forms, pages, regs,
                        sum(len(rasterise(p, 30)) for p in pdfs[:-1]), names, mrns,
                        {"family": family, "given": given, "birth_date": birth, "sex": sex},
                        roles, orders, dict(built.census), spare)

    def scan_all() -> dict[str, tuple[str, int]]:
        """The pages as a unit's scanner makes them, in root/inbox; what each page is (read
        off the clean print), by where `reconcile status` says it came in."""
        inbox = root / "inbox"
        inbox.mkdir(exist_ok=True)
        truth = {}
        for n, pdf in enumerate(pdfs[:-1]):
            clean = rasterise(pdf, 250)
            scanned = [scan_page(page, Scan(dpi=250, skew=(-1) ** i * 0.6, seed=n * 50 + i,
                                            turn=180 if (n, i) == (0, 3) else 0))
                       for i, page in enumerate(clean)]
            name = f"batch-{n}.tiff" if n % 2 else f"batch-{n}.pdf"
            (inbox / name).write_bytes(to_tiff(scanned) if n % 2 else to_pdf(scanned))
            for i, page in enumerate(clean, start=1):
                [code] = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)
                payload = QrPayload.parse(code.text)
                where = name if len(clean) == 1 else f"{name} page {i} of {len(clean)}"
                truth[where] = (payload.form_id, payload.page)
        return truth

    return hospital, keys, scan_all


def write_config(h: Hospital, url: str, escrow: str, name: str = "downtime.toml",
                 folder: str = "rec") -> Path:
    config = h.root / name
    config.write_text(
        f'[paths]\naudit_log = "audit.log"\nstore = "store"\n'
        'trusted_builder_key = "keys/builder.pub"\n'
        f'[recipients]\nescrow = ["{escrow}"]\n[source]\nurl = "{url}"\n'
        f'[reconcile]\nfolder = "{folder}"\nidentity = "keys/him-1.age"\n'
        '[reconcile.units]\n4W = ["ws-4W-1"]\n' + STAFF)
    return config


def move_the_ehr_on(http: httpx.Client, h: Hospital) -> dict[str, str]:
    """What happened in the EHR during and since the downtime (each a §4 conflict's cause);
    returns the ids of what was made."""
    def t(hours: float) -> str:
        return iso(h.start + timedelta(hours=hours))

    def put(path: str, change: Callable[[dict], None]) -> None:
        res = http.get(path).json()
        res.pop("meta", None)
        change(res)
        answer = http.put(path, json=res)
        assert answer.status_code in (200, 201), answer.text

    def discharge(e: dict) -> None:
        e["status"] = "finished"
        e["period"]["end"] = t(2)
        for stay in e.get("location", []):
            stay.setdefault("period", {})["end"] = t(2)

    put(f"Encounter/{h.encounter(h.discharged)}", discharge)
    icu = http.get("Location", params={"name": "ICU-001-A"}).json()["entry"][0]["resource"]

    def transfer(e: dict) -> None:
        for stay in e["location"]:
            stay.setdefault("period", {})["end"] = t(2)
            stay["status"] = "completed"
        e["location"].append({"location": {"reference": f"Location/{icu['id']}"},
                              "status": "active", "period": {"start": t(2)}})

    put(f"Encounter/{h.encounter(h.moved)}", transfer)
    put(f"Patient/{h.died}", lambda p: p.update(deceasedDateTime=t(3)))
    put(f"Patient/{h.merged}", lambda p: p.update(active=False, link=[
        {"other": {"reference": f"Patient/{h.survivor}"}, "type": "replaced-by"}]))

    def post(resource: dict) -> str:
        answer = http.post(resource["resourceType"], json=resource)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    subject = {"reference": f"Patient/{h.main}"}
    encounter = {"reference": f"Encounter/{h.encounter(h.main)}"}

    def order(text: str, dose: float, route: str, authored: float, status: str) -> str:
        return post({"resourceType": "MedicationRequest", "status": status, "intent": "order",
                     "medicationCodeableConcept": {"text": text},
                     "subject": subject, "encounter": encounter, "authoredOn": t(authored),
                     "dosageInstruction": [{"route": {"text": route}, "doseAndRate": [
                         {"doseQuantity": {"value": dose, "unit": "mg", "code": "mg",
                                           "system": "http://unitsofmeasure.org"}}]}]})

    # drugs the generator never orders: no order of its own stands for them as well
    made = {"famotidine": order("Famotidine 20 mg/2 mL injection", 20, "Intravenous", 9.5,
                                "active"),  # entered by pharmacy late in the downtime
            "metoclopramide": order("Metoclopramide 10 mg/2 mL injection", 10, "Intravenous",
                                    1, "completed")}
    oid, drug, dose = h.orders[1]
    made["given"] = post({  # charted electronically since: the paper's dose a duplicate
        "resourceType": "MedicationAdministration", "status": "completed",
        "medicationCodeableConcept": {"text": drug}, "subject": subject,
        "effectiveDateTime": t(4), "request": {"reference": f"MedicationRequest/{oid}"},
        "dosage": {"route": {"text": "Oral"}, "dose": {"value": dose, "unit": "mg"}}})
    made["allergy"] = post({
        "resourceType": "AllergyIntolerance", "patient": subject,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                       "allergyintolerance-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                           "allergyintolerance-verification",
                                           "code": "confirmed"}]},
        "category": ["medication"], "code": {"coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7980"}],
            "text": "Penicillin G"}})
    return made


def counts(http: httpx.Client, types: tuple[str, ...] = (
        "Patient", "Encounter", "MedicationRequest", "MedicationAdministration", "Observation",
        "DocumentReference", "Provenance")) -> dict[str, int]:
    return {t: http.get(t, params={"_summary": "count"}).json()["total"] for t in types}


MRN_LIKE = re.compile(rb"MRN\d{7}|DT-4W-9\d{5}")
EHR_MRN = re.compile(rb"MRN\d{7}")


def no_plaintext(root: Path, h: Hospital, allowed: set[Path]) -> None:
    """No 4W patient's family name or MRN, nor a downtime MRN, in any file written but
    those allowed (the PDF asked for, the site's own import files) and the hospital's own
    data (the EHR's: the generated export and the sandbox's database). The audit log names
    the patient of each submission by id, a created one by its downtime MRN
    (docs/audit-log.md): names and the EHR's MRNs are not in it."""
    skip = {root / "hospital", root / "sandbox"}
    checked = 0
    for path in root.rglob("*"):
        if not path.is_file() or path in allowed or any(s in path.parents for s in skip):
            continue
        data = path.read_bytes()
        checked += 1
        for needle in h.names:
            assert needle not in data, f"{needle!r} in plaintext in {path}"
        found = (EHR_MRN if path.name == "audit.log" else MRN_LIKE).search(data)
        assert found is None, f"{found.group()!r} in plaintext in {path}"
    assert checked > 10


def as_json_rows(rows: list[dict]) -> bytes:
    return json.dumps(rows, indent=1).encode()
