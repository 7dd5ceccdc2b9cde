"""Back-entry end to end on the demo hospital (issue 12 §8), through the commands as HIM staff
run them, real parts only: packets and registration forms printed (registered), scanned
(simulated scans) and filed, back-entered by import (CSV and JSON), checked against the
sandbox EHR after it moved on (every conflict kind of §4 seeded), decided (accept, edit,
reject; a merged chart retargeted), registrations linked and created, Bundles written,
validated (../shared/tools/validate-fhir) and submitted twice with nothing made twice, then
status, the PDF report and closing; no plaintext patient data left in any file written."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
import pypdfium2
import pyrage
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.sandbox import start_sandbox
from snapshots.keys import create_identity, load_identity
from tests import backentry_site as site
from tests.backentry_site import FHIR, NOT_ISSUED, PASS, iso

VALIDATE = Path(__file__).resolve().parents[2] / "shared" / "tools" / "validate-fhir"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("backentry-e2e")
    hospital, _, scan_all = site.make_hospital(root)
    with start_sandbox(root / "sandbox", load=root / "hospital") as sandbox, \
            httpx.Client(base_url=sandbox.base_url, headers=FHIR, timeout=30) as http:
        made = site.move_the_ehr_on(http, hospital)
        yield hospital, sandbox, http, scan_all, made


def run(config: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    return result.output


def _rows(h: site.Hospital) -> tuple[list[dict], list[dict]]:
    """The transcription of the paper: (CSV rows, JSON rows), each a dict of columns."""
    f = h.forms
    main, (o1, drug1, dose1), (o2, drug2, dose2) = h.main, h.orders[0], h.orders[1]

    def t(hours: float) -> str:
        return iso(h.start + timedelta(hours=hours))

    def mar(line: int, drug: str, dose: float, order: str, hours: float, **more) -> dict:
        return {"kind": "mar", "form_id": f[(main, "mar")], "page": 1, "line": line,
                "written_by": "JK", "paper_time": t(hours), "drug": drug, "dose": dose,
                "dose_unit": "mg", "route": "PO", "order_id": order, **more}

    def order(line: int, drug: str, dose: float, route: str, hours: float) -> dict:
        return {"kind": "order", "form_id": f[(main, "orders")], "page": 1, "line": line,
                "written_by": "AS", "paper_time": t(hours), "drug": drug, "dose": dose,
                "dose_unit": "mg", "route": route, "frequency": "q8h"}

    def vitals(pid: str, line: int, hours: float, hr: int, **more) -> dict:
        return {"kind": "vitals", "form_id": f[(pid, "vitals")], "page": 1, "line": line,
                "written_by": "LM", "paper_time": t(hours), "heart_rate": hr, "spo2": 96,
                **more}

    csv_rows = [
        mar(1, drug1, dose1, o1, 2),  # clear
        mar(2, drug1, dose1 * 2, o1, 6),  # dose-mismatch: edited
        mar(3, drug1, dose1, "mr-nowhere", 3),  # order-unknown
        mar(4, drug2, dose2, o2, 4.05),  # administration-duplicate
        order(1, "Pantoprazole 40 mg IV", 40, "IV", 3),  # order-duplicate
        order(2, "Ondansetron 4 mg IV", 4, "IV", 0.5),  # order-completed
        order(3, "Amoxicillin 500 mg PO", 500, "PO", 5),  # allergy: accepted
        vitals(main, 1, 1, 88, bp_systolic=128, bp_diastolic=82, temperature=37.2),
        vitals(main, 2, -3, 90),  # out-of-window
        vitals(main, 3, 5, 93, written_by="QF", unit="5E"),  # a float nurse: author-unknown
        vitals(main, 4, 7, 95),  # entered twice:
        vitals(main, 5, 7, 95),
    ]
    future = iso(h.end + timedelta(days=3))
    json_rows = [
        vitals(main, 6, 0, 97) | {"paper_time": future},  # future (and out of the window)
        vitals(h.discharged, 1, 4, 70),  # discharged at +2 h
        vitals(h.moved, 1, 4, 72),  # transferred to ICU at +2 h
        vitals(h.merged, 1, 4, 74),  # the chart merged since: retargeted
        {"kind": "note", "form_id": f[(h.died, "note")], "page": 1, "line": 1,
         "written_by": "AS", "paper_time": t(5), "text": "Seen at rounds.\nComfortable."},
        vitals(main, 1, 5, 99) | {"form_id": f[(h.moved, "vitals")], "line": 2,
                                  "patient_id": main, "encounter_id": h.encounter(main)},
        vitals(main, 1, 5, 60) | {"form_id": NOT_ISSUED, "patient_id": "pat-nobody",
                                  "encounter_id": "enc-nobody", "unit": "4W"},
        vitals(main, 2, 5, 61) | {"form_id": NOT_ISSUED, "patient_id": main,
                                  "encounter_id": "enc-nowhere", "unit": "4W"},
    ]
    (reg1, mrn1, _), (reg2, mrn2, _) = h.registrations
    json_rows += [
        {"kind": "registration", "form_id": reg1, "page": 1, "line": 1, "written_by": "JK",
         "paper_time": t(1), "family": "Okafor", "given": "Chidi Emeka",
         "birth_date": "1961-04-09", "sex": "male"},
        {"kind": "vitals", "form_id": reg1, "page": 1, "line": 2, "written_by": "JK",
         "paper_time": t(1.5), "heart_rate": 101},
        {"kind": "registration", "form_id": reg2, "page": 1, "line": 1, "written_by": "JK",
         "paper_time": t(2), **h.lookalike},
    ]
    del mrn1, mrn2
    return csv_rows, json_rows


def _csv(rows: list[dict]) -> bytes:
    columns = sorted({c for r in rows for c in r})
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_print_scan_enter_check_decide_submit_close(world, tmp_path):
    h, sandbox, http, scan_all, made = world
    escrow = create_identity(h.root / "keys", "escrow", PASS)
    config = site.write_config(h, sandbox.base_url, escrow)
    run(config, "reconcile", "open", "--start", h.start.isoformat(), "--end",
        h.end.isoformat(), "--units", "4W")
    run(config, "reconcile", "collect", str(h.root / "share" / "ws-4W-1"))
    scan_all()
    out = run(config, "reconcile", "scan", *sorted(str(p) for p in (h.root / "inbox").iterdir()),
              "--workers", "2")
    status = json.loads(run(config, "reconcile", "status", "--json"))
    assert status["totals"]["pages_in"] == h.packet_pages, out
    assert status["totals"]["queued"] == 0 and not status["set_aside"]

    csv_rows, json_rows = _rows(h)
    imports = tmp_path / "site-files"  # the site's own transcription files (plaintext)
    imports.mkdir()
    (imports / "mar.csv").write_bytes(_csv(csv_rows))
    (imports / "more.json").write_bytes(site.as_json_rows(json_rows))
    out = run(config, "reconcile", "import", str(imports / "mar.csv"), "--entered-by",
              "Dana Reyes (HIM)", "--pages-done", "--by", "Dana Reyes")
    print(out)
    out = run(config, "reconcile", "import", str(imports / "more.json"), "--entered-by",
              "Dana Reyes (HIM)", "--pages-done", "--by", "Dana Reyes")
    print(out)
    again = run(config, "reconcile", "import", str(imports / "mar.csv"), "--entered-by",
                "Dana Reyes (HIM)")
    print(again)
    out = run(config, "reconcile", "check")
    print(out)
    conflicts = json.loads(run(config, "reconcile", "conflicts", "--json"))
    Path("/tmp/e2e12/conflicts.json").write_text(json.dumps(conflicts, indent=1))
    assert False
