"""Back-entry Bundles: every kind valid FHIR R4 (the official schema and fhir.resources, through
../shared/tools/validate-fhir and in-process), deterministic, with a Provenance per entry
that says who wrote it, who typed it and from which page; and posted to the sandbox twice,
nothing is created twice."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

import jsonschema
import pytest
from fhir.resources.R4B import get_fhir_model_class

from reconcile.bundles import build_bundles
from reconcile.entries import MarAdministration, ProgressNote, VitalsRow
from reconcile.fhir_codes import BundleSettings
from reconcile.fhir_validation import (
    SUBSET,
    Checker,
    InvalidFhir,
    extract_subset,
    schema_check,
    type_checks,
)
from tests import back_entry_data as data
from tests.shared import SHARED

OFFICIAL = SHARED / "fhir-r4" / "fhir.schema.json"
VALIDATE = SHARED / "tools" / "validate-fhir"
SETTINGS = BundleSettings()


@pytest.fixture(scope="module")
def official_validator():
    schema = json.loads(OFFICIAL.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def every_kind():
    entries, pages = data.one_of_each()
    more, more_pages = data.registration()
    return entries + more, pages + more_pages


def resources_of(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_every_kind_of_bundle_is_valid_r4_by_the_shared_validator(tmp_path):
    entries, pages = every_kind()
    built = build_bundles(entries, pages)
    kinds = {e["resource"]["resourceType"] for b in built for e in b.bundle["entry"]}
    built += corrected_and_linked()
    assert {e["request"]["method"] for b in built for e in b.bundle["entry"]} == {"POST",
                                                                                   "PUT"}
    assert kinds == {"MedicationRequest", "MedicationAdministration", "Observation",
                     "DocumentReference", "Provenance", "Patient", "Encounter"}
    for n, b in enumerate(built):
        (tmp_path / f"bundle-{n}.json").write_bytes(b.to_bytes())
        with (tmp_path / f"bundle-{n}.ndjson").open("w") as f:  # each resource on its own too
            for entry in b.bundle["entry"]:
                f.write(json.dumps(entry["resource"]) + "\n")
    run = subprocess.run([sys.executable, str(VALIDATE), str(tmp_path)], capture_output=True,
                         text=True)
    for path in tmp_path.iterdir():  # synthetic, but the rule is no patient data left behind
        path.unlink()
    assert run.returncode == 0, run.stdout
    assert ", 0 problems" in run.stdout and not run.stdout.startswith("0 documents")


def corrected_and_linked():
    """A Bundle with a correction (conditional updates) and one of a linked registration
    (the EHR patient put back with ifMatch)."""
    entries, pages = data.one_of_each()
    row = next(e for e in entries if isinstance(e, VitalsRow))
    registered, registered_pages = data.registration()
    existing = {"resourceType": "Patient", "id": "pat-000123", "meta": {"versionId": "3"},
                "name": [{"family": "Okafor", "given": ["Chidi"]}]}
    return build_bundles([*entries, replace(row, revision=1), *registered],
                         pages + registered_pages, links={"DT900001": existing})


def test_every_bundle_validates_in_process_against_the_official_schema_and_models(
        official_validator):
    entries, pages = every_kind()
    for b in build_bundles(entries, pages) + corrected_and_linked():
        errors = list(official_validator.iter_errors(b.bundle))
        assert not errors, errors[0].message[:300]
        get_fhir_model_class("Bundle").model_validate(b.bundle)


def test_the_shipped_schema_is_exactly_the_official_schema_extracted():
    assert json.loads(SUBSET.read_text()) == extract_subset(json.loads(OFFICIAL.read_text()))


def test_each_type_has_its_own_compiled_check():
    assert all(check is not schema_check() for check in type_checks().values())
    assert type_checks()["Observation"].__name__.endswith("definitions_observation")


def test_the_checker_refuses_what_the_schema_or_the_models_refuse():
    entries, pages = data.one_of_each()
    bundle = build_bundles(entries, pages)[0].bundle
    observation = resources_of(bundle, "Observation")[0]
    with pytest.raises(InvalidFhir, match="status must be one of"):
        Checker().check(observation | {"status": "done"}, "test")
    with pytest.raises(InvalidFhir, match="effectiveDateTime"):
        Checker().check(observation | {"effectiveDateTime": "1 Dec 2026"}, "test")
    # two values of one choice element: the schema allows it, the models do not
    with pytest.raises(InvalidFhir, match="Any of one field value"):
        Checker().check(observation | {"valueString": "high"}, "test")
    checker = Checker()
    build_bundles(entries, pages, checker=checker)
    assert checker.schema_checked > checker.model_checked > 0


def test_provenance_says_who_wrote_who_typed_when_and_from_which_page():
    entries, pages = data.one_of_each()
    bundle = build_bundles(entries, pages)[0].bundle
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    provenances = resources_of(bundle, "Provenance")
    assert len(provenances) == len(entries)  # one per entry
    mar = next(e for e in entries if isinstance(e, MarAdministration) and e.prn)
    prov = next(p for p in provenances if p["meta"]["tag"][0]["code"] == mar.key)
    agents = {a["type"]["coding"][0]["code"]: a["who"]["display"] for a in prov["agent"]}
    assert agents == {"author": mar.written_by.name, "performer": mar.performer.name,
                      "enterer": data.CLERK.name}
    assert prov["occurredDateTime"] == "2026-12-01T11:00:00Z"
    assert prov["recorded"] == "2026-12-03T11:04:00Z"
    assert prov["policy"] == [SETTINGS.policy]
    page = by_url[prov["entity"][0]["what"]["reference"]]
    assert prov["entity"][0]["role"] == "source"
    assert page["identifier"][0]["value"] == f"{mar.source.form_id}/p1"
    assert page["content"][0]["attachment"]["contentType"] == "image/png"
    target = by_url[prov["target"][0]["reference"]]
    assert target["identifier"] == [{"system": SETTINGS.entry_system, "value": mar.key}]
    assert target["request"]["reference"].startswith("urn:uuid:")  # the paper order, here
    # a verbal order: author the prescriber, the nurse who took it the informant
    verbal = next(p for p in provenances if any(a["type"]["coding"][0]["code"] == "informant"
                                                for a in p["agent"]))
    assert [a["who"]["display"] for a in verbal["agent"]] == [
        data.DOCTOR.name, data.NURSES[0].name, data.CLERK.name]


def test_vitals_are_vital_signs_in_loinc_and_ucum():
    entries, pages = data.one_of_each()
    bundle = build_bundles(entries, pages)[0].bundle
    row = next(e for e in entries if isinstance(e, VitalsRow))
    observations = resources_of(bundle, "Observation")
    assert len(observations) == len(row.readings)
    for obs in observations:
        assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
        assert obs["code"]["coding"][0]["system"] == "http://loinc.org"
        for q in [obs.get("valueQuantity")] + [c["valueQuantity"]
                                               for c in obs.get("component", [])]:
            if q:
                assert q["system"] == "http://unitsofmeasure.org" and q["code"]
    bp = next(o for o in observations if o["code"]["coding"][0]["code"] == "85354-9")
    assert [c["valueQuantity"]["value"] for c in bp["component"]] == [132, 84]


def test_a_note_is_a_document_with_its_text_and_its_page():
    import base64

    entries, pages = data.one_of_each()
    bundle = build_bundles(entries, pages)[0].bundle
    note = next(e for e in entries if isinstance(e, ProgressNote))
    docs = resources_of(bundle, "DocumentReference")
    text_doc = next(d for d in docs if d["identifier"][0]["value"] == note.key)
    assert base64.b64decode(text_doc["content"][0]["attachment"]["data"]).decode() == note.text
    assert text_doc["context"]["related"][0]["reference"].startswith("urn:uuid:")
    assert len(docs) == len(pages) + 1  # each scanned page is a document of its own


def test_the_same_entries_give_the_same_bytes_and_one_bundle_per_patient():
    entries, pages = every_kind()
    first = [b.to_bytes() for b in build_bundles(entries, pages)]
    again = [b.to_bytes() for b in build_bundles(list(reversed(entries)), pages)]
    assert first == again
    built = build_bundles(entries, pages)
    assert [b.patient for b in built] == ["Patient/pat-000001", "downtime MRN DT900001"]
    for b in built:
        requests = [e["request"] for e in b.bundle["entry"]]
        assert all(r["method"] == "POST" and r["ifNoneExist"] for r in requests)
        conditions = [r["ifNoneExist"] for r in requests]
        assert len(set(conditions)) == len(conditions)  # one entry per identifier
        assert len(b.entry_keys) == len(b.bundle["entry"])


def test_a_registered_patients_entries_point_at_the_patient_the_registration_makes():
    entries, pages = data.registration()
    bundle = build_bundles(entries, pages)[0].bundle
    patient = resources_of(bundle, "Patient")[0]
    full = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is patient)
    assert patient["identifier"][0]["value"] == "DT900001"
    for obs in resources_of(bundle, "Observation"):
        assert obs["subject"]["reference"] == full
        assert obs["encounter"]["reference"].startswith("urn:uuid:")
    encounter = resources_of(bundle, "Encounter")[0]
    assert encounter["identifier"][0]["value"] == "DTE900001"
    assert encounter["period"]["start"] == "2026-12-01T09:00:00Z"


def test_a_linked_registration_goes_to_the_existing_patient_with_the_downtime_mrn():
    entries, pages = data.registration()
    existing = {"resourceType": "Patient", "id": "pat-000123", "meta": {"versionId": "3"},
                "identifier": [{"system": "urn:mrn", "value": "M123"}],
                "name": [{"family": "Okafor", "given": ["Chidi"]}]}
    [built] = build_bundles(entries, pages, links={"DT900001": existing})
    assert built.patient == "Patient/pat-000123"
    put = next(e for e in built.bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert put["request"] == {"method": "PUT", "url": "Patient/pat-000123", "ifMatch": 'W/"3"'}
    assert [i["value"] for i in put["resource"]["identifier"]] == ["M123", "DT900001"]
    for obs in resources_of(built.bundle, "Observation"):
        assert obs["subject"] == {"reference": "Patient/pat-000123"}


def test_a_correction_updates_the_lines_resources_and_has_its_own_provenance():
    entries, pages = data.one_of_each()
    row = next(e for e in entries if isinstance(e, VitalsRow))
    fixed = replace(row, **{"revision": 1, "readings": row.readings[:1],
                         "entered_at": datetime(2026, 12, 4, 9, tzinfo=UTC)})
    bundle = build_bundles([*entries, fixed], pages)[0].bundle
    puts = [e for e in bundle["entry"] if e["request"]["method"] == "PUT"]
    assert [e["request"]["url"] for e in puts] == [
        f"Observation?identifier={SETTINGS.entry_system}|{row.key}/heart_rate"]
    prov = [p for p in resources_of(bundle, "Provenance")
            if p["meta"]["tag"][0]["code"].startswith(row.key)]
    assert [p["meta"]["tag"][0]["code"] for p in prov] == [f"{row.key}/r1"]
    assert prov[0]["activity"]["coding"][0]["code"] == "UPDATE"


def test_two_different_entries_of_one_line_and_revision_are_refused():
    from reconcile.entries import EntryError

    entries, pages = data.one_of_each()
    row = next(e for e in entries if isinstance(e, VitalsRow))
    other = replace(row, **{"readings": row.readings[:1]})
    with pytest.raises(EntryError, match="two different entries of revision 0"):
        build_bundles([*entries, other], pages)


def test_a_linked_patients_own_records_and_the_registrations_share_one_bundle():
    """The EHR patient's own records sort first (earlier on paper): the registration still
    goes to that patient, never to a new one."""
    own, own_pages = data.one_of_each("pat-000123", "enc-000123")
    registered, pages = data.registration()
    existing = {"resourceType": "Patient", "id": "pat-000123", "name": [{"family": "Okafor"}]}
    [built] = build_bundles(own + registered, own_pages + pages,
                            links={"DT900001": existing})
    patients = [e for e in built.bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert [p["request"]["method"] for p in patients] == ["PUT"]
    subjects = {r["subject"]["reference"] for r in resources_of(built.bundle, "Observation")}
    assert subjects == {"Patient/pat-000123"}
