"""The migration parity check: a target made from the legacy export with a seeded defect of
each kind is told from it defect by defect, by patient, section and field; an identical copy
shows no difference; the sandbox as one of the sources; the command's exit status, JSON and
PDF; the [parity] table; bad input one line; no plaintext left on disk."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdfium2
import pyrage
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.config import load_config
from downtime.generator import generate
from snapshots.fhir_client import ClientSettings
from snapshots.parity import ParitySettings, ParitySource, run_parity
from snapshots.parity.sampling import draw
from snapshots.settings import BuildSettings
from tests.parity_defects import seed_defects

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
BUILD = BuildSettings(as_of=AS_OF)
AS_OF_TEXT = "2026-11-25T14:00:00Z"


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity") / "legacy"
    generate(folder, patients=30, seed=7, as_of=AS_OF)
    return folder


@pytest.fixture(scope="module")
def defective(hospital):
    target = hospital.parent / "target"
    recent = (AS_OF - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return target, seed_defects(hospital, target, recent)


@pytest.fixture(scope="module")
def defect_result(hospital, defective):
    return run_parity(ParitySource("legacy", path=hospital),
                      ParitySource("target", path=defective[0]), ParitySettings(), BUILD)


def test_an_identical_copy_shows_no_difference(hospital, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(hospital, copy)
    result = run_parity(ParitySource("legacy", path=hospital), ParitySource("target", path=copy),
                        ParitySettings(), BUILD)
    assert result.differences == [] and result.passed and result.exit_status == 0
    assert result.patients_compared == result.legacy.patients == 30
    assert result.figures["differences"] == 0 and result.figures["count_differences"] == 0
    # the sample: every stratum drawn, each sampled chart compared field by field
    assert all(n["members"] for n in result.strata.values())
    assert result.sample and all(s.fields > 0 and s.sections == 12 and s.differences == 0
                                 for s in result.sample)


@pytest.mark.parametrize("index", range(13))
def test_every_seeded_defect_is_found_and_named(hospital, defective, defect_result, index):
    defects = defective[1]
    if index >= len(defects):
        pytest.fail(f"only {len(defects)} defects seeded")
    defect = defects[index]
    found = [d for d in defect_result.differences if d.kind == defect.kind and
             d.section == defect.section and (d.patient or {}).get("id") == defect.patient
             and (not defect.field or d.field == defect.field
                  or defect.kind == "required-field")]
    assert found, f"{defect.name}: not found among {[d.text for d in defect_result.differences]}"
    patient = found[0].patient
    assert patient["name"] and patient["mrn"] and patient["bed"]
    assert patient["name"] in found[0].text and f"MRN {patient['mrn']}" in found[0].text
    assert defect.section in found[0].text or defect.kind.endswith("patient")


def test_the_words_say_what_differs(defect_result):
    texts = "\n".join(d.text for d in defect_result.differences)
    assert "'s criticality is high in legacy, low in target" in texts or \
        "'s criticality is low in legacy, high in target" in texts
    assert "(5 h later in target: a time-zone shift?)" in texts
    assert "(cut short: the target's is the start of the legacy's)" in texts
    assert "code system is ICD-10-CM in legacy, http://hl7.org/fhir/sid/icd-9-cm in target" \
        in texts
    assert "the chart of MRN MRN9999999 is in legacy, not in target" in texts  # the merge
    assert "(the target's record did not load: missing-required: MedicationRequest has no " \
           "status)" in texts
    assert "not in the target's census (no Patient with that MRN in the target)" in texts
    assert "2 charts with MRN" in texts
    assert "MedicationRequest: 222 census records in legacy" in texts


def test_figures_and_criteria(defect_result, hospital, defective):
    f = defect_result.figures
    assert f["patients_missing"] == 1 and f["patients_duplicated"] == 1
    assert f["identity_mismatches"] >= 3 and f["identity_mismatch_share"] == \
        round(f["identity_mismatches"] / 30, 6)
    assert f["lacking_medication_history"] >= 1 and f["timestamp_differences"] >= 1
    assert f["code_differences"] >= 1 and f["required_field_differences"] == 1
    assert f["count_difference.MedicationRequest"] > 0
    assert not defect_result.passed and defect_result.exit_status == 1
    loose = ParitySettings(criteria={"identity_mismatch_share": 0.5,
                                     "count_difference.Flag": 5,
                                     "count_difference.Device": 0})
    result = run_parity(ParitySource("legacy", path=hospital),
                        ParitySource("target", path=defective[0]), loose, BUILD)
    assert result.passed and [c.value for c in result.criteria][2] == 0
    strict = replace(loose, criteria={"lacking_medication_history_share": 0.0})
    result = run_parity(ParitySource("legacy", path=hospital),
                        ParitySource("target", path=defective[0]), strict, BUILD)
    assert not result.passed and result.failed()[0].figure == "lacking_medication_history_share"


def test_the_sample_follows_the_seed_and_the_sizes():
    pool = {"many_allergies": [f"p{i}" for i in range(40)], "merged": ["m1", "m2"]}
    one = draw(pool, ParitySettings(seed=1, sample_per_stratum=5))
    assert draw(pool, ParitySettings(seed=1, sample_per_stratum=5)) == one
    assert draw(pool, ParitySettings(seed=2, sample_per_stratum=5)) != one
    assert sum("many_allergies" in s for s in one.values()) == 5
    sized = draw(pool, ParitySettings(seed=1, sample_per_stratum=5,
                                      sample={"many_allergies": 12, "merged": 0}))
    assert sum("many_allergies" in s for s in sized.values()) == 12
    assert not any("merged" in s for s in sized.values())


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "downtime.toml"
    path.write_text(text)
    return path


def test_the_parity_table(tmp_path):
    config = load_config(_config(tmp_path, (
        "[parity]\nseed = 4\nsample_per_stratum = 2\n[parity.sample]\nmerged = 9\n"
        "[parity.criteria]\nidentity_mismatch_share = 0.01\ncount_difference = "
        "{ Observation = 10 }\n[parity.target]\nurl = \"http://127.0.0.1:9/fhir\"\n"
        "mode = \"search\"\n")))
    p = config.parity
    assert (p.seed, p.sample_size("merged"), p.sample_size("deceased")) == (4, 9, 2)
    assert p.criteria == {"identity_mismatch_share": 0.01, "count_difference.Observation": 10}
    assert config.parity_server("target", "http://127.0.0.1:8/x").mode == "search"
    assert config.parity_server("legacy", "http://127.0.0.1:8/x").mode == "bulk"


@pytest.mark.parametrize(("text", "words"), [
    ("[parity.criteria]\nidentity_mismatch = 0.1\n",
     "'identity_mismatch' is not a figure the parity check measures"),
    ("[parity.criteria]\ncount_difference = 3\n", "count_difference.<ResourceType>"),
    ("[parity.criteria]\ncharts_differing_share = 2\n", "is a share"),
    ("[parity.sample]\nsurgery = 3\n", "surgery: not a risk stratum"),
    ("[parity]\nseed = \"x\"\n", "seed must be a whole number"),
    ("[parity.target]\nmode = \"fast\"\n", "[parity.target]"),
])
def test_a_parity_table_that_cannot_be_used_is_one_line_and_exit_2(tmp_path, hospital, text,
                                                                   words):
    path = _config(tmp_path, text)
    result = CliRunner().invoke(cli, ["--config", str(path), "parity", "--legacy",
                                      str(hospital), "--target", str(hospital)])
    assert result.exit_code == 2, result.output
    assert words in result.output and str(path) in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("which", ["missing folder", "unreachable server"])
def test_a_source_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, hospital, which):
    bad = str(tmp_path / "no-such-export") if which == "missing folder" else \
        f"http://127.0.0.1:{_free_port()}/fhir"
    config = _config(tmp_path, "[source]\nretries = 0\ntimeout_seconds = 2\n")
    for args in (["--legacy", bad, "--target", str(hospital)],
                 ["--legacy", str(hospital), "--target", bad, "--json"]):
        result = CliRunner().invoke(cli, ["--config", str(config), "parity", *args])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
        assert bad in result.output or bad.removesuffix("/fhir") in result.output
        if "--json" in args:
            assert json.loads(result.output)["ok"] is False


def test_the_command_exit_status_json_and_reports(tmp_path, hospital, defective, monkeypatch):
    """0 for an identical copy, 1 for the defects; the JSON and PDF name the differences;
    the JSON file encrypted to escrow (refused without one), both owner-only; nothing else
    written, TMPDIR included."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = set(hospital.parent.rglob("*"))
    run = CliRunner().invoke
    same = run(cli, ["parity", "--legacy", str(hospital), "--target", str(hospital),
                     "--as-of", AS_OF_TEXT])
    assert same.exit_code == 0, same.output
    assert "PARITY PASSED: 0 difference(s)" in same.output
    out = run(cli, ["parity", "--legacy", str(hospital), "--target", str(defective[0]),
                    "--as-of", AS_OF_TEXT, "--json"])
    assert out.exit_code == 1
    body = json.loads(out.output)
    assert body["ok"] is False and body["exit_status"] == 1
    assert {d["kind"] for d in body["differences"]} >= {"missing-patient", "field",
                                                        "duplicated-patient", "missing-record"}
    report, pdf = tmp_path / "parity.json.age", tmp_path / "parity.pdf"
    no_escrow = run(cli, ["parity", "--legacy", str(hospital), "--target", str(hospital),
                          "--as-of", AS_OF_TEXT, "--report", str(report)])
    assert no_escrow.exit_code == 2 and "[recipients] escrow" in no_escrow.output
    assert not report.exists()
    escrow = pyrage.x25519.Identity.generate()
    config = tmp_path / "escrow.toml"
    config.write_text(f'[recipients]\nescrow = ["{escrow.to_public()}"]\n')
    out = run(cli, ["--config", str(config), "parity", "--legacy", str(hospital),
                    "--target", str(defective[0]), "--as-of", AS_OF_TEXT,
                    "--report", str(report), "--pdf", str(pdf), "--paper", "A4"])
    assert out.exit_code == 1 and "PARITY FAILED: 1 criterion not met" in out.output
    assert b"MRN" not in report.read_bytes()  # it names patients: encrypted, never plaintext
    assert json.loads(pyrage.decrypt(report.read_bytes(), [escrow]))["figures"] == \
        body["figures"]
    for path in (report, pdf):
        assert path.stat().st_mode & 0o777 == 0o600
    document = pypdfium2.PdfDocument(pdf)
    text = "\n".join(page.get_textpage().get_text_range() for page in document)
    assert "FAILED" in text and "time-zone shift?" in text and "criticality" in text
    assert "Page 1 of" in text
    assert set(hospital.parent.rglob("*")) == before
    assert list(scratch.rglob("*")) == []


@pytest.fixture(scope="module")
def sandbox(hospital):
    from downtime.sandbox import start_sandbox

    with start_sandbox(hospital.parent / "sandbox", load=hospital) as running:
        yield running


def as_served(hospital: Path, sandbox, into: Path) -> Path:
    """The export less what the sandbox left out (what no FHIR server would store)."""
    into.mkdir()
    gone = {where for where, _ in sandbox.loaded.left_out}
    for path in hospital.glob("*.ndjson"):
        lines = path.read_text().splitlines()
        kept = [line for n, line in enumerate(lines, 1) if f"{path}:{n}" not in gone]
        (into / path.name).write_text("".join(line + "\n" for line in kept))
    return into


def test_the_sandbox_as_the_legacy_source(hospital, defective, sandbox, tmp_path):
    """The server built through the FHIR client and the Bulk pull: no difference from the
    files it serves; the defects found against it as against the files."""
    served = as_served(hospital, sandbox, tmp_path / "served")
    server = ParitySource("legacy", server=ClientSettings(url=sandbox.base_url, retries=1,
                                                          timeout_seconds=10))
    same = run_parity(server, ParitySource("target", path=served), ParitySettings(), BUILD)
    assert same.differences == [] and same.passed
    assert same.legacy.pulled > 1000 and same.legacy.source.startswith(sandbox.base_url)
    broken = run_parity(server, ParitySource("target", path=defective[0]), ParitySettings(),
                        BUILD)
    kinds = {(d.kind, d.section, d.field) for d in broken.differences}
    assert ("field", "allergies", "criticality") in kinds
    assert ("missing-patient", "census", "") in kinds
    assert not broken.passed


def test_nothing_is_left_in_the_temp_folder_by_a_server_pull(tmp_path, hospital, sandbox,
                                                             monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = CliRunner().invoke(cli, ["parity", "--legacy", sandbox.base_url, "--target",
                                      str(hospital), "--as-of", AS_OF_TEXT, "--json"],
                                env={"DOWNTIME_CONFIG": ""})
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.output)["legacy"]["pulled"] > 0
    assert list(scratch.rglob("*")) == [] and not os.listdir(scratch)
