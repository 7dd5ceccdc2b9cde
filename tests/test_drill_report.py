"""`downtime drill run --headless`: the exit status says how the drill ended, and the
report folder holds the journal, report.json with every section, and a PDF that renders."""

from __future__ import annotations

import json

import pypdfium2
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from tests.drill_helpers import actions, script, step, write_script

SECTIONS = {"schema", "drill", "outcome", "steady_state", "steps", "timeline", "criteria",
            "faults", "rto",
            "rpo", "backentry", "evidence", "gates", "figures"}


def drill_text(share: float, *, fault_handled: bool = True) -> str:
    return script(
        step("write", "t-write"),
        step("outage", "t-measure", 'params = { outage_started_at = 0, '
                                    'data_age_at_failure_seconds = 30 }'),
        step("inbox", "t-fault", f'fault = "corrupt-file"\nparams = {{ handled = '
                                 f'{str(fault_handled).lower()} }}'),
        step("ready", "t-measure", f'params = {{ units_ready_at = 0, units_ready = 2, '
                                   f'units_total = 2, identity_mismatch_share = {share}, '
                                   'backentry_entries = 41 }'),
        step("sign", "gate", 'params = { role = "CMIO", signed_by = "Dr. A. Osei" }',
             owner="CMIO"),
        step("live", "go-live"),
        criteria='[[criteria]]\nname = "identity mismatches"\n'
                 'when = "identity_mismatch_share > 0.01"\n',
        extra="time_scale = 60\n")


def pdf_text(path) -> str:
    pdf = pypdfium2.PdfDocument(path)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


@pytest.mark.parametrize("share, handled, status, words", [
    (0.0, True, 0, "PASSED (exit 0): go live"),
    (0.2, True, 1, "ROLLED BACK (exit 1): roll back"),
    (0.0, False, 2, "FAILED (exit 2): stopped"),
])
def test_drill_run_headless_exit_status_and_report(tmp_path, share, handled, status, words):
    actions()
    path = write_script(tmp_path, drill_text(share, fault_handled=handled))
    folder = tmp_path / "report"
    result = CliRunner().invoke(cli, ["drill", "run", "--headless", str(path),
                                      "--report", str(folder)])
    assert result.exit_code == status, result.output
    data = json.loads((folder / "report.json").read_text())
    assert set(data) == SECTIONS
    assert data["outcome"]["exit_status"] == status
    assert [s["id"] for s in data["steps"]][:2] == ["write", "outage"]
    assert data["rpo"] == {"measured": True, "seconds": 1800.0,
                           "outage_started": data["rpo"]["outage_started"]}
    assert data["faults"][0]["handled"] is handled
    assert data["evidence"][0]["key"] == "sha256"
    assert (folder / "journal.jsonl").exists()
    text = pdf_text(folder / "report.pdf")
    assert words in text
    for heading in ("Timeline", "Planned against actual", "Rollback criteria",
                    "Faults injected", "Gates and sign-offs", "Evidence", "RTO", "RPO"):
        assert heading in text
    if status == 0:
        assert data["rto"]["measured"] and data["rto"]["units_ready"] == 2
        assert data["backentry"]["entries"] == 41 or data["backentry"]["steps"] == []
        assert data["gates"][0]["name"] == "Dr. A. Osei" and "Dr. A. Osei" in text
        assert data["outcome"]["decision"] == "go live"
    if status == 1:
        assert data["outcome"]["rollback_path"] == "back"
        assert data["criteria"][0]["tripped"] and "TRIPPED" in text
    if status == 2:
        assert "NOT HANDLED" in text
