"""`downtime reconcile import` and `rejected` through the CLI with real keys and a staff list in
the config: the invalid rows told one line each then the summary, exit status 1, the rejected
set listed and written back as CSV for correction; the import file never copied, nothing in
plaintext in the episode."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.config import load_config
from reconcile.episode import load_episode
from snapshots.keys import create_identity, load_identity
from tests.import_files import BAD, FORMS, GOOD, STAFF_TOML, as_csv, as_json
from tests.reconcile_helpers import START

PASS = "correct horse battery"
SECRETS = [b"Okafor", b"Metoprolol", b"pat-1", b"DT900001", b"123-45-6789"]


@pytest.fixture
def site(tmp_path):
    create_identity(tmp_path / "keys", "him-1", PASS)
    (tmp_path / "downtime.toml").write_text(
        '[reconcile]\nfolder = "rec"\nidentity = "keys/him-1.age"\n' + STAFF_TOML)
    run(tmp_path, "reconcile", "open", "--start", START.isoformat(), "--units", "4W")
    config = load_config(tmp_path / "downtime.toml")
    ident = load_identity(tmp_path / "keys" / "him-1.age", PASS)
    ep = load_episode(config.reconcile.folder, None, [ident.recipient], [ident.secret], "t")
    ep.journal.append("registry-collected", {"workstation": "ws-4W-1", "source": "share",
                                             "records": FORMS, "seen": len(FORMS)}, "t")
    return tmp_path


def run(root, *args, code=0):
    result = CliRunner().invoke(cli, ["--config", str(root / "downtime.toml"), *args],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    assert result.exit_code == code, result.output
    return result.output


def test_import_tells_each_bad_row_then_the_summary_and_keeps_them(site):
    source = site / "4W-transcribed.csv"
    source.write_bytes(as_csv(GOOD + [row for row, _, _ in BAD[:4]]))
    out = run(site, "reconcile", "import", str(source), "--entered-by", "Dana Reyes", code=1)
    lines = out.splitlines()
    assert lines[0].startswith("line 12: kind: medication: one of mar, order")
    assert lines[2].startswith("line 14: written_by: initials 'ZZ' are not on the staff list")
    assert lines[4].startswith("4W-transcribed.csv: 13 rows: 9 recorded, 0 corrections, 0 "
                               "already in the episode, 4 invalid (kept encrypted as rejected "
                               "set ")
    assert lines[5] == ("Error: 4 invalid rows: correct them in the file and import it again "
                        "(`downtime reconcile rejected` lists them)")
    again = run(site, "reconcile", "import", str(source), "--entered-by", "Dana Reyes",
                "--pages-done", code=2)
    assert "--pages-done needs --by NAME" in again
    again = run(site, "reconcile", "import", str(source), "--entered-by", "Dana Reyes",
                "--pages-done", "--by", "Dana Reyes", code=1)
    assert "this file was imported before" in again
    assert "0 recorded, 0 corrections, 9 already in the episode, 4 invalid" in again
    assert "page 1 of DT-MAR3333333 not marked transcribed: line 12 of it was rejected" in again
    assert "page 1 of DT-VTL3333333 marked transcribed" in again

    listed = run(site, "reconcile", "rejected")
    set_id = listed.split()[0]
    assert "4W-transcribed.csv: 4 rows rejected, 4 still without an entry" in listed
    shown = run(site, "reconcile", "rejected", set_id[:5])
    assert "  line 15: written_by: initials 'CD' are ambiguous on unit 4W" in shown
    rows = list(csv.DictReader(io.StringIO(run(site, "reconcile", "rejected", set_id,
                                               "--csv"))))
    assert [r["written_by"] for r in rows[2:4]] == ["ZZ", "CD"]
    fixed = [dict(r, written_by="AB") for r in rows[2:4]]
    fix = site / "fix.json"
    fix.write_bytes(as_json(fixed))
    out = run(site, "reconcile", "import", str(fix), "--entered-by", "Dana Reyes")
    assert "fix.json: 2 rows: 2 recorded" in out
    assert "2 still without an entry" in run(site, "reconcile", "rejected")
    for path in (site / "rec").rglob("*"):
        if path.is_file():
            assert all(s not in path.read_bytes() for s in SECRETS), path


def test_a_file_not_of_the_format_is_one_line(site):
    bad = site / "x.csv"
    bad.write_text("kind,heartrate\nvitals,80\n")
    out = run(site, "reconcile", "import", str(bad), code=1)
    assert out.count("\n") == 1 and "heartrate are not of the format" in out
    other = site / "x.xlsx"
    other.write_text("x")
    assert "not a .csv or .json file" in run(site, "reconcile", "import", str(other), code=1)
    assert "no rejected set 'NOPE'" in run(site, "reconcile", "rejected", "NOPE", code=1)
