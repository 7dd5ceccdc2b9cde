"""The `downtime` CLI end to end on real key files: keys, build, verify, info, report; and no
plaintext patient data in any file the build, verify and open steps wrote."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from downtime.cli import cli
from snapshots.keys import load_identity, load_public_key
from snapshots.sealed import open_snapshot
from tests.shared import SYNTHEA, latest_inpatient_in_progress

PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site with keys for two units, a Synthea source with a census, and a config."""
    root = tmp_path_factory.mktemp("site")
    source = root / "source"
    source.mkdir()
    names, mrns, latest = [], [], ""
    for path in sorted(SYNTHEA.glob("*.json"))[:6]:
        bundle = json.loads(path.read_text())
        encounter, _ = latest_inpatient_in_progress(bundle)
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] == "Patient":
                names.append(r["name"][0]["family"])
                mrns += [i["value"] for i in r.get("identifier", []) if
                         i.get("type", {}).get("coding", [{}])[0].get("code") == "MR"]
            if r.get("id") == encounter:
                latest = max(latest, r["period"]["start"])
        (source / path.name).write_text(json.dumps(bundle))
    runner = CliRunner()
    env = {"DOWNTIME_PASSPHRASE": PASS}
    result = runner.invoke(cli, ["keys", "init", "--dir", str(root / "keys"), "--units",
                                 "A,B"], env=env)
    assert result.exit_code == 0, result.output
    table = result.output.split("add this to your config:\n", 1)[1]
    (root / "downtime.toml").write_text(
        '[paths]\nsource = "source"\nstore = "store"\nkeys = "keys"\n'
        'identity = "keys/pharmacy.age"\ntrusted_builder_key = "keys/builder.pub"\n'
        f'signing_key = "keys/builder.pem"\n[build]\nas_of = "{latest}"\n{table}')
    return root, names, mrns, env


def run(site, *args, ok=True):
    root, _, _, env = site
    result = CliRunner().invoke(cli, ["--config", str(root / "downtime.toml"), *args], env=env)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_build_verify_info_report(site):
    root = site[0]
    built = run(site, "snapshot", "build", "--json")
    data = json.loads(built.output)
    assert data["report"]["census"]["in_snapshot"] == 6
    house = Path(data["written"][0]["path"])
    assert "OK" in run(site, "snapshot", "verify", str(house)).output
    verified = json.loads(run(site, "snapshot", "verify", str(house), "--identity",
                              str(root / "keys" / "escrow.age"), "--json").output)
    assert verified["ok"] and "decrypt" in verified["checks"]
    info = json.loads(run(site, "snapshot", "info", str(house), "--json").output)
    assert info["scope"] == "house" and info["counts"]["patients"] == 6
    report = json.loads(run(site, "snapshot", "report", str(house), "--gaps", "--json").output)
    assert report["report"]["census"]["complete"]


def test_verify_failures_are_one_line_and_nonzero(site, tmp_path):
    root = site[0]
    built = json.loads(run(site, "snapshot", "build", "--json").output)
    house = Path(built["written"][0]["path"])
    bad = tmp_path / "bad.dtsnap"
    bad.write_bytes(house.read_bytes()[:-10])
    result = run(site, "snapshot", "verify", str(bad), ok=False)
    assert result.exit_code == 1 and "truncated" in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
    wrong = CliRunner().invoke(cli, ["--config", str(root / "downtime.toml"), "snapshot",
                                     "verify", str(house), "--identity",
                                     str(root / "keys" / "escrow.age")],
                               env={"DOWNTIME_PASSPHRASE": "wrong"})
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output
    missing = run(site, "snapshot", "info", str(tmp_path / "nope.dtsnap"), ok=False)
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_bad_source_and_bad_config_are_clear(site, tmp_path):
    result = run(site, "snapshot", "build", "--source", str(tmp_path / "nothing"), ok=False)
    assert result.exit_code == 1 and "does not exist" in result.output
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[paths\n")
    bad = CliRunner().invoke(cli, ["--config", str(cfg), "snapshot", "info", "x"])
    assert bad.exit_code == 1 and "not valid TOML" in bad.output


def test_per_unit_and_no_plaintext_on_disk(site, monkeypatch, tmp_path):
    """Scan every file the build, verify and open steps wrote or changed, and the temp dir."""
    root, names, mrns, _ = site
    tmp = tmp_path / "scan-tmp"  # under pytest's own tmp: removed with it
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    before = _fingerprints(root) | _fingerprints(tmp)
    out = root / "store-scan"
    run(site, "snapshot", "build", "--out", str(out), "--per-unit")
    run(site, "snapshot", "build", "--out", str(out), "--per-unit")  # rewrites .sequence
    house = sorted(out.glob("house-*.dtsnap"))[-1]
    run(site, "snapshot", "verify", str(house), "--identity", str(root / "keys" / "escrow.age"))
    opened = open_snapshot(house, load_public_key(root / "keys" / "builder.pub"),
                           [load_identity(root / "keys" / "pharmacy.age", PASS)])
    assert opened.db.execute("SELECT count(*) FROM patients").fetchone()[0] == 6
    after = _fingerprints(root) | _fingerprints(tmp)
    written = {path for path, _ in after - before}  # new files and files changed in place
    assert any(p.suffix == ".dtsnap" for p in written)
    assert out / ".sequence" in written
    needles = [n.encode() for n in names + mrns if len(n) >= 5]
    assert needles
    for path in written:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle!r} in plaintext in {path}"


def _fingerprints(root: Path) -> set[tuple[Path, tuple[int, int, int]]]:
    """(path, (size, mtime, inode)) of every file: a file changed in place shows up too."""
    found = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            path = Path(d) / f
            if path.suffix == ".json" and "source" in d:
                continue
            st = path.stat()
            found.add((path, (st.st_size, st.st_mtime_ns, st.st_ino)))
    return found


def test_incomplete_census_writes_the_snapshot_and_exits_2(site, tmp_path):
    """A scheduler alerts on exit 2; the snapshot and the report are still written."""
    root = site[0]
    source = tmp_path / "source"
    source.mkdir()
    for n, path in enumerate(sorted((root / "source").glob("*.json"))[:3]):
        bundle = json.loads(path.read_text())
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] == "Encounter" and r["status"] == "in-progress":
                if n == 0:
                    r["subject"] = {"reference": 5}  # structurally wrong
                elif n == 1:
                    r["id"] = "bad id!"  # fails the checks
        (source / path.name).write_text(json.dumps(bundle))
    out = tmp_path / "store"
    result = run(site, "snapshot", "build", "--source", str(source), "--out", str(out),
                 ok=False)
    assert result.exit_code == 2, result.output
    assert "census INCOMPLETE" in result.output and "Traceback" not in result.output
    assert list(out.glob("house-*.dtsnap"))
    data = json.loads(run(site, "snapshot", "build", "--source", str(source), "--out",
                          str(out), "--json", ok=False).output)
    assert data["exit_status"] == 2 and not data["census_complete"]
    assert data["report"]["census"]["excluded"]
    help_text = run(site, "snapshot", "build", "--help").output
    assert "Exit status" in help_text and "2" in help_text


def test_strict_counts_error_gaps(site, tmp_path):
    root = site[0]
    source = tmp_path / "source"
    source.mkdir()
    path = sorted((root / "source").glob("*.json"))[0]
    (source / path.name).write_text(path.read_text())
    (source / "Observation.ndjson").write_text('{"resourceType": "Observation", "id": "o1"}\n')
    ok = run(site, "snapshot", "build", "--source", str(source), "--out", str(tmp_path / "s"))
    assert "census INCOMPLETE" not in ok.output
    strict = run(site, "snapshot", "build", "--source", str(source), "--out",
                 str(tmp_path / "s"), "--strict", ok=False)
    assert strict.exit_code == 2 and "--strict" in strict.output


def test_json_commands_report_errors_as_json(site, tmp_path):
    root = site[0]
    built = json.loads(run(site, "snapshot", "build", "--json").output)
    house = built["written"][0]["path"]
    wrong = CliRunner().invoke(cli, ["--config", str(root / "downtime.toml"), "snapshot",
                                     "verify", house, "--identity",
                                     str(root / "keys" / "escrow.age"), "--json"],
                               env={"DOWNTIME_PASSPHRASE": "wrong"})
    assert wrong.exit_code == 1
    assert json.loads(wrong.output)["reason"] == "wrong-passphrase"
    for args in (["snapshot", "info", str(tmp_path / "nope.dtsnap"), "--json"],
                 ["snapshot", "report", str(tmp_path / "nope.dtsnap"), "--json"],
                 ["snapshot", "build", "--source", str(tmp_path / "none"), "--json"]):
        result = run(site, *args, ok=False)
        body = json.loads(result.output)
        assert result.exit_code == 1 and body["ok"] is False and body["message"], args
    report = run(site, "snapshot", "report", house, "--trusted-key",
                 str(root / "keys" / "builder.pub"), "--json")
    assert json.loads(report.output)["report"]["census"]["complete"]


def test_unwritable_out_is_one_line(site, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run(site, "snapshot", "build", "--out", str(blocker / "store"), ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(blocker / "store") in result.output and result.output.count("\n") == 1


@pytest.mark.parametrize("text,key", [
    ('paths = "x"\n', "[paths]"), ("thresholds = 3\n", "[thresholds]"),
    ("recipients = 3\n", "[recipients]"), ("[thresholds]\nstale_minutes = 'soon'\n",
                                           "thresholds.stale_minutes"),
    ("[paths]\nstore = 5\n", "paths.store"),
    ("[threshold]\nstale_minutes = 5\n", "unknown key(s) at the top level: threshold"),
    ("[thresholds]\nstale_minute = 5\n", "unknown key(s) in [thresholds]: stale_minute"),
])
def test_config_tables_of_the_wrong_type(tmp_path, text, key):
    from downtime.config import ConfigError, load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(cfg) in str(err.value) and key in str(err.value)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "snapshot", "info", "x"])
    assert result.exit_code == 1 and "Traceback" not in result.output


@pytest.mark.parametrize("table", ["[recipients]\nunits = 3\n",
                                   "[recipients]\nescrow = [3]\n"])
def test_recipients_of_the_wrong_type(site, tmp_path, table):
    root = site[0]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[paths]\nsource = "{root / "source"}"\nsigning_key = '
                   f'"{root / "keys" / "builder.pem"}"\n{table}')
    result = CliRunner().invoke(cli, ["--config", str(cfg), "snapshot", "build", "--out",
                                      str(tmp_path / "s")], env=site[3])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "[recipients]" in result.output and str(cfg) in result.output


@pytest.mark.parametrize("table,says", [('vitals_hours = "x"', "[build] vitals_hours"),
                                        ("bogus = 1", "bogus"),
                                        ('as_of = "soon"', "[build] as_of"),
                                        ("vitals_hours = -4", "greater than 0"),
                                        ("labs_days = 0", "greater than 0"),
                                        ("notes_days = true", "[build] notes_days"),
                                        ("pool_size = 2.5", "whole number"),
                                        ("downtime_range_start = -1", "0 or more"),
                                        ('downtime_mrn_prefix = ""', "non-empty")])
def test_build_settings_errors_name_the_file(tmp_path, table, says):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[build]\n{table}\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "snapshot", "build", "--source",
                                      str(tmp_path), "--out", str(tmp_path / "s")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(cfg) in result.output and says in result.output


def test_info_on_a_manifest_of_wrong_types_is_one_line(site, tmp_path):
    built = json.loads(run(site, "snapshot", "build", "--json").output)
    data = Path(built["written"][0]["path"]).read_bytes()
    head, rest = data.split(b"\n", 1)
    envelope = json.loads(head)
    envelope["manifest"].update(counts=[], units=5)
    bad = tmp_path / "bad.dtsnap"
    bad.write_bytes(json.dumps(envelope).encode() + b"\n" + rest)
    text = run(site, "snapshot", "info", str(bad), ok=False)
    assert text.exit_code == 1 and text.output.count("\n") == 1
    assert "not a snapshot" in text.output and "malformed manifest" in text.output
    body = json.loads(run(site, "snapshot", "info", str(bad), "--json", ok=False).output)
    assert body["reason"] == "not-a-snapshot" and body["file"] == str(bad)


def test_report_of_a_snapshot_without_a_build_report(site, tmp_path):
    """A snapshot not made by `snapshot build` (no stored report) is said so, not a crash."""
    from snapshots import sealed
    from snapshots.keys import load_signing_key, read_recipient
    from tests.factory import chart_db  # a canonical database with no build_report in meta

    root = site[0]
    path = tmp_path / "plain.dtsnap"
    sealed.seal(chart_db(), path, scope="unit:4W", sequence=1, as_of="2026-11-24T14:05:00Z",
                source="t", counts={}, recipients=[read_recipient(root / "keys" /
                                                                  "pharmacy.age.pub")],
                signing_key=load_signing_key(root / "keys" / "builder.pem", PASS))
    result = run(site, "snapshot", "report", str(path))
    assert "no build report" in result.output and "Traceback" not in result.output


def test_a_config_that_is_not_text_is_one_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\xff\xfe[paths]\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "agent", "status"])
    # a monitoring check that cannot run is UNKNOWN (3), by the plugin convention
    assert result.exit_code == 3 and result.exception.__class__ is SystemExit
    assert str(cfg) in result.output and "not UTF-8" in result.output
    assert result.output.count("\n") == 1


@pytest.mark.parametrize("entry,says", [
    ('escrow = ["age1notreal"]', "[recipients] escrow"),
    ('pharmacy = ["keys/none.pub"]', "[recipients] pharmacy"),
    ('[recipients.units]\n"../x" = []', "[recipients.units] unit code '../x'")])
def test_a_bad_recipient_names_the_config_and_its_entry(site, tmp_path, entry, says):
    root = site[0]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[paths]\nsource = "{root / "source"}"\nsigning_key = '
                   f'"{root / "keys" / "builder.pem"}"\n[recipients]\n{entry}\n')
    result = CliRunner().invoke(cli, ["--config", str(cfg), "snapshot", "build", "--out",
                                      str(tmp_path / "s")], env=site[3])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert str(cfg) in result.output and says in result.output
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").iterdir())


@pytest.mark.parametrize("args,says", [
    (["init", "--units", "ICU,../x"], "unit code '../x'"),
    (["init", "--units", " , "], "no unit codes"),
    (["init", "--units", "ICU", "--workstations", "0"], "--workstations"),
    (["identity", "../../evil"], "key name '../../evil'"),
    (["identity", ".hidden"], "key name '.hidden'"),
])
def test_keys_refuse_names_that_are_not_plain_file_names(tmp_path, args, says):
    keys = tmp_path / "keys"
    result = CliRunner().invoke(cli, ["keys", args[0], "--dir", str(keys), *args[1:]],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    assert result.exit_code in (1, 2) and says in result.output, result.output
    assert "Traceback" not in result.output
    written = list(tmp_path.rglob("*")) if tmp_path.exists() else []
    assert all(p == keys for p in written), written  # nothing written, in or out of --dir


def test_keys_list_of_an_empty_or_missing_folder_fails(tmp_path):
    for folder in (tmp_path, tmp_path / "none"):
        result = CliRunner().invoke(cli, ["keys", "list", "--dir", str(folder)])
        assert result.exit_code == 1 and str(folder) in result.output
    CliRunner().invoke(cli, ["keys", "identity", "--dir", str(tmp_path), "ws-ICU-1"],
                       env={"DOWNTIME_PASSPHRASE": PASS})
    listed = CliRunner().invoke(cli, ["keys", "list", "--dir", str(tmp_path)])
    assert listed.exit_code == 0 and listed.output.startswith("ws-ICU-1 ")


def test_a_source_that_is_not_fhir_is_refused_in_one_line(site, tmp_path):
    """A key file or the config given as --source: refused before anything is built."""
    root = site[0]
    for wrong in (root / "keys" / "escrow.age", root / "downtime.toml"):
        result = run(site, "snapshot", "build", "--source", str(wrong), "--out",
                     str(tmp_path / "s"), ok=False)
        assert result.exit_code == 1 and "not a FHIR source file" in result.output
        assert str(wrong) in result.output and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").glob("*.dtsnap"))


def test_a_source_with_no_active_inpatient_exits_2(site, tmp_path):
    """An export with nobody in it (a wrong or half-written one) is built, but the scheduler
    must hear about it, not get exit 0 for an empty snapshot."""
    empty = tmp_path / "export"
    empty.mkdir()
    (empty / "Patient.ndjson").write_text("")
    (empty / "Encounter.ndjson").write_text('{"resourceType": "Encounter", "id": "e1", '
                                            '"status": "finished"}\n')
    result = run(site, "snapshot", "build", "--source", str(empty), "--out",
                 str(tmp_path / "s"), ok=False)
    assert result.exit_code == 2 and "census EMPTY" in result.output, result.output
    data = json.loads(run(site, "snapshot", "build", "--source", str(empty), "--out",
                          str(tmp_path / "s"), "--json", ok=False).output)
    assert data["census_empty"] and data["exit_status"] == 2 and not data["ok"]


def test_gaps_of_a_unit_snapshot_say_where_the_whole_register_is(site, tmp_path):
    """A unit file's report shows the house's gap counts; --gaps must not look empty-handed."""
    from snapshots import sealed
    from snapshots.keys import load_signing_key, read_recipient
    from tests.factory import chart_db

    root = site[0]
    path = tmp_path / "unit.dtsnap"
    sealed.seal(chart_db(), path, scope="unit:4W", sequence=1, as_of="2026-11-24T14:05:00Z",
                source="t", counts={}, recipients=[read_recipient(root / "keys" /
                                                                  "pharmacy.age.pub")],
                signing_key=load_signing_key(root / "keys" / "builder.pem", PASS))
    text = run(site, "snapshot", "report", str(path), "--gaps").output
    assert "unit 4W's patients" in text and "house snapshot" in text
    assert "house snapshot" not in run(site, "snapshot", "report", str(path)).output
    body = json.loads(run(site, "snapshot", "report", str(path), "--gaps", "--json").output)
    assert body["scope"] == "unit:4W"


def test_a_bad_config_is_json_when_the_command_line_asks_for_json(tmp_path):
    """The real program (main() sees --json before the subcommand parses it)."""
    import subprocess
    import sys

    cfg = tmp_path / "c.toml"
    cfg.write_text("[paths]\nstroe = 'x'\n")
    args = [sys.executable, "-c", "from downtime.cli import main; main()", "--config",
            str(cfg), "snapshot", "info", "x.dtsnap"]
    as_json = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=60)
    body = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and body["reason"] == "config" and "stroe" in body["message"]
    prose = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert prose.returncode == 1 and prose.stdout == "" and "stroe" in prose.stderr


@pytest.mark.parametrize("columns", [None, "80"])
def test_report_keeps_resource_type_names_and_counts_whole(site, monkeypatch, columns):
    """Into a pipe (no width) and in an 80-column terminal, no name or count is cut."""
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    else:
        monkeypatch.delenv("COLUMNS", raising=False)
    text = run(site, "snapshot", "build", "--out", str(site[0] / f"store-{columns}")).output
    table = text[text.index("resource type"):text.index("Census:")]
    assert "Medication Request " in table and "Explanation Of Benefit " in table, table
    assert "…" not in table and max(map(len, table.splitlines())) <= 80, table


def test_passphrase_from_a_pipe_and_none_at_all(site):
    root = site[0]
    house = json.loads(run(site, "snapshot", "build", "--json").output)["written"][0]["path"]
    args = ["--config", str(root / "downtime.toml"), "snapshot", "verify", house, "--identity",
            str(root / "keys" / "escrow.age")]
    piped = CliRunner().invoke(cli, args, input=f"{PASS}\n", env={"DOWNTIME_PASSPHRASE": ""})
    assert piped.exit_code == 0 and "decrypt" in piped.output, piped.output
    none = CliRunner().invoke(cli, args, input="", env={"DOWNTIME_PASSPHRASE": ""})
    assert none.exit_code == 1 and none.output.count("\n") == 1
    assert "no passphrase given" in none.output and "--passphrase-file" in none.output


def test_builder_prunes_its_store_to_the_newest_few(site, tmp_path):
    """A build every 15 minutes must not fill the builder's disk: --keep N per scope, and
    the sequence goes on rising after older files are gone."""
    out = tmp_path / "store"
    sequences = []
    for _ in range(4):
        body = json.loads(run(site, "snapshot", "build", "--out", str(out), "--keep", "2",
                              "--json").output)
        sequences.append(body["written"][0]["manifest"]["sequence"])
    assert sequences == sorted(set(sequences))
    left = sorted(p.name for p in out.glob("*.dtsnap"))
    assert left == [f"house-{s:06d}.dtsnap" for s in sequences[-2:]], left
    assert [Path(p).name for p in body["pruned"]] == [f"house-{sequences[1]:06d}.dtsnap"]
    text = run(site, "snapshot", "build", "--out", str(out), "--keep", "2").output
    assert "pruned 1 older snapshot(s) (keeping 2 per scope)" in text


def test_verify_of_a_folder_is_one_line_with_its_reason(site, tmp_path):
    key = str(site[0] / "keys" / "builder.pub")
    for args in (["snapshot", "verify", str(tmp_path), "--trusted-key", key],
                 ["snapshot", "info", str(tmp_path)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert result.output == f"Error: {tmp_path}: is a folder, not a snapshot file (give " \
                                "one .dtsnap file)\n"
    body = json.loads(CliRunner().invoke(cli, ["snapshot", "info", str(tmp_path),
                                               "--json"]).output)
    assert body["reason"] == "not-a-snapshot" and body["file"] == str(tmp_path)


def test_a_new_key_needs_a_passphrase_of_twelve_characters(tmp_path):
    result = CliRunner().invoke(cli, ["keys", "identity", "--dir", str(tmp_path), "ws-4W-9"],
                                env={"DOWNTIME_PASSPHRASE": "short"})
    assert result.exit_code == 1 and "at least 12 characters" in result.output
    assert "(this one has 5)" in result.output and not list(tmp_path.iterdir())


def test_a_passphrase_file_others_can_read_is_warned_of(tmp_path):
    loose = tmp_path / "pass.txt"
    loose.write_text(PASS + "\n")
    loose.chmod(0o644)
    result = CliRunner().invoke(cli, ["keys", "identity", "--dir", str(tmp_path / "k"),
                                      "ws-4W-9", "--passphrase-file", str(loose)])
    assert result.exit_code == 0, result.output
    assert f"warning: {loose}: the passphrase file can be read by others (mode 644)" in \
        result.output and f"chmod 600 {loose}" in result.output
    loose.chmod(0o600)
    quiet = CliRunner().invoke(cli, ["keys", "identity", "--dir", str(tmp_path / "k2"),
                                     "ws-4W-9", "--passphrase-file", str(loose)])
    assert quiet.exit_code == 0 and "warning" not in quiet.output
