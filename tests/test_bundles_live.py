"""Back-entry Bundles posted to the sandbox (a real FHIR server on a free 127.0.0.1 port):
every kind is accepted, references come out as the server's ids, and a second submission
creates nothing (every entry answers 200 and no count moves); a correction updates in place;
a linked registration gains the downtime MRN once, however often it is sent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from downtime.generator import generate
from downtime.sandbox import start_sandbox
from reconcile.bundles import build_bundles
from reconcile.entries import VitalReading, VitalsRow
from snapshots.fhir_client import ClientSettings, FhirClient
from tests import back_entry_data as data

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundles")
    generate(folder / "hospital", patients=3, seed=8,
             as_of=datetime.now(UTC).replace(microsecond=0))
    with start_sandbox(folder / "sandbox", load=folder / "hospital") as running:
        yield running


@pytest.fixture(scope="module")
def http(sandbox):
    with httpx.Client(base_url=sandbox.base_url, headers=FHIR, timeout=30) as client:
        yield client


def client_for(sandbox) -> FhirClient:
    return FhirClient(ClientSettings(url=sandbox.base_url, retries=1, timeout_seconds=30))


def inpatient(http: httpx.Client, n: int = 0) -> tuple[str, str]:
    bundle = http.get("Encounter", params={"status": "in-progress", "_count": 50}).json()
    # the generator writes some references absolute, as EHRs do (which, hangs on the clock)
    refs = [(e["resource"]["subject"]["reference"], e["resource"]["id"]) for e in bundle["entry"]]
    found = sorted({(ref.split("/")[-1], eid) for ref, eid in refs if "Patient/" in ref})
    return found[n]


def test_bundles_posted_twice_create_nothing_twice(sandbox, http):
    patient_id, encounter_id = inpatient(http)
    entries, pages = data.one_of_each(patient_id, encounter_id)
    registered, registered_pages = data.registration()
    built = build_bundles(entries + registered, pages + registered_pages)
    before = sandbox.counts()
    with client_for(sandbox) as client:
        first = [client.transaction(b.bundle) for b in built]
        after_first = sandbox.counts()
        second = [client.transaction(b.bundle) for b in built]
    assert [o.code for outcomes in first for o in outcomes] == \
        [201] * sum(len(b.bundle["entry"]) for b in built)
    assert [o.code for outcomes in second for o in outcomes] == \
        [200] * sum(len(b.bundle["entry"]) for b in built)
    made = {k: after_first.get(k, 0) - before.get(k, 0) for k in after_first}
    expected: dict[str, int] = {}
    for b in built:
        for e in b.bundle["entry"]:
            expected[e["resource"]["resourceType"]] = \
                expected.get(e["resource"]["resourceType"], 0) + 1
    assert {k: v for k, v in made.items() if v} == expected
    assert sandbox.counts() == after_first  # the second submission created nothing
    # the same resources answered both times
    assert [o.location.split("/_history")[0] for outcomes in first for o in outcomes] == \
        [o.location.split("/_history")[0] for outcomes in second for o in outcomes]


def test_references_come_out_as_the_servers_ids(sandbox, http):
    patient_id, encounter_id = inpatient(http, 1)
    entries, pages = data.one_of_each(patient_id, encounter_id, seed=5)
    [built] = build_bundles(entries, pages)
    with client_for(sandbox) as client:
        outcomes = client.transaction(built.bundle)
    provenance_at = next(o.location for o, e in zip(outcomes, built.bundle["entry"], strict=True)
                         if e["resource"]["resourceType"] == "Provenance")
    provenance = http.get(provenance_at.split("/_history")[0]).json()
    target = provenance["target"][0]["reference"]
    page = provenance["entity"][0]["what"]["reference"]
    assert not target.startswith("urn:") and http.get(target).status_code == 200
    document = http.get(page).json()
    assert document["resourceType"] == "DocumentReference"
    assert document["content"][0]["attachment"]["data"]
    found = http.get("Provenance", params={"target": target}).json()
    assert found["total"] == 1 if "total" in found else len(found["entry"]) == 1


def test_a_correction_updates_in_place(sandbox, http):
    patient_id, encounter_id = inpatient(http, 2)
    entries, pages = data.one_of_each(patient_id, encounter_id, seed=9)
    row = next(e for e in entries if isinstance(e, VitalsRow))
    with client_for(sandbox) as client:
        client.transaction(build_bundles(entries, pages)[0].bundle)
        counts = sandbox.counts()
        fixed = replace(row, **{"revision": 1, "readings": (
            VitalReading(measure="heart_rate", value=64, unit="/min"),)})
        [built] = build_bundles([*entries, fixed], pages)
        client.transaction(built.bundle)
        client.transaction(built.bundle)
    grown = {k: v - counts.get(k, 0) for k, v in sandbox.counts().items() if v != counts.get(k)}
    assert grown == {"Provenance": 1}  # the correction's own; the Observation updated in place
    search = http.get("Observation", params={
        "identifier": f"urn:downtime-toolkit:back-entry|{row.key}/heart_rate"}).json()
    assert [e["resource"]["valueQuantity"]["value"] for e in search["entry"]] == [64]


def test_a_linked_registration_adds_the_downtime_mrn_once(sandbox, http):
    existing = http.get("Patient", params={"_count": 1}).json()["entry"][0]["resource"]
    entries, pages = data.registration(mrn="DT900077", number="DTE900077", seed=11)
    with client_for(sandbox) as client:
        [built] = build_bundles(entries, pages, links={"DT900077": existing})
        client.transaction(built.bundle)
        again = http.get(f"Patient/{existing['id']}").json()  # read afresh, as a person would
        [rebuilt] = build_bundles(entries, pages, links={"DT900077": again})
        client.transaction(rebuilt.bundle)
    patient = http.get(f"Patient/{existing['id']}").json()
    assert [i["value"] for i in patient["identifier"]].count("DT900077") == 1
    assert http.get("Patient", params={
        "identifier": "urn:downtime-toolkit:downtime-mrn|DT900077"}).json()["entry"][0][
            "resource"]["id"] == existing["id"]
