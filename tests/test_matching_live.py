"""Matching against a running server (the sandbox on a free 127.0.0.1 port): sekmet offers no
`Patient/$match`, so the local path runs, over the Patients its searches find; once the
sandbox offers the toolkit's small $match responder, the server's grades are used."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest

from downtime.generator import generate
from downtime.sandbox import start_sandbox
from reconcile.entries import Address
from reconcile.matching import match_registration, server_offers_match
from snapshots.fhir_client import ClientSettings, FhirClient
from tests.back_entry_data import EHR_LOOKALIKES as EHR
from tests.back_entry_data import ehr_patient
from tests.back_entry_data import registered as registration

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matching")
    generate(folder / "hospital", patients=3, seed=4,
             as_of=datetime.now(UTC).replace(microsecond=0))
    with start_sandbox(folder / "sandbox", load=folder / "hospital") as running, \
            httpx.Client(base_url=running.base_url, headers=FHIR) as http:
        for patient in [*EHR, *DUPLICATE_CHART]:  # lookalikes among the hospital's patients
            http.put(f"Patient/{patient['id']}", json=patient).raise_for_status()
        yield running


DUPLICATE_CHART = [ehr_patient(pid, "Harper", "Quinn", "1979-10-21", "female", "3 Mill Ln",
                               "40500") for pid in ("p-harper", "p-harper-dup")]


def client_for(sandbox) -> FhirClient:
    return FhirClient(ClientSettings(url=sandbox.base_url, retries=1, timeout_seconds=30))


CASES = [  # (registration, the grades expected)
    (("Smyth", "Jonathon", date(1970, 3, 4)), {"p-smith": "probable"}),
    (("Smith", "Jonathan", date(1970, 4, 3)), {"p-smith": "probable"}),
    (("Garcia", "Maria", date(1983, 7, 12), "female"), {"p-garcia-1950": "possible"}),
    (("Okafor", "Amara", date(2001, 5, 6), "female"),
     {"p-twin-a": "certain", "p-twin-b": "possible"}),
]


def test_without_match_on_the_server_the_local_path_runs_over_what_searches_find(sandbox):
    with client_for(sandbox) as client:
        assert not server_offers_match(client)
        for args, expected in CASES:
            result = match_registration(registration(*args), client=client)
            assert result.via == "local"
            assert {c.patient_id: c.grade for c in result.candidates} == expected, args


def test_with_match_on_the_server_its_grades_are_used(sandbox):
    sandbox.offer_match()
    try:
        with client_for(sandbox) as client:
            assert server_offers_match(client)
            for args, expected in CASES:
                result = match_registration(registration(*args), client=client)
                assert result.via == "$match"
                assert {c.patient_id: c.grade for c in result.candidates} == expected, args
                assert result.candidates[0].reasons[0].startswith("the EHR's $match grades")
            # the server calls both charts of one person certain: a person must choose
            result = match_registration(registration(
                "Harper", "Quinn", date(1979, 10, 21), "female",
                Address(line="3 Mill Ln", postal_code="40500")), client=client)
            assert {c.patient_id: c.grade for c in result.candidates} == {
                "p-harper": "probable", "p-harper-dup": "probable"}
            assert result.suggested is None
    finally:
        sandbox.offer_match(False)  # the other test meets sekmet as it is
