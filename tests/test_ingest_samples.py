"""Ingest of FHIR data nobody here wrote: Synthea bundles and NDJSON, HL7 examples, and the
HL7 validator's known-invalid cases."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapshots import chart
from snapshots.pipeline import build_database
from snapshots.settings import BuildSettings
from tests.shared import SAMPLES, SYNTHEA, latest_inpatient_in_progress

INVALID = SAMPLES / "invalid"


@pytest.fixture(scope="module")
def synthea_census(tmp_path_factory) -> tuple[Path, dict[str, str], datetime]:
    folder = tmp_path_factory.mktemp("synthea")
    expected, latest_start = {}, ""
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text())
        encounter, patient = latest_inpatient_in_progress(bundle)
        expected[patient] = encounter
        start = max(e["resource"]["period"]["start"] for e in bundle["entry"]
                    if e["resource"].get("id") == encounter)
        latest_start = max(latest_start, start)
        (folder / path.name).write_text(json.dumps(bundle))
    as_of = datetime.fromisoformat(latest_start).astimezone(UTC)
    return folder, expected, as_of


def test_synthea_bundles_ingest_into_a_census(synthea_census):
    folder, expected, as_of = synthea_census
    result = build_database(folder, BuildSettings(as_of=as_of))
    census = {r.patient_id: r.encounter_id for r in chart.census(result.conn)}
    assert census == expected
    assert result.report["census"]["complete"]
    # urn:uuid references resolved: clinical rows attach to census patients
    allergies = result.conn.execute("SELECT count(*) FROM allergies").fetchone()[0]
    problems = result.conn.execute("SELECT count(*) FROM problems").fetchone()[0]
    assert problems > 0 and allergies >= 0
    types = result.report["types"]
    assert types["Claim"]["ignored"] == types["Claim"]["read"] > 0
    assert sum(c.get("read", 0) for c in types.values()) > 4_000


def test_synthea_ndjson_and_conditional_references():
    ndjson = SAMPLES / "synthea" / "ndjson" / "sample-bulk-fhir-datasets-10-patients"
    result = build_database(ndjson, BuildSettings(encounter_status=("finished",),
                                                  encounter_class=("AMB", "IMP", "EMER")))
    assert result.report["types"]["Patient"]["read"] == 13
    assert result.conn.execute("SELECT count(*) FROM patients").fetchone()[0] > 0
    hiv = build_database(SAMPLES / "synthea" / "fhir-data-pipes-hiv",
                         BuildSettings(encounter_status=("finished",),
                                       encounter_class=("AMB", "IMP")))
    # Location?identifier=... and Practitioner?identifier=... resolve through the batch bundles
    assert hiv.conn.execute("SELECT count(*) FROM encounters WHERE attending IS NOT NULL"
                            ).fetchone()[0] > 0


EXPECTED_REASONS = {
    "bad-json-close-1.json": "malformed-json", "bad-json-close-2.json": "malformed-json",
    "bad-json-close-3.json": "malformed-json", "json-comma-bad-1.json": "malformed-json",
    "json-no-quotes-1.json": "malformed-json", "json-comments-1.json": "malformed-json",
    "patient-id-bad-1.json": "invalid-id", "patient-id-bad-2.json": "invalid-id",
    "patient-id-bad-3.json": "invalid-id", "resource-invalid-id-1.json": "invalid-id",
    "resource-invalid-eid-2.json": "oversized",
    "ai3.json": "unknown-element", "json-comments.json": "unknown-element",
    "Observation-ex-pain.json": "missing-required", "hakan-se.json": "invalid-id",
    "synthea.json": "wrong-shape", "encounter-period.json": "timestamp-indeterminate-period",
    "empty-array.json": "empty-element", "contained-resource.json": "invalid-contained-id",
    "attachment-with-invalid-binary.json": "invalid-attachment",
    "attachment-with-wrong-size.json": "invalid-attachment",
    "bundle-duplicate-id.json": "relative-fullurl", "pat-security-bad-xhtml.json":
    "unsafe-narrative", "pat-security-bad-string.json": "markup-in-text",
    "xml-bad-entities.json": "byte-order-mark", "ai4.json": "invalid-date",
    "expected.json": "not-a-resource",  # the validator's outcomes, not a resource at all
}
# Second faults the samples carry that are reported too.
ALSO = {"synthea.json": "invalid-code", "xml-bad-entities.json": "unsafe-narrative"}


def test_every_invalid_sample_is_covered():
    assert {p.name for p in INVALID.glob("*.json")} == set(EXPECTED_REASONS)


@pytest.mark.parametrize("name,reason", sorted(EXPECTED_REASONS.items()))
def test_invalid_samples_land_in_the_gap_register(tmp_path, name, reason):
    shutil.copy(INVALID / name, tmp_path / name)
    result = build_database(tmp_path, BuildSettings())
    found = {(g.reason, g.where.split("#")[0].split(":")[0]) for g in result.gaps.gaps}
    assert (reason, name) in found, found
    if name in ALSO:
        assert (ALSO[name], name) in found, found
    assert all(g.detail for g in result.gaps.gaps)  # every gap says what was wrong


def test_a_rejected_resource_names_its_other_faults_too(tmp_path):
    shutil.copy(INVALID / "hakan-se.json", tmp_path)
    (gap,) = build_database(tmp_path, BuildSettings()).gaps.gaps
    assert gap.reason == "invalid-id" and "no medication[x]" in gap.detail


def test_ai4_bad_birth_date_is_reported(tmp_path):
    shutil.copy(INVALID / "ai4.json", tmp_path)
    result = build_database(tmp_path, BuildSettings())
    assert any(g.reason == "invalid-date" and "not a date" in g.detail for g in result.gaps.gaps)


def test_hl7_examples_do_not_crash(tmp_path):
    for path in (SAMPLES / "hl7-examples").glob("*.json"):
        shutil.copy(path, tmp_path)
    result = build_database(tmp_path, BuildSettings(encounter_status=("in-progress",
                                                                      "finished")))
    assert result.report["types"]["Patient"]["read"] > 5


VALID = b'{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Ann"]}]}'


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=60), st.just(VALID),
                          st.text(max_size=40).map(str.encode)), max_size=12))
def test_malformed_ndjson_lines_are_reported_never_fatal(tmp_path, lines):
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    (tmp_path / "Patient.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    result = build_database(tmp_path, BuildSettings())
    good = sum(1 for line in lines if line == VALID)
    bad = 0
    for line in lines:
        if not line.strip() or line == VALID:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            bad += 1
            continue
        bad += not isinstance(value, dict) or "resourceType" not in value or \
            not isinstance(value.get("resourceType"), str) or not value.get("resourceType")
    reported = [g for g in result.gaps.gaps if g.reason in ("malformed-json", "not-a-resource",
                                                            "malformed-active-encounter")]
    assert len(reported) >= bad
    assert all(":" in g.where for g in reported)  # file:line
    assert result.report["types"].get("Patient", {}).get("read", 0) >= good
