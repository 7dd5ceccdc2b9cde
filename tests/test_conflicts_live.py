"""The conflict checks against a running server (the sandbox on a free 127.0.0.1 port, loaded
with the seeded EHR): the current state read by searches per patient batch and by a Bulk
export finds what the export folder finds, every seeded conflict with its reason; and
`downtime reconcile check --server` through the CLI."""

from __future__ import annotations

import pytest

from downtime.sandbox import start_sandbox
from reconcile.conflict_decisions import journal_check
from reconcile.conflicts import check_conflicts
from reconcile.current_state import CurrentStateError, from_bulk, from_export, from_server
from reconcile.state import derive
from snapshots.fhir_client import ClientSettings, FhirClient
from tests.conflict_data import (
    PATIENTS,
    STAFF,
    WORDS,
    episode_with_entries,
    make_site,
    run,
    write_export,
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conflicts-live")
    export = write_export(folder / "export")
    with start_sandbox(folder / "sandbox", load=export) as running:
        yield running, export


def client_for(url: str) -> FhirClient:
    return FhirClient(ClientSettings(url=url, retries=1, timeout_seconds=30))


def _codes(checked):
    return [(item["key"], sorted(c["code"] for c in item["conflicts"])) for item in checked]


def test_searches_and_bulk_find_what_the_export_finds(sandbox, tmp_path):
    running, export = sandbox
    _, state, cases = episode_with_entries(tmp_path)
    with client_for(running.base_url) as client:
        searched = from_server(client, sorted(PATIENTS), batch=2)  # several batches
        bulk = from_bulk(client, level="patient")
    on_disk = check_conflicts(state, from_export(export), staff=STAFF)
    for current in (searched, bulk):
        assert current.patients["p-old"].replaced_by == "p-alive"
        assert [s.unit for s in current.encounters["e-moved"].stays] == ["4W", "ICU"]
        checked = check_conflicts(state, current, staff=STAFF)
        assert _codes(checked) == _codes(on_disk)
        for (entry, expected), item in zip(cases, checked, strict=True):
            assert {c["code"] for c in item["conflicts"]} == expected, entry.key
            for c in item["conflicts"]:
                assert WORDS[c["code"]] in c["reason"]
    assert searched.against["source"] == "server" and bulk.against["source"] == "bulk"


def test_a_check_run_against_the_server_is_journaled(sandbox, tmp_path):
    running, _ = sandbox
    ep, state, cases = episode_with_entries(tmp_path)
    with client_for(running.base_url) as client:
        current = from_server(client, sorted({e.patient_id for e, _ in cases}))
    journal_check(ep.journal, state, current, "clerk@him-1", staff=STAFF)
    read = derive(ep.journal.read())
    [run] = [e for e in ep.journal.read() if e.type == "conflicts-checked"]
    assert run.data["against"]["where"] == running.base_url
    for entry, expected in cases:
        assert read.decisions.standing(entry.key, 0) == (
            "in-conflict" if expected else "clear")


def test_a_server_that_is_not_there_is_one_line():
    with client_for("http://127.0.0.1:9/fhir") as client, \
            pytest.raises(CurrentStateError) as e:
        from_server(client, ["p-alive"])
    assert "current state from http://127.0.0.1:9/fhir" in str(e.value)
    assert "\n" not in str(e.value)


def test_check_through_the_cli_against_the_server(sandbox, tmp_path_factory):
    running, _ = sandbox
    root, ep, cases, _ = make_site(tmp_path_factory.mktemp("him-live"))
    out = run(root, "reconcile", "check", "--server", running.base_url).output
    flagged = sum(1 for _, want in cases if want)
    assert f"checked {len(cases)} entries against {running.base_url}: " \
           f"{len(cases) - flagged} clear, {flagged} with conflicts" in out
    assert "  transferred: 1\n" in out and "  merged: 1\n" in out
    out = run(root, "reconcile", "check", "--server", running.base_url, "--bulk").output
    assert f"{flagged} with conflicts" in out
    [first, second] = [e for e in ep.journal.read() if e.type == "conflicts-checked"]
    assert (first.data["against"]["source"], second.data["against"]["source"]) == (
        "server", "bulk")
    result = run(root, "reconcile", "check", "--server", "http://127.0.0.1:9/fhir", ok=False)
    assert result.exit_code != 0 and "current state from http://127.0.0.1:9/fhir" in \
        result.output and "Traceback" not in result.output


def test_an_id_that_is_no_fhir_id_does_not_sink_the_batch(sandbox):
    running, _ = sandbox
    with client_for(running.base_url) as client:
        current = from_server(client, ["p-alive", "not an id/..", "p-dead"])
    assert set(current.patients) == {"p-alive", "p-dead"}
    assert "not an id/.." not in current.patients
