"""The hash-chained audit log: appends, tamper detection, two writers, FHIR export."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from snapshots.audit import AuditItem, AuditLog, export_fhir, head_path, verify
from tests.shared import SHARED

SCHEMA = SHARED / "fhir-r4" / "fhir.schema.json"


def _filled(tmp_path: Path, n: int = 5) -> Path:
    log = AuditLog(tmp_path / "audit.log", host="ws-4W-1")
    log.append("unlock", "badge 4411", snapshot_id="snap-1")
    log.append("chart-open", "badge 4411", patient_id="p1", snapshot_id="snap-1")
    log.append("break-glass", "badge 4411", patient_id="p1", snapshot_id="snap-1",
               detail="Patient in crisis, need psych history")
    for i in range(n - 3):
        log.append("chart-open", "badge 4411", patient_id=f"p{i + 2}", snapshot_id="snap-1")
    return log.path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_chain_is_intact_and_linked(tmp_path):
    path = _filled(tmp_path)
    result = verify(path)
    assert result.ok and result.entries == 5, str(result)
    entries = [json.loads(x) for x in _lines(path)]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:], strict=False))
    assert entries[2]["detail"] == "Patient in crisis, need psych history"


def test_a_batch_is_chained_like_single_appends(tmp_path):
    path = _filled(tmp_path, n=3)
    written = AuditLog(path).append_many("print", "rn.kim", [
        AuditItem("p1", "snap-1", "mar DT-AAAAAAAAAA"), AuditItem("p2", "snap-1", "note")])
    AuditLog(path).append("lock", "rn.kim")
    result = verify(path)
    assert result.ok and result.entries == 6, str(result)
    entries = [json.loads(x) for x in _lines(path)]
    assert [e["seq"] for e in written] == [4, 5]
    assert entries[4]["prev"] == entries[3]["hash"] and entries[5]["prev"] == entries[4]["hash"]
    assert entries[3]["patient_id"] == "p1" and entries[4]["detail"] == "note"
    assert AuditLog(path).append_many("print", "rn.kim", []) == []


def test_unknown_action_is_refused(tmp_path):
    with pytest.raises(ValueError):
        AuditLog(tmp_path / "a.log").append("delete-everything", "x")


def test_edited_entry_is_found(tmp_path):
    path = _filled(tmp_path)
    lines = _lines(path)
    lines[1] = lines[1].replace('"p1"', '"p9"')
    path.write_text("".join(lines))
    result = verify(path)
    assert not result.ok
    assert "line 2" in result.where and "edited" in result.why


def test_edited_and_rehashed_entry_breaks_the_chain(tmp_path):
    from snapshots.audit import entry_hash

    path = _filled(tmp_path)
    lines = _lines(path)
    entry = json.loads(lines[1])
    entry["user"] = "someone else"
    entry["hash"] = entry_hash(entry)
    lines[1] = json.dumps(entry) + "\n"
    path.write_text("".join(lines))
    result = verify(path)
    assert not result.ok and "line 3" in result.where and "chain" in result.why


def test_deleted_entry_is_found(tmp_path):
    path = _filled(tmp_path)
    lines = _lines(path)
    del lines[2]
    path.write_text("".join(lines))
    result = verify(path)
    assert not result.ok and "line 3 (seq 4)" in result.where and "missing" in result.why


def test_reordered_entries_are_found(tmp_path):
    path = _filled(tmp_path)
    lines = _lines(path)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_text("".join(lines))
    result = verify(path)
    assert not result.ok and "line 2" in result.where and "reordered" in result.why


def test_a_crash_between_entry_and_witness_is_not_called_tampering(tmp_path):
    path = _filled(tmp_path)
    head_before = head_path(path).read_text()
    AuditLog(path).append("lock", "badge 4411", detail="idle")
    head_path(path).write_text(head_before)  # as if killed after the fsync, before the witness
    result = verify(path)
    assert result.ok and "one entry behind" in result.why, str(result)
    AuditLog(path).append("unlock", "badge 4411")
    assert verify(path).ok and not verify(path).why


def test_a_witness_two_entries_behind_is_tampering(tmp_path):
    path = _filled(tmp_path)
    head_before = head_path(path).read_text()
    AuditLog(path).append("lock", "badge 4411")
    AuditLog(path).append("unlock", "badge 4411")
    head_path(path).write_text(head_before)
    assert not verify(path).ok


def test_truncated_log_is_found(tmp_path):
    path = _filled(tmp_path)
    lines = _lines(path)
    path.write_text("".join(lines[:3]))
    result = verify(path)
    assert not result.ok and "truncated" in result.why and "4..5" in result.why


def test_cut_off_last_line_is_found(tmp_path):
    path = _filled(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-20])
    result = verify(path)
    assert not result.ok and "cut off" in result.why


def test_missing_head_witness_is_reported(tmp_path):
    path = _filled(tmp_path)
    head_path(path).unlink()
    assert not verify(path).ok


def _writer(path: str, who: str, count: int) -> None:
    log = AuditLog(Path(path))
    for i in range(count):
        log.append("print", who, patient_id=f"{who}-{i}")


def test_two_processes_appending_keep_one_chain(tmp_path):
    path = tmp_path / "audit.log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 40)) for w in ("tui", "print")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(20)
    assert all(p.exitcode == 0 for p in procs)
    result = verify(path)
    assert result.ok and result.entries == 80, str(result)


def test_fhir_export_validates_against_schema_and_models(tmp_path):
    from fhir.resources.R4B.bundle import Bundle

    path = _filled(tmp_path)
    AuditLog(path).append("unlock-failed", "badge 12")
    AuditLog(path).append("lock", "badge 4411")
    out = tmp_path / "audit.json"
    assert export_fhir(path, out).count == 7
    data = json.loads(out.read_text())
    Bundle.model_validate(data)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(data, schema)
    events = [e["resource"] for e in data["entry"]]
    assert events[0]["subtype"][0]["display"] == "Login"
    assert events[2]["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
    assert events[5]["outcome"] == "4"


def test_cli_verify_and_export(tmp_path):
    path = _filled(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", "--log", str(path)])
    # a log browse and print wrote themselves: not called intact, said what it is
    assert ok.exit_code == 0 and "plain chain only: 5 entries" in ok.output
    assert "intact" not in ok.output
    out = tmp_path / "b.json"
    exp = runner.invoke(cli, ["audit", "export", "--log", str(path), "--fhir", str(out)])
    assert exp.exit_code == 0 and out.exists()
    lines = _lines(path)
    path.write_text("".join(lines[:2] + lines[3:]))
    bad = runner.invoke(cli, ["audit", "verify", "--log", str(path)])
    assert bad.exit_code == 1 and "line 3" in bad.output
    missing = runner.invoke(cli, ["audit", "verify", "--log", str(tmp_path / "none.log")])
    assert missing.exit_code == 1 and "Traceback" not in missing.output


@pytest.mark.parametrize("head", ["[1]\n", '{"seq": "5", "hash": 3}\n', "null\n", "{}\n"])
def test_a_head_witness_of_the_wrong_shape_is_damaged_not_a_crash(tmp_path, head):
    path = _filled(tmp_path)
    head_path(path).write_text(head)
    result = verify(path)
    assert not result.ok and result.where == str(head_path(path)) and "damaged" in result.why


def _validate(data: dict) -> None:
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(data)
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))


def test_every_action_exports_as_valid_fhir(tmp_path):
    from snapshots.audit import ACTIONS

    log = AuditLog(tmp_path / "audit.log", host="ws-4W-1")
    for action in ACTIONS:
        log.append(action, "badge 4411", patient_id="p1", snapshot_id="snap-1",
                   detail=f"{action} — détail")
    out = tmp_path / "all.json"
    assert export_fhir(log.path, out).count == len(ACTIONS)
    assert out.stat().st_mode & 0o077 == 0  # patient ids and reasons: owner only
    data = json.loads(out.read_text())
    _validate(data)
    assert [e["resource"]["subtype"][0]["code"] for e in data["entry"]][:3] == \
        ["110122", "110122", "read"]


def test_export_of_a_damaged_log_leaves_out_only_what_is_not_an_entry_and_says_so(tmp_path):
    path = _filled(tmp_path)
    lines = _lines(path)
    lines[1] = "[1, 2]\n"  # an entry overwritten by something that is no entry
    lines[3] = lines[3].replace('"chart-open"', '"hack"')
    path.write_text("".join(lines) + '{"seq": 6, "ti')  # and a last line cut off
    out = tmp_path / "e.json"
    result = CliRunner().invoke(cli, ["audit", "export", "--log", str(path), "--fhir",
                                      str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "line 2 not exported" in result.output and "line 4 not exported" in result.output
    assert "line 6 not exported" in result.output and "NOT intact at line 2" in result.output
    data = json.loads(out.read_text())
    _validate(data)
    assert [e["resource"]["entity"][-1]["detail"][0]["valueString"] for e in data["entry"]] \
        == ["1", "3", "5"]


def test_an_entry_chained_and_hashed_but_not_of_the_toolkit_is_refused(tmp_path):
    from snapshots.audit import entry_hash

    path = _filled(tmp_path, n=3)
    lines = _lines(path)
    last = json.loads(lines[-1])
    forged = {**last, "seq": 4, "action": "chart-open", "time": "yesterday", "prev": last["hash"]}
    forged["hash"] = entry_hash(forged)
    path.write_text("".join(lines) + json.dumps(forged) + "\n")
    head_path(path).write_text(json.dumps({"seq": 4, "hash": forged["hash"]}) + "\n")
    result = verify(path)
    assert not result.ok and "line 4" in result.where and "time" in result.why


def test_cli_says_where_a_missing_log_is_in_one_line(tmp_path):
    for command in (["verify"], ["export", "--fhir", str(tmp_path / "o.json")]):
        result = CliRunner().invoke(cli, ["audit", *command, "--log", str(tmp_path / "no.log")])
        assert result.exit_code == 1 and result.output.count("\n") == 1
        assert f"{tmp_path / 'no.log'}: no audit log at this path" in result.output
