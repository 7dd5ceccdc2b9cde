"""The demo hospital generator: deterministic, scalable, valid FHIR, and carrying every mess."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from downtime.generator import GenerateError, generate

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
MESSES = {"multiple_mrns", "merged_chart", "deceased", "transferred", "alike_names",
          "nka_recorded", "no_allergy_record", "free_text_allergy", "legacy_hold_status",
          "restricted", "missing_required", "unknown_code_system", "reference_forms",
          "timestamp_issues", "no_code_status", "nkda_recorded", "nkda_with_food_allergy",
          "allergy_order_cross_reaction", "malformed_allergy", "order_not_loaded",
          "normalised_lab"}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    return out, generate(out, patients=40, seed=3, as_of=AS_OF)


def resources(folder: Path):
    for path in sorted(folder.glob("*.ndjson")):
        for line in path.read_text().splitlines():
            yield json.loads(line)


def test_same_seed_same_bytes_other_seed_differs(tmp_path, small):
    folder, _ = small
    generate(tmp_path / "again", patients=40, seed=3, as_of=AS_OF)
    generate(tmp_path / "other", patients=40, seed=4, as_of=AS_OF)
    for path in folder.glob("*.ndjson"):
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes()
    assert (tmp_path / "other" / "Patient.ndjson").read_bytes() != \
        (folder / "Patient.ndjson").read_bytes()


def test_counts_scale_with_patients(tmp_path, small):
    _, summary = small
    bigger = generate(tmp_path / "big", patients=120, seed=3, as_of=AS_OF)
    assert summary.inpatients == 40 and bigger.inpatients == 120
    assert 2.5 < sum(bigger.resources.values()) / sum(summary.resources.values()) < 3.5
    assert sum(summary.resources.values()) / 40 > 150  # a real chart's worth per inpatient
    encounters = [r for r in resources(tmp_path / "big") if r["resourceType"] == "Encounter"
                  and r["status"] == "in-progress" and r["class"]["code"] in
                  ("IMP", "ACUTE", "OBSENC")]
    assert len(encounters) == 120


def test_every_mess_is_present_and_findable(small):
    folder, summary = small
    assert MESSES <= set(summary.messes), MESSES - set(summary.messes)
    by_id = {(r["resourceType"], r["id"]): r for r in resources(folder)}
    ids = {rid for _, rid in by_id}
    for name, carriers in summary.messes.items():
        for carrier in carriers:
            assert carrier.split("/")[-1] in ids, (name, carrier)
    old = by_id[("Patient", "pat-merged-old")]
    assert old["active"] is False and old["link"][0]["type"] == "replaced-by"
    assert any("deceasedDateTime" in by_id[("Patient", p)] for p in summary.messes["deceased"])
    holds = [by_id[("MedicationRequest", m)] for m in summary.messes["legacy_hold_status"]]
    assert all(h["status"] == "active" and h["extension"][0]["valueCode"] == "HELD"
               for h in holds)
    names = {by_id[("Patient", p)]["name"][0]["given"][0]
             for p in summary.messes["alike_names"]}
    assert names == {"John", "Jon"}


def test_resources_are_valid_r4_except_the_deliberate_ones(small):
    folder, summary = small
    broken = set(summary.messes["missing_required"]) | set(summary.messes["malformed_allergy"]) \
        | set(summary.messes["order_not_loaded"])
    problems = []
    for r in resources(folder):
        try:
            get_fhir_model_class(r["resourceType"]).model_validate(r)
        except Exception as e:  # noqa: BLE001 - collect every failure for the message
            if r["id"] not in broken:
                problems.append(f"{r['resourceType']}/{r['id']}: {str(e)[:120]}")
    assert not problems, problems[:5]


def test_references_resolve(small):
    folder, _ = small
    known = {f"{r['resourceType']}/{r['id']}" for r in resources(folder)}
    dangling = []
    for r in resources(folder):
        for key in ("subject", "patient", "encounter", "request", "partOf"):
            ref = r.get(key, {}).get("reference") if isinstance(r.get(key), dict) else None
            if ref and ref.split("/fhir/")[-1] not in known:
                dangling.append((r["id"], ref))
    assert not dangling, dangling[:5]


def test_generate_replaces_only_its_own_files(tmp_path):
    from click.testing import CliRunner

    from downtime.cli import cli

    out = tmp_path / "h"
    out.mkdir()
    (out / "README.txt").write_text("mine")
    generate(out, patients=3, seed=1, as_of=AS_OF)
    again = generate(out, patients=3, seed=1, as_of=AS_OF)
    assert "Patient.ndjson" in again.replaced and (out / "README.txt").read_text() == "mine"
    (out / "Extra.ndjson").write_text("{}\n")
    result = CliRunner().invoke(cli, ["generate", "--out", str(out), "--patients", "3"])
    assert result.exit_code == 1 and "Extra.ndjson" in result.output
    assert "Traceback" not in result.output and (out / "Patient.ndjson").exists()
    assert (out / "Extra.ndjson").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bad = CliRunner().invoke(cli, ["generate", "--out", str(blocker / "h"), "--patients", "3"])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    assert str(blocker / "h") in bad.output


def test_generate_never_deletes_an_export_it_did_not_write(tmp_path):
    """A real Bulk export in the folder (Patient.ndjson, Encounter.ndjson ...): refused, every
    file left as it was. So is a generated file edited since, and one without the marker."""
    from click.testing import CliRunner

    from downtime.cli import cli
    from downtime.generator import MARKER

    export = tmp_path / "export"
    export.mkdir()
    for name in ("Patient.ndjson", "Encounter.ndjson", "Observation.ndjson"):
        (export / name).write_text('{"resourceType": "Patient", "id": "real"}\n')
    before = {p.name: p.read_bytes() for p in export.iterdir()}
    result = CliRunner().invoke(cli, ["generate", "--out", str(export), "--patients", "3"])
    assert result.exit_code == 1 and "did not write" in result.output
    assert "nothing was deleted" in result.output and result.output.count("\n") == 1
    assert {p.name: p.read_bytes() for p in export.iterdir()} == before
    out = tmp_path / "generated"
    generate(out, patients=3, seed=1, as_of=AS_OF)
    assert json.loads((out / MARKER).read_text())["files"]["Patient.ndjson"]["sha256"]
    with open(out / "Observation.ndjson", "a") as f:  # someone's edit since
        f.write('{"resourceType": "Observation", "id": "added-by-hand"}\n')
    with pytest.raises(GenerateError, match="Observation.ndjson"):
        generate(out, patients=3, seed=1, as_of=AS_OF)
    assert "added-by-hand" in (out / "Observation.ndjson").read_text()
    (out / MARKER).unlink()
    with pytest.raises(GenerateError, match="did not write"):
        generate(out, patients=3, seed=2, as_of=AS_OF)


def _subject(resource: dict) -> str | None:
    for key in ("subject", "patient"):
        if isinstance(resource.get(key), dict):
            return resource[key]["reference"].rsplit("/", 1)[-1]
    return None


def test_nothing_predates_its_patients_birth_except_the_listed_mess(tmp_path):
    # 150 patients: the pediatric unit has infants, whose "N days ago" dates used to fall
    # before birth (allergies recorded, past visits) -- a mess nobody listed.
    summary = generate(tmp_path, patients=150, seed=1, as_of=AS_OF)
    everything = list(resources(tmp_path))
    births = {r["id"]: r["birthDate"] for r in everything if r["resourceType"] == "Patient"}
    early = []
    for r in everything:
        born = births.get(_subject(r) or "")
        dates = [r.get(k) for k in ("recordedDate", "onsetDateTime", "effectiveDateTime",
                                    "authoredOn", "date", "performedDateTime")]
        dates.append(r.get("period", {}).get("start"))
        if born and any(d and d[:10] < born for d in dates):
            early.append(r["id"])
    assert early and set(early) <= set(summary.messes["timestamp_issues"]), early


def test_heart_and_respiratory_rates_and_spo2_are_whole_numbers(small):
    """As monitors give them and nurses write them: 66 /min, never 66.4 (issue 15)."""
    out, _ = small
    seen: dict[str, int] = {}
    for res in resources(out):
        if res["resourceType"] != "Observation":
            continue
        code = res["code"]["coding"][0]["code"]
        if code in ("8867-4", "9279-1", "59408-5"):
            value = res["valueQuantity"]["value"]
            assert isinstance(value, int), (code, value)
            seen[code] = seen.get(code, 0) + 1
        elif code == "8310-5":  # a temperature keeps its tenth of a degree
            assert isinstance(res["valueQuantity"]["value"], float)
    assert set(seen) == {"8867-4", "9279-1", "59408-5"} and min(seen.values()) > 40
