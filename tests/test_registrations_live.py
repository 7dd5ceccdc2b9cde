"""Downtime registrations decided against a running server (the sandbox on a free 127.0.0.1
port) and against a FHIR export: candidates with grades and reasons, a person's link or
create journaled as `registration-decided`, "certain" only confirmed by a named person, a
patient the match did not offer refused unless forced with a reason, and the links the
submitter hands build_bundles read from the server. Through the CLI too; no plaintext
patient data left in the episode."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime

import httpx
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.generator import generate
from downtime.sandbox import start_sandbox
from reconcile.backentry import ToRecord, correct, record_entries
from reconcile.bundles import build_bundles
from reconcile.decisions import REGISTRATION_DECIDED
from reconcile.entries import Address, Registration
from reconcile.registrations import (
    Against,
    RegistrationError,
    confirm_certain,
    create,
    link,
    linked_patients,
    match_all,
    match_one,
    read_patients,
    registration_of,
    undecided,
)
from reconcile.state import derive
from snapshots.fhir_client import ClientSettings, FhirClient
from snapshots.fhir_client.errors import FhirError
from snapshots.keys import create_identity
from tests import back_entry_data as data
from tests.back_entry_data import EHR_LOOKALIKES, ehr_patient
from tests.reconcile_helpers import START, new_episode

FHIR = {"Content-Type": "application/fhir+json"}
PASS = "correct horse battery"
HARPER = [ehr_patient(pid, "Harper", "Quinn", "1979-10-21", "female", "3 Mill Ln", "40500")
          for pid in ("p-harper", "p-harper-dup")]
MERGED = dict(ehr_patient("p-old-chart", "Smith", "Jon", "1970-03-04"), link=[
    {"other": {"reference": "Patient/p-smith"}, "type": "replaced-by"}])
EHR = [*EHR_LOOKALIKES, *HARPER, MERGED]


def reg(mrn: str, seed: int, family: str, given: str, born: date, sex: str = "male",
        address: Address | None = data.HOME_ROAD) -> Registration:
    [entry, *_], _ = data.registration(mrn=mrn, number=mrn.replace("DT", "DTE"), seed=seed,
                                       family=family, given=(given,), birth=born, sex=sex,
                                       address=address)
    return entry


REGS = [reg("DT900011", 11, "Smyth", "Jonathon", date(1970, 3, 4)),  # p-smith probable
        reg("DT900012", 12, "Okafor", "Amara", date(2001, 5, 6), "female"),  # twin-a certain
        reg("DT900013", 13, "Harper", "Quinn", date(1979, 10, 21), "female",
            Address(line="3 Mill Ln", postal_code="40500")),  # two charts: probable both
        reg("DT900014", 14, "Lindqvist", "Ebba", date(1994, 8, 17), "female",
            Address(line="7 Fjord St", postal_code="40777"))]  # new to the EHR
SECRETS = [b"Smyth", b"Okafor", b"Lindqvist", b"Harper", b"DT900011", b"p-twin-a"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("registrations")
    generate(folder / "hospital", patients=3, seed=4,
             as_of=datetime.now(UTC).replace(microsecond=0))
    with start_sandbox(folder / "sandbox", load=folder / "hospital") as running, \
            httpx.Client(base_url=running.base_url, headers=FHIR) as http:
        for patient in EHR:
            http.put(f"Patient/{patient['id']}", json=patient).raise_for_status()
        yield running


@pytest.fixture
def episode(tmp_path):
    ep, _ = new_episode(tmp_path / "rec")
    record_entries(ep.journal, derive(ep.journal.read()).entries,
                   [ToRecord(r, "import") for r in REGS], ep.who)
    return ep


def client_for(sandbox) -> FhirClient:
    return FhirClient(ClientSettings(url=sandbox.base_url, retries=1, timeout_seconds=30))


def decided(episode) -> list[dict]:
    return [e.data for e in episode.journal.read() if e.type == REGISTRATION_DECIDED]


def test_candidates_then_only_a_person_decides(sandbox, episode):
    state = derive(episode.journal.read())
    with client_for(sandbox) as client:
        against = Against(client=client, where=sandbox.base_url)
        matches = {m.registration.downtime_mrn: m for m in match_all(state, against)}
        assert all(m.result.via == "local" and m.decided is None for m in matches.values())
        grades = {mrn: {c.patient_id: c.grade for c in m.result.candidates}
                  for mrn, m in matches.items()}
        assert grades["DT900011"]["p-smith"] == "probable"
        assert grades["DT900012"] == {"p-twin-a": "certain", "p-twin-b": "possible"}
        assert grades["DT900013"] == {"p-harper": "probable", "p-harper-dup": "probable"}
        assert not grades["DT900014"]
        assert any("birth" in r for r in matches["DT900011"].result.candidates[0].reasons)
        assert not decided(episode)  # matching decides nothing

        # a named person confirms every certain one: only the twin with exactly one
        with pytest.raises(RegistrationError, match="named person"):
            confirm_certain(episode.journal, state, list(matches.values()), " ", against,
                            episode.who)
        events = confirm_certain(episode.journal, state, list(matches.values()),
                                 "Dana Reyes", against, episode.who)
        assert [e.data["downtime_mrn"] for e in events] == ["DT900012"]
        assert events[0].data | {"against": None} == {
            "key": REGS[1].key, "revision": 0, "downtime_mrn": "DT900012", "decision": "link",
            "patient_id": "p-twin-a", "grade": "certain", "person": "Dana Reyes",
            "via": "local", "against": None, "confirmed": "certain"}

        # a probable one linked by a person, with its grade
        smith = matches["DT900011"].result
        assert link(episode.journal, state, "DT900011", "p-smith", "Dana Reyes", smith,
                    against, episode.who).data["grade"] == "probable"
        # a patient the match did not offer: refused, unless forced with a reason
        harper = matches["DT900013"].result
        with pytest.raises(RegistrationError, match="not a candidate the match offered .* "
                                                    "--force REASON"):
            link(episode.journal, state, "DT900013", "p-other", "Dana Reyes", harper,
                 against, episode.who)
        with pytest.raises(FhirError):  # forced, but to nobody: the server says so
            link(episode.journal, state, "DT900013", "p-nobody", "Dana Reyes", harper,
                 against, episode.who, force_reason="typed from the wristband")
        # two charts of one person are probable both: creating a third needs a reason
        with pytest.raises(RegistrationError, match="second chart of one person"):
            create(episode.journal, state, "DT900013", "Dana Reyes", harper, against,
                   episode.who)
        event = link(episode.journal, state, "DT900013", "p-harper", "Dana Reyes", harper,
                     against, episode.who)
        assert event.data["grade"] == "probable"
        # changing a decision needs a reason, and is a new event
        with pytest.raises(RegistrationError, match="already decided .* --reason"):
            link(episode.journal, state, "DT900013", "p-harper-dup", "Dana Reyes", harper,
                 against, episode.who)
        assert link(episode.journal, state, "DT900013", "p-harper", "Dana Reyes", harper,
                    against, episode.who) is None  # the same again adds nothing
        link(episode.journal, state, "DT900013", "p-harper-dup", "Dana Reyes", harper,
             against, episode.who, reason="HIM: p-harper-dup is the surviving chart")
        new = match_one(registration_of(state, "DT900014"), against)
        create(episode.journal, state, "DT900014", "Dana Reyes", new, against, episode.who)

        state = derive(episode.journal.read())
        assert not undecided(state)
        d = state.decisions.registrations
        assert {m: (x["decision"], x["patient_id"]) for m, x in d.items()} == {
            "DT900011": ("link", "p-smith"), "DT900012": ("link", "p-twin-a"),
            "DT900013": ("link", "p-harper-dup"), "DT900014": ("create", None)}
        assert d["DT900013"]["reason"].startswith("HIM:") and len(decided(episode)) == 5

        # the submitter's links: the EHR's Patient as read now, into build_bundles
        links = linked_patients(state.decisions, client=client)
        assert set(links) == {"DT900011", "DT900012", "DT900013"}
        assert links["DT900011"]["meta"]["versionId"]  # read from the server
        bundles = build_bundles(state.entries.in_force(), links=links)
        texts = {b.patient: json.dumps(b.bundle) for b in bundles}
        assert any("Patient/p-smith" in t for t in texts.values())
        assert any('"resourceType": "Patient"' in t and "DT900014" in t for t in texts.values())
    raw = episode.journal.path.read_bytes()
    assert all(s not in raw for s in SECRETS)


def test_a_merged_chart_is_no_target_and_a_link_to_one_merged_since_is_decided_again(
        sandbox, episode):
    state = derive(episode.journal.read())
    with client_for(sandbox) as client:
        against = Against(client=client, where=sandbox.base_url)
        result = match_one(REGS[0], against)
        assert "p-old-chart" in {c.patient_id for c in result.candidates}
        for force in (None, "the wristband's old MRN"):
            with pytest.raises(RegistrationError, match="merged into Patient/p-smith: link "
                                                        "DT900011 to the surviving chart"):
                link(episode.journal, state, "DT900011", "p-old-chart", "Dana Reyes", result,
                     against, episode.who, force_reason=force)
        link(episode.journal, state, "DT900011", "p-smith", "Dana Reyes", result, against,
             episode.who)
        smith = client.read("Patient", "p-smith")
        client.request("PUT", "Patient/p-smith", json=dict(smith, link=[
            {"other": {"reference": "Patient/p-harper"}, "type": "replaced-by"}]),
            headers=FHIR)
        try:  # the EHR merged the chart after the person linked it
            with pytest.raises(RegistrationError, match="DT900011 is linked to "
                                                        "Patient/p-smith, merged into "
                                                        "Patient/p-harper since"):
                linked_patients(derive(episode.journal.read()).decisions, client=client)
        finally:
            client.request("PUT", "Patient/p-smith", json=smith, headers=FHIR)


def test_with_match_on_the_server_its_grades_are_journaled(sandbox, episode):
    sandbox.offer_match()
    try:
        state = derive(episode.journal.read())
        with client_for(sandbox) as client:
            against = Against(client=client, where=sandbox.base_url)
            matches = match_all(state, against)
            assert {m.result.via for m in matches} == {"$match"}
            [event] = confirm_certain(episode.journal, state, matches, "Dana Reyes", against,
                                      episode.who)
            assert (event.data["patient_id"], event.data["via"]) == ("p-twin-a", "$match")
    finally:
        sandbox.offer_match(False)


def test_against_a_fhir_export_of_patients(tmp_path, episode):
    export = tmp_path / "export"
    export.mkdir()
    (export / "Patient.ndjson").write_text("\n".join(json.dumps(p) for p in EHR) + "\n")
    (export / "Observation.ndjson").write_text('{"resourceType": "Observation", "id": "o"}\n')
    patients = read_patients(export)
    assert len(patients) == len(EHR)
    state = derive(episode.journal.read())
    against = Against(patients=patients, where=str(export))
    smith = match_one(REGS[0], against)
    assert smith.via == "local" and smith.candidates[0].patient_id == "p-smith"
    event = link(episode.journal, state, "DT900011", "p-smith", "Dana Reyes", smith, against,
                 episode.who)
    assert event.data["against"] == {"export": str(export)}
    assert linked_patients(derive(episode.journal.read()).decisions,
                           patients=patients)["DT900011"]["id"] == "p-smith"
    with pytest.raises(RegistrationError, match="not in"):
        link(episode.journal, state, "DT900014", "p-nobody", "Dana Reyes", smith, against,
             episode.who, force_reason="x")
    with pytest.raises(RegistrationError, match="no downtime registration 'DT999999'"):
        registration_of(state, "DT999999")


@pytest.fixture(scope="module")
def site(tmp_path_factory, sandbox):
    root = tmp_path_factory.mktemp("him")
    create_identity(root / "keys", "him-1", PASS)
    (root / "downtime.toml").write_text(
        f'[source]\nurl = "{sandbox.base_url}"\nretries = 1\n'
        '[reconcile]\nfolder = "rec"\nidentity = "keys/him-1.age"\n')
    return root


def run(root, *args, code=0):
    result = CliRunner().invoke(cli, ["--config", str(root / "downtime.toml"), *args],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    assert result.exit_code == code, result.output
    return result.output


def test_match_link_and_create_through_the_cli(site):
    run(site, "reconcile", "open", "--start", START.isoformat(), "--units", "4W")
    from downtime.cli.reconcile import _episode_for  # noqa: F401 - the CLI's own opening
    from downtime.config import load_config
    from reconcile.episode import load_episode
    from snapshots.keys import load_identity

    config = load_config(site / "downtime.toml")
    ident = load_identity(site / "keys" / "him-1.age", PASS)
    ep = load_episode(config.reconcile.folder, None, [ident.recipient], [ident.secret],
                      "clerk@him-1")
    record_entries(ep.journal, derive(ep.journal.read()).entries,
                   [ToRecord(r, "import") for r in REGS], ep.who)

    out = run(site, "reconcile", "match")
    assert "DT900011  Smyth Jonathon  1970-03-04" in out
    assert "probable  Patient/p-smith" in out and "certain   Patient/p-twin-a" in out
    assert "Patient/p-old-chart  0.94  Smith Jon 1970-03-04 male [merged into Patient/p-smith" \
        in out
    assert "no candidate in the EHR" in out
    assert "4 registrations: 0 decided, 4 waiting for a person (match via local)" in out
    out = run(site, "reconcile", "match", "--confirm-certain", code=2)
    assert "--confirm-certain needs --by NAME" in out
    out = run(site, "reconcile", "match", "--confirm-certain", "--by", "Dana Reyes")
    assert "1 certain matches confirmed as links by Dana Reyes" in out
    assert "decided: link to Patient/p-twin-a (certain), by Dana Reyes" in out
    out = run(site, "reconcile", "link", "DT900011", "--to", "p-other", "--by", "Dana Reyes",
              code=1)
    assert out.count("\n") == 1 and "not a candidate the match offered" in out
    out = run(site, "reconcile", "link", "DT900011", "--to", "p-smith", "--by", "Dana Reyes")
    assert "DT900011 linked to Patient/p-smith (probable), by Dana Reyes" in out
    out = run(site, "reconcile", "create", "DT900013", "--by", "Dana Reyes", code=1)
    assert "second chart of one person" in out
    out = run(site, "reconcile", "create", "DT900014", "--by", "Dana Reyes")
    assert "DT900014 to be created as a new patient" in out
    # the registration corrected after the decision: the person is told to look again
    state = derive(ep.journal.read())
    record_entries(ep.journal, state.entries, [ToRecord(correct(
        state.entries, dataclasses.replace(REGS[0], given=("Jonathan",))), "tui")], ep.who)
    out = run(site, "reconcile", "match")
    assert "the registration was corrected since (revision 1): check the decision again" in out
    listed = json.loads(run(site, "reconcile", "match", "--json"))
    assert {x["downtime_mrn"]: (x["decided"] or {}).get("decision") for x in listed} == {
        "DT900011": "link", "DT900012": "link", "DT900013": None, "DT900014": "create"}
    for path in (site / "rec").rglob("*"):
        if path.is_file():
            assert all(s not in path.read_bytes() for s in SECRETS), path
