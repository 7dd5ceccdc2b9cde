"""Back-entry end to end on the demo hospital (issue 12 §8), through the commands as HIM staff
run them, real parts only: packets and registration forms printed (registered), scanned
(simulated scans) and filed, back-entered by import (CSV and JSON), checked against the
sandbox EHR after it moved on (every conflict kind of §4 seeded), decided (accept, edit,
reject; a merged chart retargeted), registrations linked and created, Bundles written,
validated (../shared/tools/validate-fhir) and submitted twice with nothing made twice, then
status, the PDF report and closing; no plaintext patient data left in any file written."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pypdfium2
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.config import load_config
from downtime.sandbox import start_sandbox
from forms.qr import QrPayload
from reconcile.bundles import build_bundles
from reconcile.close import unaccounted
from reconcile.conflict_decisions import decide
from reconcile.decisions import PAGE_TRANSCRIBED
from reconcile.episode import Episode, load_episode
from reconcile.state import derive
from reconcile.submit_plan import plan_submission
from snapshots.fhir_client import ClientSettings, FhirClient
from snapshots.keys import create_identity, load_identity
from tests import backentry_site as site
from tests.backentry_site import FHIR, NOT_ISSUED, PASS, iso
from tests.shared import SHARED

DOWNTIME = str(Path(sys.executable).parent / "downtime")
VALIDATE = SHARED / "tools" / "validate-fhir"  # found as tests/shared.py finds it


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("backentry-e2e")
    hospital, _, scan_all = site.make_hospital(root)
    with start_sandbox(root / "sandbox", load=root / "hospital") as sandbox, \
            httpx.Client(base_url=sandbox.base_url, headers=FHIR, timeout=30) as http:
        site.move_the_ehr_on(http, hospital)
        escrow = create_identity(root / "keys", "escrow", PASS)
        yield hospital, sandbox, http, scan_all, escrow


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

    def x(row: dict, *codes: str, name: str | None = None) -> dict:
        return row | {"_expect": set(codes), "_name": name}

    csv_rows = [
        x(mar(1, drug1, dose1, o1, 2)),
        x(mar(2, drug1, dose1 * 2, o1, 6), "dose-mismatch", name="dose"),  # edited
        x(mar(3, drug1, dose1, "mr-nowhere", 3), "order-unknown"),
        x(mar(4, drug2, dose2, o2, 4.05), "administration-duplicate"),
        x(order(1, "Famotidine 20 mg IV", 20, "IV", 3), "order-duplicate", name="duplicate"),
        x(order(2, "Metoclopramide 10 mg IV", 10, "IV", 0.5), "order-completed"),
        x(order(3, "Amoxicillin 500 mg PO", 500, "PO", 5), "allergy", name="allergy"),
        x(order(4, drug1, dose1 * 2, "PO", 4), "order-active"),  # a new dose, the old order on
        x(vitals(main, 1, 1, 88, bp_systolic=128, bp_diastolic=82, temperature=37.2)),
        x(vitals(main, 2, -3, 90), "out-of-window"),
        x(vitals(main, 3, 5, 93, written_by="QF", unit="5E"), "author-unknown"),  # a float
        x(vitals(main, 4, 7, 95)),
        x(vitals(main, 5, 7, 95), "entered-twice"),
    ]
    future = iso(h.end + timedelta(days=3))
    json_rows = [
        x(vitals(main, 6, 0, 97) | {"paper_time": future}, "future", "out-of-window"),
        x(vitals(h.discharged, 1, 4, 70), "discharged"),
        x(vitals(h.moved, 1, 4, 72), "transferred"),
        x(vitals(h.merged, 1, 4, 74), "merged", name="merged"),
        x({"kind": "note", "form_id": f[(h.died, "note")], "page": 1, "line": 1,
           "written_by": "AS", "paper_time": t(5), "text": "Seen at rounds.\nComfortable."},
          "died"),
        x(vitals(main, 1, 5, 99) | {"form_id": f[(h.moved, "vitals")], "line": 2,
                                    "patient_id": main, "encounter_id": h.encounter(main)},
          "form-other-patient"),
        x(vitals(main, 1, 5, 60) | {"form_id": NOT_ISSUED, "patient_id": "pat-nobody",
                                    "encounter_id": "enc-nobody", "unit": "4W"},
          "form-not-issued", "patient-unknown"),
        x(vitals(main, 2, 5, 61) | {"form_id": NOT_ISSUED, "patient_id": main,
                                    "encounter_id": "enc-nowhere", "unit": "4W"},
          "form-not-issued", "encounter-unknown"),
    ]
    (reg_new, _, _), (reg_known, _, _) = h.registrations
    json_rows += [
        x({"kind": "registration", "form_id": reg_new, "page": 1, "line": 1,
           "written_by": "JK", "paper_time": t(1), "family": "Okafor", "given": "Chidi Emeka",
           "birth_date": "1961-04-09", "sex": "male"}),
        x({"kind": "vitals", "form_id": reg_new, "page": 1, "line": 2, "written_by": "JK",
           "paper_time": t(1.5), "heart_rate": 101}),
        x({"kind": "registration", "form_id": reg_known, "page": 1, "line": 1,
           "written_by": "JK", "paper_time": t(2), **h.lookalike}),
    ]
    return csv_rows, json_rows


ALL_CODES = {"discharged", "transferred", "died", "merged", "patient-unknown",
             "encounter-unknown", "order-duplicate", "order-completed", "order-active",
             "administration-duplicate", "allergy", "order-unknown", "dose-mismatch",
             "out-of-window", "future", "author-unknown", "form-not-issued",
             "form-other-patient", "entered-twice"}


def _key(row: dict) -> str:
    return f"{row['form_id']}/p{row['page']}/l{row['line']}"


def _plain(rows: list[dict]) -> list[dict]:
    return [{c: v for c, v in r.items() if not c.startswith("_")} for r in rows]


def _csv(rows: list[dict]) -> bytes:
    rows = _plain(rows)
    columns = sorted({c for r in rows for c in r})
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_print_scan_enter_check_decide_submit_close(world, tmp_path):
    h, sandbox, http, scan_all, escrow = world
    config = site.write_config(h, sandbox.base_url, escrow)
    run(config, "reconcile", "open", "--start", h.start.isoformat(), "--end",
        h.end.isoformat(), "--units", "4W")
    run(config, "reconcile", "collect", str(h.root / "share" / "ws-4W-1"))
    truth = scan_all()
    out = run(config, "reconcile", "scan", *sorted(str(p) for p in (h.root / "inbox").iterdir()),
              "--workers", "2")
    status = json.loads(run(config, "reconcile", "status", "--json"))
    assert status["totals"]["pages_in"] == h.packet_pages == len(truth), out
    assert not status["set_aside"]
    for page in status["pages"]:  # a code the reader could not make out: filed by hand
        if page["status"] == "queued":
            form_id, page_no = truth[page["where"]]
            run(config, "reconcile", "index", page["page"], "--form", form_id, "--page",
                str(page_no))
    status = json.loads(run(config, "reconcile", "status", "--json"))
    assert status["totals"]["queued"] == 0
    for page in status["pages"]:  # every page under its own form and page
        assert (page["form_id"], page["page_no"]) == truth[page["where"]], page
    assert not status["flagged"], status["flagged"][:2]

    csv_rows, json_rows = _rows(h)
    imports = tmp_path / "site-files"  # the site's own transcription files (plaintext)
    imports.mkdir()
    (imports / "mar.csv").write_bytes(_csv(csv_rows))
    (imports / "more.json").write_bytes(site.as_json_rows(_plain(json_rows)))
    expected = {_key(r): r["_expect"] for r in csv_rows + json_rows}
    keys = {r["_name"]: _key(r) for r in csv_rows + json_rows if r["_name"]}
    out = run(config, "reconcile", "import", str(imports / "mar.csv"), "--entered-by",
              "Dana Reyes (HIM)", "--pages-done", "--by", "Dana Reyes")
    assert "13 rows: 13 recorded" in out, out
    out = run(config, "reconcile", "import", str(imports / "more.json"), "--entered-by",
              "Dana Reyes (HIM)", "--pages-done", "--by", "Dana Reyes")
    assert "11 rows: 11 recorded" in out, out
    again = run(config, "reconcile", "import", str(imports / "mar.csv"), "--entered-by",
                "Dana Reyes (HIM)")
    assert "0 recorded, 0 corrections, 13 already in the episode" in again, again
    out = run(config, "reconcile", "check")
    assert "21 conflicts wait for a decision" in out, out
    conflicts = json.loads(run(config, "reconcile", "conflicts", "--json"))
    found = {}
    for items in conflicts.values():
        for c in items:
            found.setdefault(c["key"], set()).add(c["code"])
    assert found == {k: v for k, v in expected.items() if v}, found
    assert set().union(*found.values()) == ALL_CODES  # every kind of §4

    # decisions as a clerk and a pharmacist make them: accept, edit, reject
    k = keys
    run(config, "reconcile", "decide", k["dose"], "--code", "dose-mismatch", "--edit",
        f"dose={h.orders[0][2]:g} mg", "--reason", "misread the dose", "--by", "Dana Reyes")
    run(config, "reconcile", "decide", k["allergy"], "--code", "allergy", "--accept",
        "--reason", "tolerated before, prescriber aware", "--by", "Pat Lee, PharmD")
    run(config, "reconcile", "decide", k["merged"], "--code", "merged", "--accept",
        "--reason", "charts merged by HIM", "--by", "Dana Reyes")
    run(config, "reconcile", "decide", k["duplicate"], "--code", "order-duplicate",
        "--reject", "--reason", "entered by pharmacy since recovery", "--by",
        "Pat Lee, PharmD")
    out = run(config, "reconcile", "decide", k["duplicate"], "--code", "order-duplicate",
              "--accept", "--reason", "again", "--by", "Dana Reyes", code=1)
    assert len(out.strip().splitlines()) == 1, out  # not open: one line
    accept = {"transferred", "author-unknown"}
    _decide_the_rest(config, accept)
    out = run(config, "reconcile", "check")  # the edited revision is checked again
    assert "0 conflicts wait" in out or "no conflicts wait" in out or "clear" in out, out
    left = json.loads(run(config, "reconcile", "conflicts", "--json"))
    assert not any(left.values()), left

    # registrations: the one who was in the EHR linked, the new one created
    (_, mrn_new, _), (_, mrn_known, _) = h.registrations
    matches = json.loads(run(config, "reconcile", "match", "--json"))
    by_mrn = {m["downtime_mrn"]: m for m in matches}
    assert by_mrn[mrn_known]["candidates"][0]["patient_id"] == h.roles["lookalike"], by_mrn
    run(config, "reconcile", "link", mrn_known, "--to", h.roles["lookalike"], "--by", "Dana Reyes")
    run(config, "reconcile", "create", mrn_new, "--by", "Dana Reyes")

    # the Bundles as the submitter builds them, through the official validator
    bundles = tmp_path / "bundles"
    _write_bundles(config, bundles)
    checked = subprocess.run([sys.executable, str(VALIDATE), str(bundles)],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for f in bundles.iterdir():
        f.unlink()  # plaintext: written for the check only
    bundles.rmdir()

    # submitted, killed mid-way, resumed; then once more: nothing twice
    before = site.counts(http)
    _submit_killed_mid_way(config, sandbox)
    out = run(config, "reconcile", "submit")
    assert "Traceback" not in out
    after = site.counts(http)
    again = run(config, "reconcile", "submit")
    assert site.counts(http) == after, again
    made = {t: after[t] - before[t] for t in after}
    # one Patient and two Encounters for the registrations (created; linked); the accepted
    # and edited MAR doses, the allergy-accepted order, 13 readings of six vitals rows, the
    # nine pages transcribed, a Provenance per entry: nothing of the kill made twice
    assert made == {"Patient": 1, "Encounter": 2, "MedicationRequest": 1,
                    "MedicationAdministration": 2, "Observation": 13, "DocumentReference": 9,
                    "Provenance": 11}, made
    page = http.get("DocumentReference", params={
        "identifier": "urn:downtime-toolkit:scanned-page|"
        f"{h.forms[(h.merged, 'vitals')]}/p1"}).json()["entry"][0]["resource"]
    assert page["subject"]["reference"] == f"Patient/{h.survivor}", page["subject"]
    survivor = http.get("Observation", params={
        "subject": f"Patient/{h.survivor}", "identifier": f"urn:downtime-toolkit:back-entry|"
        f"{k['merged']}/heart_rate"}).json()
    assert survivor["total"] == 1, survivor  # the merged chart's entry retargeted

    status = json.loads(run(config, "reconcile", "status", "--json"))
    total = status["back_entry"]
    assert (total["entries"], total["submitted"], total["declined"], total["in-conflict"],
            total["unchecked"]) == (24, 11, 13, 0, 0), total
    unit = status["units"]["4W"]
    assert unit["back_entry"]["submitted"] == 11, unit["back_entry"]
    patients = unit["patients"]
    assert patients[h.main]["back_entry"]["submitted"] == 6, patients[h.main]["back_entry"]
    assert patients[h.discharged]["back_entry"]["declined"] == 1
    assert patients[h.moved]["back_entry"]["submitted"] == 1
    pdf = tmp_path / "report.pdf"
    run(config, "reconcile", "report", "--pdf", str(pdf))
    doc = pypdfium2.PdfDocument(pdf)
    text = " ".join(" ".join(doc[i].get_textpage().get_text_range().split())
                    for i in range(len(doc)))
    for words in ("entered by pharmacy since recovery", "misread the dose", "Pat Lee, PharmD"):
            assert words in text, words

    out = run(config, "reconcile", "close", "--reason", "all back", "--by", "Lee Park",
              code=1)
    assert "cannot be closed" in out, out
    _account_for_the_rest(config, h)
    out = run(config, "reconcile", "close", "--reason", "all units back, checked", "--by",
              "Lee Park, HIM lead")
    assert "closed by Lee Park, HIM lead" in out, out
    site.no_plaintext(h.root, h, {pdf, imports / "mar.csv", imports / "more.json"})


def _episode(config: Path) -> Episode:
    from downtime.cli.reconcile import _recipients

    settings = load_config(config)
    ident = load_identity(settings.reconcile.identity, PASS)
    return load_episode(settings.reconcile.folder, None, _recipients(settings, ident),
                        [ident.secret], "clerk@him-1")


def _decide_the_rest(config: Path, accept: set[str]) -> None:
    """The other open conflicts, decided as the CLI does (the library: no KDF per call)."""
    episode = _episode(config)
    for items in json.loads(run(config, "reconcile", "conflicts", "--json")).values():
        for c in items:
            decision = "accept" if c["code"] in accept else "reject"
            decide(episode.journal, derive(episode.journal.read()), c["key"], c["code"],
                   decision, f"{decision}ed after review", "Dana Reyes", episode.who)


def _write_bundles(config: Path, folder: Path) -> int:
    """What the submitter would send now, as JSON files."""
    episode = _episode(config)
    folder.mkdir()
    with FhirClient(ClientSettings(url=load_config(config).source.url, retries=1)) as client:
        plan = plan_submission(derive(episode.journal.read()), episode,
                               read_patient=lambda i: client.read("Patient", i))
    built = build_bundles(plan.entries, plan.pages, links=plan.links)
    for n, one in enumerate(built):
        (folder / f"bundle-{n}.json").write_bytes(one.to_bytes())
    assert len(built) >= 4
    return len(built)


def _submit_killed_mid_way(config: Path, sandbox) -> None:
    """`downtime reconcile submit` in its own process, killed (SIGKILL) after its first
    Bundle went; each Bundle slowed down so that the kill lands mid-way."""
    sandbox.set_fault("slow", seconds=0.8, match="/fhir")
    proc = subprocess.Popen([DOWNTIME, "--config", str(config), "reconcile", "submit"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, DOWNTIME_PASSPHRASE=PASS))
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("submitted "):
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        sandbox.clear_faults()
    assert proc.returncode == -signal.SIGKILL, "".join(lines)
    sent = derive(_episode(config).journal.read()).submissions.bundles
    assert 1 <= len({b["patient"] for b in sent}) < 5, sent


def _account_for_the_rest(config: Path, h: site.Hospital) -> None:
    """The lost form marked so by a named person; every page back and not transcribed yet
    said done (as the TUI's back-entry does for a page with nothing more on it)."""
    episode = _episode(config)
    state = derive(episode.journal.read())
    left = unaccounted(state)
    lost = h.forms[(h.died, "vitals")]
    assert {u.form_id for u in left if u.text.endswith("not back")} == {lost}, left
    run(config, "reconcile", "lost", lost, "--reason", "went with the patient to the morgue",
        "--by", "Jo Kim RN")
    kinds = {f: k for (_, k), f in h.forms.items()}
    # the census and face sheets are accounted for once back (nothing to type from them)
    assert {kinds.get(u.form_id, "vitals") for u in left} <= site.TRANSCRIBED, left
    episode.journal.append_many([(PAGE_TRANSCRIBED, {
        "form_id": u.form_id, "page": u.page, "lines": 0, "person": "Dana Reyes"})
        for u in left if u.text.endswith("not transcribed")], episode.who)


def _qr(h: site.Hospital, patient: str, kind: str, spare: bool = False) -> str:
    form = (h.spare if spare else h.forms)[(patient, kind)]
    return QrPayload(form, kind, patient, h.encounter(patient), 1, h.pages[form]).text()


def _hhmm(h: site.Hospital, hours: float) -> str:
    return f"{h.start + timedelta(hours=hours):%H%M}"  # local time is UTC here


@pytest.mark.usefixtures("utc")
def test_back_entry_in_the_tui_then_checked_and_submitted(world):
    """`downtime reconcile enter` on the same hospital: a MAR line and a vitals row with
    Pilot, a vitals row in the real command in tmux as a clerk types it; checked against
    the EHR, decided, submitted: what the EHR gets is what was typed."""
    h, sandbox, http, _, escrow = world
    config = site.write_config(h, sandbox.base_url, escrow, "downtime-tui.toml", "rec-tui")
    run(config, "reconcile", "open", "--start", h.start.isoformat(), "--end",
        h.end.isoformat(), "--units", "4W")
    run(config, "reconcile", "collect", str(h.root / "share" / "ws-4W-1"))
    typed = asyncio.run(_pilot(config, h))
    _in_tmux(config, h)
    out = run(config, "reconcile", "check")
    conflicts = json.loads(run(config, "reconcile", "conflicts", "--json"))
    found = {c["key"]: c["code"] for items in conflicts.values() for c in items}
    moved_key = f"{h.spare[(h.moved, 'vitals')]}/p1/l"
    assert set(found.values()) == {"transferred"}, (out, found)
    [key] = found
    assert key.startswith(moved_key)
    run(config, "reconcile", "decide", key, "--code", "transferred", "--reject", "--reason",
        "charted in ICU's record", "--by", "Dana Reyes")
    before = site.counts(http)
    out = run(config, "reconcile", "submit")
    made = {t: n - before[t] for t, n in site.counts(http).items() if n != before[t]}
    assert made == {"MedicationAdministration": 1, "Observation": 5, "Provenance": 2}, (
        made, out)
    sent = http.get("MedicationAdministration", params={
        "identifier": f"urn:downtime-toolkit:back-entry|{typed['mar']}"}).json()
    [given] = [e["resource"] for e in sent["entry"]]
    assert given["subject"]["reference"] == f"Patient/{h.main}"
    assert given["effectiveDateTime"].startswith(
        (h.start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    site.no_plaintext(h.root, h, set())


async def _pilot(config: Path, h: site.Hospital) -> dict[str, str]:
    from downtime.cli.reconcile import _recipients
    from downtime.tui.enter_app import make_enter_app
    from downtime.tui.screens.entry_kinds import MarScreen, VitalsScreen
    from downtime.tui.screens.form_pick import FormPickScreen
    from tests.tui_helpers import settle

    settings = load_config(config)

    def opener(user, identity):
        return load_episode(settings.reconcile.folder, None, _recipients(settings, identity),
                            [identity.secret], "clerk@him-1")

    app = make_enter_app(settings, opener, timers=False)
    async with app.run_test(size=(140, 40)) as pilot:
        app.screen.query_one("#user").value = "Pat Clerk"
        app.screen.query_one("#passphrase").value = PASS
        app.screen.query_one("#passphrase").focus()
        await pilot.press("enter")
        await settle(app, pilot, lambda: isinstance(app.screen, FormPickScreen))
        await pilot.press(*_qr(h, h.main, "mar"), "enter")  # the handheld scanner
        await settle(app, pilot, lambda: isinstance(app.screen, MarScreen))
        screen = app.screen
        row = screen.rows[0]
        await pilot.press(*f"{_hhmm(h, 2)}JK", "enter")
        await settle(app, pilot, lambda: screen.opened.typed)
        [line] = screen.opened.typed
        await pilot.press("escape")
        await settle(app, pilot, lambda: isinstance(app.screen, FormPickScreen))
        await pilot.press(*_qr(h, h.main, "vitals", spare=True), "enter")
        await settle(app, pilot, lambda: isinstance(app.screen, VitalsScreen))
        await pilot.press(*f"{_hhmm(h, 3)} 37.2 88 120/80 16 98 JK", "enter")
        await settle(app, pilot, lambda: app.screen.opened.typed)
        assert row.drug.text
    return {"mar": f"{h.forms[(h.main, 'mar')]}/p1/l{line}"}


def _in_tmux(config: Path, h: site.Hospital) -> None:
    from tests.enter_helpers import Tmux

    tmux = Tmux()
    assert tmux.tmux, "tmux is needed (make system-deps installs it)"
    tmux.run("new-session", "-d", "-s", tmux.session, "-x", "140", "-y", "40",
             f"TERM=xterm-256color TZ=UTC {DOWNTIME} --config {config} reconcile enter; "
             "sleep 30")
    try:
        tmux.wait_for("HIM station passphrase")
        tmux.type("Pat Clerk")
        tmux.wait_for("Pat Clerk")
        tmux.key("Tab")
        time.sleep(0.3)
        tmux.type(PASS)
        tmux.key("Enter")
        tmux.wait_for("SCAN A PAGE")
        tmux.type(_qr(h, h.moved, "vitals", spare=True))
        tmux.key("Enter")
        tmux.wait_for("Vitals flowsheet")
        tmux.type(f"{_hhmm(h, 4)} 36.9 76 LM")
        tmux.key("Enter")
        end = time.monotonic() + 30
        while not re.search(r"line \d+ recorded", tmux.screen()):
            assert time.monotonic() < end, tmux.screen()
            time.sleep(0.1)
        tmux.key("C-q")
        time.sleep(0.5)
    finally:
        tmux.run("kill-server")
