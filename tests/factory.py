"""Small, hand-made canonical databases and sealed snapshots for fast unit tests.

The end-to-end tests use the real generator and builder; these are for tests of what reads a
snapshot (chart queries, TUI, forms) that want a few known patients in a second, not a hospital.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snapshots import sealed
from snapshots.keys import Identity
from snapshots.schema import FTS_TABLE, create_schema, insert_rows

AS_OF = datetime(2026, 11, 24, 14, 5, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def lineage(kind: str, rid: str) -> dict:
    return {"src_type": kind, "src_id": rid, "src_version": "1",
            "src_updated": iso(AS_OF - timedelta(days=1)), "src_hash": f"h-{kind}-{rid}"}


@dataclass
class Keys:
    """In-memory keys: no passphrase KDF, so tests stay fast."""

    signing: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    unit: Identity = field(default_factory=lambda: Identity("ws-4W-1",
                                                             pyrage.x25519.Identity.generate()))
    pharmacy: Identity = field(default_factory=lambda: Identity(
        "pharmacy", pyrage.x25519.Identity.generate()))
    escrow: Identity = field(default_factory=lambda: Identity(
        "escrow", pyrage.x25519.Identity.generate()))

    @property
    def trusted(self):
        return self.signing.public_key()


def add_patient(conn: sqlite3.Connection, pid: str, name: str, bed: str, unit: str = "4W",
                allergies: list[str] | None = None, nka: bool = False,
                code_status: str | None = "Full code", birth_date: str = "1950-03-04",
                sex: str = "female", mrn: str | None = None, restricted_note: bool = False,
                name_alert_with: str = "") -> None:
    """One current inpatient with a few of everything. allergies=None and nka=False means no
    allergy information at all."""
    family, given = name.split(", ")
    mrn = mrn or f"MRN{abs(hash(pid)) % 10**7:07d}"
    insert_rows(conn, "patients", [{"id": pid, "mrn": mrn, "family": family, "given": given,
                                    "name": name, "birth_date": birth_date, "sex": sex,
                                    "deceased": 0, **lineage("Patient", pid)}])
    insert_rows(conn, "identifiers", [{"patient_id": pid, "system":
                                       "https://hospital.example.org/fhir/mrn", "value": mrn,
                                       "type": "MR", "facility": "hospital.example.org"}])
    enc = f"enc-{pid}"
    insert_rows(conn, "encounters", [{
        "id": enc, "patient_id": pid, "status": "in-progress", "class": "IMP", "unit_id":
        f"unit-{unit}", "unit_code": unit, "room": bed.rsplit("-", 1)[0], "bed": bed,
        "admitted_at": iso(AS_OF - timedelta(days=2)), "attending": "Dr. Ada Quill",
        "attending_id": "pr-1", "name_alert": int(bool(name_alert_with)),
        "name_alert_with": name_alert_with, **lineage("Encounter", enc)}])
    rows = [{"id": f"al-{pid}-{i}", "patient_id": pid, "substance": s, "coded": 1,
             "no_known": 0, "reaction": "hives", "criticality": "high",
             "clinical_status": "active", **lineage("AllergyIntolerance", f"al-{pid}-{i}")}
            for i, s in enumerate(allergies or [])]
    if nka:
        rows.append({"id": f"al-{pid}-nka", "patient_id": pid, "substance": "No known allergy",
                     "coded": 1, "no_known": 1, "clinical_status": "active",
                     **lineage("AllergyIntolerance", f"al-{pid}-nka")})
    insert_rows(conn, "allergies", rows)
    if code_status:
        insert_rows(conn, "flags", [{"id": f"fl-{pid}", "patient_id": pid, "kind":
                                     "code-status", "text": code_status, "status": "active",
                                     "since": iso(AS_OF - timedelta(days=2)),
                                     **lineage("Flag", f"fl-{pid}")}])
    insert_rows(conn, "med_orders", [
        {"id": f"mo-{pid}-1", "patient_id": pid, "encounter_id": enc,
         "medication": "Metoprolol tartrate 25 mg tablet", "dose": "25 mg", "dose_value": 25,
         "dose_unit": "mg", "route": "oral", "frequency": "BID", "times": "09:00,21:00",
         "prn": 0, "iv": 0, "status": "active", **lineage("MedicationRequest", f"mo-{pid}-1")},
        {"id": f"mo-{pid}-2", "patient_id": pid, "encounter_id": enc,
         "medication": "Acetaminophen 500 mg tablet", "dose": "1000 mg", "route": "oral",
         "frequency": "Q6H PRN", "interval_hours": 6, "prn": 1, "prn_reason": "pain", "iv": 0,
         "status": "active", **lineage("MedicationRequest", f"mo-{pid}-2")},
        {"id": f"mo-{pid}-3", "patient_id": pid, "encounter_id": enc,
         "medication": "Heparin 25,000 units in D5W 250 mL", "rate": "18 mL/h",
         "route": "intravenous", "frequency": "continuous", "prn": 0, "iv": 1,
         "status": "on-hold", "status_note": "legacy status HELD",
         **lineage("MedicationRequest", f"mo-{pid}-3")},
    ])
    insert_rows(conn, "administrations", [
        {"id": f"ma-{pid}-{h}", "patient_id": pid, "order_id": f"mo-{pid}-1",
         "medication": "Metoprolol tartrate 25 mg tablet", "status": "completed",
         "given_at": iso(AS_OF - timedelta(hours=h)), "dose": "25 mg", "route": "oral",
         **lineage("MedicationAdministration", f"ma-{pid}-{h}")} for h in (5, 17)])
    obs = []
    for h in range(0, 24, 4):
        for code, display, value, unit_, low, high in (
                ("8867-4", "Heart rate", 70 + h, "/min", 60, 100),
                ("8480-6", "Systolic blood pressure", 150 - h, "mm[Hg]", 90, 140)):
            oid = f"ob-{pid}-{code}-{h}"
            obs.append({"id": oid, "patient_id": pid, "encounter_id": enc,
                        "category": "vital-signs", "code": code, "display": display,
                        "value_num": value, "unit": unit_,
                        "effective_at": iso(AS_OF - timedelta(hours=h)), "ref_low": low,
                        "ref_high": high, "flag": "H" if value > high else "N",
                        "restricted": 0, **lineage("Observation", oid)})
    obs.append({"id": f"ob-{pid}-k", "patient_id": pid, "category": "laboratory",
                "code": "2823-3", "display": "Potassium", "value_num": 5.9, "unit": "mmol/L",
                "effective_at": iso(AS_OF - timedelta(hours=6)), "ref_low": 3.5,
                "ref_high": 5.1, "flag": "H", "restricted": 0,
                **lineage("Observation", f"ob-{pid}-k")})
    obs.append({"id": f"ob-{pid}-wt", "patient_id": pid, "category": "vital-signs",
                "code": "29463-7", "display": "Body weight", "value_num": 71.2, "unit": "kg",
                "effective_at": iso(AS_OF - timedelta(hours=10)), "restricted": 0,
                **lineage("Observation", f"ob-{pid}-wt")})
    insert_rows(conn, "observations", obs)
    insert_rows(conn, "problems", [{"id": f"pr-{pid}", "patient_id": pid, "display":
                                    "Community-acquired pneumonia", "code": "385093006",
                                    "clinical_status": "active", "restricted": 0,
                                    **lineage("Condition", f"pr-{pid}")}])
    insert_rows(conn, "notes", [{"id": f"no-{pid}", "patient_id": pid, "encounter_id": enc,
                                 "title": "Progress note", "kind": "Progress note",
                                 "author": "Dr. Ada Quill", "written_at":
                                 iso(AS_OF - timedelta(hours=8)), "content_type": "text/plain",
                                 "text": "Afebrile overnight. Continue antibiotics.",
                                 "size": 41, "restricted": 0, **lineage("DocumentReference",
                                                                         f"no-{pid}")}])
    if restricted_note:
        insert_rows(conn, "notes", [{"id": f"no-{pid}-bh", "patient_id": pid,
                                     "title": "Psychiatry consult", "kind": "Consult note",
                                     "author": "Dr. Sam Reyes", "written_at":
                                     iso(AS_OF - timedelta(hours=20)),
                                     "content_type": "text/plain",
                                     "text": "Restricted: behavioural health assessment.",
                                     "size": 43, "restricted": 1,
                                     **lineage("DocumentReference", f"no-{pid}-bh")}])
    conn.execute(f"INSERT INTO {FTS_TABLE}(patient_id, encounter_id, name, mrns, bed) "
                 "VALUES (?, ?, ?, ?, ?)", (pid, enc, f"{given} {family}", mrn, bed))


def chart_db() -> sqlite3.Connection:
    """A writable in-memory canonical database with one unit of five known patients."""
    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    insert_rows(conn, "units", [{"id": "unit-4W", "code": "4W", "name": "4 West Med-Surg",
                                 "kind": "med-surg", **lineage("Location", "unit-4W")}])
    add_patient(conn, "p1", "SMITH, John", "4W-401-A", allergies=["Penicillin"],
                name_alert_with="p2", restricted_note=True)
    add_patient(conn, "p2", "SMITH, Jon", "4W-402-A", nka=True, name_alert_with="p1",
                code_status="DNR/DNI")
    add_patient(conn, "p3", "OKAFOR, Grace", "4W-403-A", code_status=None)
    add_patient(conn, "p4", "NGUYEN, Minh", "4W-404-B", allergies=["Latex", "Sulfa drugs"],
                sex="male", birth_date="2024-06-01")
    add_patient(conn, "p5", "GARCÍA, Lucía", "4W-405-A", nka=True)
    for i in range(3):
        insert_rows(conn, "downtime_ids", [
            {"unit_code": "4W", "kind": "mrn", "value": f"DT4W{i:05d}"},
            {"unit_code": "4W", "kind": "encounter", "value": f"DE4W{i:05d}"}])
    insert_rows(conn, "meta", [{"key": "as_of", "value": iso(AS_OF)},
                               {"key": "scope", "value": "unit:4W"}])
    conn.commit()
    return conn


def two_unit_db() -> sqlite3.Connection:
    """chart_db() and a second unit, 5E, with one patient (BERG, Ola, p7)."""
    conn = chart_db()
    insert_rows(conn, "units", [{"id": "unit-5E", "code": "5E", "name": "5 East",
                                 "kind": "med-surg", **lineage("Location", "unit-5E")}])
    add_patient(conn, "p7", "BERG, Ola", "5E-501-A", unit="5E", nka=True)
    conn.commit()
    return conn


def published_hospital(root: Path, keys: Keys, patients: int, seed: int, as_of: datetime):
    """A generated hospital in root/src, built and published as a house snapshot in
    root/store (escrow and builder may open it, so a refresh can start from it); returns the
    build result and the snapshot's path."""
    from downtime.generator import generate
    from snapshots.pipeline import build_database
    from snapshots.publish import Recipients, publish
    from snapshots.settings import BuildSettings

    generate(root / "src", patients=patients, seed=seed, as_of=as_of)
    result = build_database(root / "src", BuildSettings(as_of=as_of))
    written = publish(result.conn, root / "store", recipients=Recipients(
        escrow=[keys.escrow.recipient], builder=[keys.unit.recipient]),
        signing_key=keys.signing, as_of=iso(as_of), source="test")
    return result, written[0][0]


def sealed_snapshot(directory: Path, keys: Keys, conn: sqlite3.Connection | None = None,
                    scope: str = "unit:4W", sequence: int = 1,
                    as_of: datetime = AS_OF) -> Path:
    """Seal a canonical database to the keys' unit, pharmacy and escrow identities."""
    conn = conn or chart_db()
    out = directory / f"{scope.replace(':', '-')}-{sequence:06d}{sealed.SUFFIX}"
    sealed.seal(conn, out, scope=scope, sequence=sequence, as_of=iso(as_of),
                source="tests/factory.py", counts={"patients": 5},
                recipients=[keys.unit.recipient, keys.pharmacy.recipient,
                            keys.escrow.recipient],
                signing_key=keys.signing, units=["4W"])
    return out


def print_site(site: Path, passphrase: str) -> Path:
    """A workstation's folder as `downtime print` and `downtime agent` use it, with real,
    passphrase-protected keys (ws-4W-1 and escrow), a published per-unit store of chart_db()
    and `downtime.toml`; returns the site."""
    from snapshots.keys import create_identity, create_signing_key, load_signing_key
    from snapshots.publish import Recipients, publish

    keys = site / "keys"
    create_signing_key(keys, passphrase)
    unit = create_identity(keys, "ws-4W-1", passphrase)
    escrow = create_identity(keys, "escrow", passphrase)
    publish(chart_db(), site / "store",
            recipients=Recipients(escrow=[escrow], units={"4W": [unit]}),
            signing_key=load_signing_key(keys / "builder.pem", passphrase),
            as_of=iso(AS_OF), source="test", per_unit=True)
    (site / "inbox").mkdir()  # where the builder's files arrive: IT sets it up (a share)
    (site / "downtime.toml").write_text(
        '[paths]\nstore = "store"\ninbox = "inbox"\nidentity = "keys/ws-4W-1.age"\n'
        'trusted_builder_key = "keys/builder.pub"\nregistry = "registry"\n'
        f'audit_log = "audit.log"\n[recipients]\nescrow = ["{escrow}"]\n')
    return site


def write_site_config(site: Path, keys: Keys, source: Path, passphrase: str = "test") -> Path:
    """A builder's `downtime.toml` in `site` for `snapshot build` from `source` into
    site/store, with the keys' signing key (a PEM under `passphrase`, which the command reads
    from $DOWNTIME_PASSPHRASE: set it) and recipients; returns the config's path."""
    import os

    from cryptography.hazmat.primitives import serialization

    site.mkdir(parents=True, exist_ok=True)
    (site / "builder.pem").write_bytes(keys.signing.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode())))
    os.chmod(site / "builder.pem", 0o600)
    config = site / "downtime.toml"
    config.write_text(
        f'[paths]\nsource = "{source}"\nstore = "store"\nsigning_key = "builder.pem"\n'
        f'[build]\nas_of = "2026-11-25T14:00:00Z"\n'
        f'[recipients]\nescrow = ["{keys.escrow.recipient}"]\n'
        f'pharmacy = ["{keys.pharmacy.recipient}"]\n'
        f'[recipients.units]\n4W = ["{keys.unit.recipient}"]\n')
    return config
