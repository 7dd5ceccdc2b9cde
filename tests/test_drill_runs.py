"""The shipped drills run headless for real on the demo hospital (issue 13, section 5): each
one end to end through `downtime drill run --headless`, between them every fault of
section 2 injected and handled as docs/drills-faults.md says; a drill whose criteria trip
rolls back (exit 1); a script wrong for a real action is refused with its line.

Kept quick as each drill allows: the shipped script as it ships, with a smaller hospital
(`patients`), fewer workstations, fewer scanned pages, a shorter ransomware paper, and a
gentler time scale (a loaded CI machine is not a slow cutover: the overrun criteria are
the engine's tests' business)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.drills.actions.faults import FAULTS
from downtime.drills.catalog import SHIPPED
from tests.drill_helpers import actions, write_script

pytestmark = pytest.mark.slow

QUICK = [  # (pattern, replacement) applied to a shipped script's text
    (r'params = \{ op = "up" \}', 'params = { op = "up", patients = 12 }'),
    (r"workstations = \d+", 'workstations = 2, units = ["4W", "5E"]'),
    (r"pages = \d+", "pages = 1"),
    (r"hours = 72", "hours = 12"),
    (r"time_scale = [0-9.]+", "time_scale = 5.0"),
]


def quick(name: str, folder: Path) -> Path:
    text = (SHIPPED / f"{name}.toml").read_text()
    for pattern, repl in QUICK:
        text = re.sub(pattern, repl, text, count=1 if "op" in pattern else 0)
    return write_script(folder, text, f"{name}.toml")


def run(path: Path, folder: Path) -> tuple[int, dict, str]:
    actions()
    result = CliRunner().invoke(cli, ["drill", "run", "--headless", str(path),
                                      "--report", str(folder)])
    report = json.loads((folder / "report.json").read_text()) \
        if (folder / "report.json").exists() else {}
    return result.exit_code, report, result.output


def patient_words(folder: Path) -> set[bytes]:
    words = set()
    for line in (folder / "work" / "hospital" / "Patient.ndjson").read_text().splitlines():
        patient = json.loads(line)
        words |= {n["family"].encode() for n in patient.get("name", [])
                  if len(n.get("family", "")) > 4}
        words |= {i["value"].encode() for i in patient.get("identifier", [])
                  if len(i.get("value", "")) > 5}
    return words


def plaintext_left(folder: Path) -> list[str]:
    """Files of the drill's folder holding a patient's name or identifier in plaintext,
    but the EHR stand-in's own data."""
    words = patient_words(folder)
    ehr = (folder / "work" / "hospital", folder / "work" / "sandbox")
    found = []
    for path in folder.rglob("*"):
        if not path.is_file() or any(path.is_relative_to(e) for e in ehr):
            continue
        data = path.read_bytes()
        found += [f"{path.relative_to(folder)}: {w.decode()}" for w in words if w in data]
    return found


def stopped(report: dict) -> bool:
    """The sandbox the drill started is no longer listening (actions.finish ran)."""
    urls = [e["value"] for e in report["evidence"] if e["key"] == "sandbox_url"]
    assert urls, "the drill names its sandbox"
    where = urlparse(urls[0])
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((where.hostname, where.port)) != 0


SHIPPED_FAULTS: dict[str, set[str]] = {}


@pytest.mark.parametrize("name", ["planned-cutover", "outage-4h", "ransomware-72h"])
def test_a_shipped_drill_runs_headless_on_the_demo_hospital(tmp_path, name):
    folder = tmp_path / "report"
    status, report, output = run(quick(name, tmp_path), folder)
    assert status == 0, output
    assert report["outcome"]["status"] == "passed" and report["outcome"]["decision"] == \
        "go live" or report["outcome"]["decision"] == "completed", report["outcome"]
    main = [s for s in report["steps"] if not s["path"]]
    assert all(s["status"] == "done" for s in main), \
        [(s["id"], s["status"], s["detail"]) for s in main if s["status"] != "done"]
    faults = {f["fault"]: f for f in report["faults"]}
    assert all(f["handled"] for f in faults.values()), faults
    SHIPPED_FAULTS[name] = set(faults)
    figures = report["figures"]
    assert figures["rpo_seconds"] >= 0 and figures["rto_seconds"] >= 0
    assert figures["units_ready"] == figures["units_total"] == 2
    assert figures["backentry_entries"] > 0 and figures["backentry_pages"] > 0
    assert figures["backentry_rows_invalid"] == 1  # the seeded unknown initials
    assert figures["bundles_submitted"] > 0 and figures["submit_reject_share"] == 0
    assert figures["errors_caught"] == figures["errors_seeded"] > 0  # every one, by a check
    assert report["rto"]["measured"] and report["rpo"]["measured"]
    probes = report["steady_state"]["probes"]
    assert {p["when"] for p in probes} == {"before", "after"} and all(p["held"] for p in probes)
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    assert stopped(report)
    assert not plaintext_left(folder)


def test_the_faults_the_shipped_drills_leave_out_are_handled_too(tmp_path):
    """wrong-key and expired-key (no shipped drill names them), and every fault of
    section 2 named by one drill or another."""
    text = (SHIPPED / "outage-4h.toml").read_text()
    text = re.sub(r'params = \{ op = "up" \}', 'params = { op = "up", patients = 12 }', text,
                  count=1)
    text = text.replace("workstations = 4", 'workstations = 2, units = ["4W", "5E"]')
    text = text.replace('fault = "corrupt-snapshot"', 'fault = "wrong-key"')
    text = text.replace('fault = "printer-offline"', "")
    extra = '''
[[phases.steps]]
id = "rotated-key"
owner = "IT security"
expect = "20m"
action = "readiness"
fault = "expired-key"
'''
    head, tail = text.split('[[phases.steps]]\nid = "print-packets"', 1)
    text = head + extra + '\n[[phases.steps]]\nid = "print-packets"' + tail
    text = text[:text.index('[[phases]]\nid = "recovery"')]  # the faults are before it
    text = re.sub(r"(?s)\[\[criteria\]\].*", "", text)
    text += '\n[[rollback_paths]]\nid = "stand-down"\n[[rollback_paths.steps]]\n' \
            'id = "stand-down"\nowner = "HIM"\nexpect = "5m"\naction = "rollback"\n'
    status, report, output = run(write_script(tmp_path, text), tmp_path / "report")
    assert status == 0, output
    handled = {f["fault"] for f in report["faults"] if f["handled"]}
    assert {"wrong-key", "expired-key"} <= handled
    shipped = set(re.findall(r'^fault = "([a-z0-9-]+)"', "".join(
        p.read_text() for p in SHIPPED.glob("*.toml")), re.M))
    assert shipped | handled == set(FAULTS), set(FAULTS) - shipped - handled
    for name, faults in SHIPPED_FAULTS.items():  # the drills run in this worker: each
        assert faults == set(re.findall(  # fault its script names was reported handled
            r'^fault = "([a-z0-9-]+)"', (SHIPPED / f"{name}.toml").read_text(), re.M))


def test_a_drill_whose_criteria_trip_rolls_back(tmp_path):
    """A migration gone wrong (charts without their medications, birth dates moved): the
    parity criteria trip and the drill takes its rollback path, exit 1."""
    text = '''
name = "a cutover whose parity fails"
seed = 5
rollback = "back"

[[phases]]
id = "main"

[[phases.steps]]
id = "up"
owner = "IT"
expect = "10m"
action = "sandbox"
params = { op = "up", patients = 6 }

[[phases.steps]]
id = "parity"
owner = "Migration lead"
expect = "45m"
action = "parity"
params = { target = "hospital", defects = 1 }

[[phases.steps]]
id = "live"
owner = "CIO"
expect = "5m"
action = "go-live"

[[criteria]]
name = "identity mismatches above 0.5%"
when = "identity_mismatch_share > 0.005"

[[rollback_paths]]
id = "back"
[[rollback_paths.steps]]
id = "undo"
owner = "CIO"
expect = "5m"
action = "rollback"
params = { to = "the legacy EHR" }
'''
    status, report, output = run(write_script(tmp_path, text), tmp_path / "report")
    assert status == 1, output
    assert report["outcome"]["rollback_path"] == "back"
    assert report["outcome"]["decision"] == "roll back"
    tripped = [c for c in report["criteria"] if c["tripped"]]
    assert tripped and tripped[0]["name"] == "identity mismatches above 0.5%"
    assert {s["id"]: s["status"] for s in report["steps"]}["live"] == "skipped"
    assert stopped(report)


def test_a_script_wrong_for_a_real_action_is_refused_with_its_line(tmp_path):
    text = (SHIPPED / "planned-cutover.toml").read_text().replace(
        'params = { mode = "full" }', 'params = { mode = "full", retires = 2 }')
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "retires" in t)
    path = write_script(tmp_path, text)
    actions()
    result = CliRunner().invoke(cli, ["drill", "run", "--headless", str(path),
                                      "--report", str(tmp_path / "r")])
    assert result.exit_code == 3
    assert f"{path}:{line}: " in result.output and "retires" in result.output
    assert not (tmp_path / "r" / "work" / "hospital").exists()  # nothing ran


def test_workstation_keys_made_side_by_side_open_with_the_passphrase(tmp_path):
    """snapshots.keys.create_identities_kept: each file is a standard passphrase-protected
    age identity (scrypt, the usual work factor) holding the identity kept in memory."""
    from snapshots.keys import create_identities_kept, load_identity

    made = create_identities_kept(tmp_path, ["ws-4W-1", "ws-4W-2", "ws-5E-1"], "a passphrase")
    assert [i.name for i in made] == ["ws-4W-1", "ws-4W-2", "ws-5E-1"]
    for identity in made:
        path = tmp_path / f"{identity.name}.age"
        assert path.read_bytes().startswith(b"age-encryption.org/v1\n-> scrypt ")
        assert (path.stat().st_mode & 0o077) == 0
        opened = load_identity(path, "a passphrase")
        assert opened.recipient == identity.recipient == \
            (tmp_path / f"{identity.name}.age.pub").read_text().strip()
    assert len({i.recipient for i in made}) == 3
