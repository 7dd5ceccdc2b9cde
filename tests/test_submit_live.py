"""`reconcile submit` against the sandbox (a real FHIR server on a free 127.0.0.1 port): what
is ready goes once, one transaction Bundle per patient, its outcome per entry journaled and
audited; submitting again sends nothing and creates nothing; 5xx and 429 are retried; a
Bundle the server refuses is left with its OperationOutcome in words while the others go on;
a submitter killed mid-way resumes where it stopped with no duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest

from downtime.generator import generate
from downtime.sandbox import start_sandbox
from reconcile.episode import EpisodeClosed, load_episode
from reconcile.state import derive
from reconcile.submissions import BUNDLE_REJECTED, BUNDLE_SUBMITTED
from reconcile.submit import SubmitStopped, ToServer, submit
from snapshots.audit import AuditLog
from snapshots.audit.verify import read_entries
from snapshots.fhir_client.client import FhirClient
from snapshots.fhir_client.settings import ClientSettings
from tests import back_entry_data as data
from tests.submit_helpers import decide_registration, fill, patients_episode

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submit")
    generate(folder / "hospital", patients=12, seed=21,
             as_of=datetime.now(UTC).replace(microsecond=0))
    with start_sandbox(folder / "sandbox", load=folder / "hospital") as running:
        yield running


@pytest.fixture(scope="module")
def http(sandbox):
    with httpx.Client(base_url=sandbox.base_url, headers=FHIR, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def inpatients(http):
    bundle = http.get("Encounter", params={"status": "in-progress", "_count": 200}).json()
    found = {}
    for e in bundle["entry"]:
        # the generator writes some references absolute, as EHRs do (which, hangs on the clock)
        ref = e["resource"]["subject"]["reference"]
        if "Patient/" in ref:
            found.setdefault(ref.rsplit("/", 1)[-1], e["resource"]["id"])
    assert len(found) >= 11, f"the tests need 11 patients in hospital, the sandbox has {found}"
    return sorted(found.items())


def client_for(sandbox, retries: int = 4) -> FhirClient:
    return FhirClient(ClientSettings(url=sandbox.base_url, retries=retries, timeout_seconds=30))


def grown(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_submit_twice_creates_nothing_twice_and_is_audited(sandbox, inpatients, tmp_path):
    episode, _, entries, pages = patients_episode(tmp_path, inpatients[0:2], seed=1)
    audit = AuditLog(tmp_path / "audit.log")
    before = sandbox.counts()
    with client_for(sandbox) as client:
        first = submit(episode, ToServer(client), audit, read_patient=lambda i: client.read(
            "Patient", i))
        after_first = sandbox.counts()
        second = submit(episode, ToServer(client), audit)
    assert [o.status for o in first.outcomes] == ["submitted"] * 3  # two patients, one new
    assert not first.held and not second.outcomes and second.already == len(entries)
    made = grown(before, after_first)
    assert made["Patient"] == 1 and made["Encounter"] == 1  # the downtime registration
    assert made["DocumentReference"] == len(pages) + 2  # every page, and the two notes
    assert sandbox.counts() == after_first  # the second run sent nothing
    state = derive(episode.journal.read())
    assert all(state.submissions.submitted(e.key, e.revision) for e in entries)
    assert {p for p in state.submissions.pages} == {p.key for p in pages}
    events = [e for e in episode.journal.read() if e.type == BUNDLE_SUBMITTED]
    assert len(events) == 3
    for event in events:
        assert event.data["to"] == sandbox.base_url and len(event.data["bundle_sha256"]) == 64
        assert {i["status"] for i in event.data["entries"]} == {"201 Created"}
        assert all(i["location"] for i in event.data["entries"])
    logged, damaged = read_entries(audit.path)
    assert not damaged and [e["action"] for e in logged] == ["submit"] * 3
    assert {e["patient_id"] for e in logged} == {p for p, _ in inpatients[0:2]} | {"DT900001"}
    assert all("submitted to " + sandbox.base_url in e["detail"] for e in logged)
    # sent again from scratch (a journal lost, another station): the server creates nothing
    raw = episode.journal.path.read_bytes()
    assert not any(e.patient_id.encode() in raw for e in entries)  # the journal: ciphertext


def test_5xx_and_429_are_retried(sandbox, inpatients, tmp_path):
    episode, _, _, _ = patients_episode(tmp_path, inpatients[2:4], seed=2, registration=False)
    sandbox.set_fault("5xx", status=503, times=2, match="/fhir")
    before = sandbox.counts()
    with client_for(sandbox) as client:
        result = submit(episode, ToServer(client), AuditLog(tmp_path / "audit.log"))
        sandbox.set_fault("429", retry_after=1, times=1, match="/fhir")
        episode2, _, _, _ = patients_episode(tmp_path / "two", inpatients[4:5], seed=3,
                                             registration=False)
        started = time.monotonic()
        again = submit(episode2, ToServer(client), AuditLog(tmp_path / "audit.log"))
        waited = time.monotonic() - started
    sandbox.clear_faults()
    assert [o.status for o in result.outcomes] == ["submitted"] * 2
    assert [o.status for o in again.outcomes] == ["submitted"]
    assert waited >= 1  # Retry-After honoured
    assert grown(before, sandbox.counts())["Provenance"] == 3 * 9  # nine entries a patient


def test_a_refused_bundle_is_left_with_its_outcome_while_the_others_go_on(
        sandbox, inpatients, http, tmp_path):
    episode, _, _, _ = patients_episode(tmp_path, inpatients[5:7], seed=4, registration=False)
    linked, _ = data.registration(mrn="DT800004", number="DTE800004", seed=40)
    fill(episode, linked, [])
    existing = inpatients[7][0]
    decide_registration(episode, linked[0], "link", existing)

    def stale_read(pid: str) -> dict:
        # read as the submitter does; then someone in the EHR edits the patient before the
        # Bundle lands: its ifMatch no longer holds and the server refuses it whole (412)
        patient = http.get(f"Patient/{pid}").json()
        changed = dict(patient, gender="unknown" if patient.get("gender") != "unknown"
                       else "other")
        changed.pop("meta", None)
        assert http.put(f"Patient/{pid}", json=changed).status_code == 200
        return patient

    with client_for(sandbox) as client:
        result = submit(episode, ToServer(client), AuditLog(tmp_path / "audit.log"),
                        read_patient=stale_read)
    assert sorted(o.status for o in result.outcomes) == ["rejected", "submitted", "submitted"]
    [rejected] = result.rejected
    assert rejected.patient == f"Patient/{existing}" and "412" in rejected.detail
    state = derive(episode.journal.read())
    [event] = [e for e in episode.journal.read() if e.type == BUNDLE_REJECTED]
    assert event.data["status"] == 412 and event.data["outcome"].startswith("HTTP 412")
    assert {i["key"] for i in event.data["entries"]} == {e.key for e in linked}
    assert all(state.submissions.is_rejected(e.key, e.revision) for e in linked)
    # the next run leaves it for a person, and says why
    with client_for(sandbox) as client:
        again = submit(episode, ToServer(client), AuditLog(tmp_path / "audit.log"),
                       read_patient=lambda i: client.read("Patient", i))
        assert not again.outcomes
        assert {h.key for h in again.held} == {e.key for e in linked}
        assert all("HTTP 412" in h.why for h in again.held)
        # asked again, read afresh: it goes, and the downtime MRN is added once
        retried = submit(episode, ToServer(client), AuditLog(tmp_path / "audit.log"),
                         read_patient=lambda i: client.read("Patient", i),
                         retry_rejected=True)
    assert [o.status for o in retried.outcomes] == ["submitted"]
    patient = http.get(f"Patient/{existing}").json()
    assert [i["value"] for i in patient["identifier"]].count("DT800004") == 1
    logged, _ = read_entries(tmp_path / "audit.log")
    assert sum("REJECTED: HTTP 412" in e["detail"] for e in logged) == 1


def test_a_closed_episode_takes_no_submissions(sandbox, tmp_path):
    episode, _, _, _ = patients_episode(tmp_path, [("p1", "e1")], seed=5, registration=False)
    episode.journal.append("episode-closed", {"reason": "done", "person": "Dana Reyes",
                                              "pages": 4}, episode.who)
    with client_for(sandbox) as client, pytest.raises(EpisodeClosed, match="was closed by "
                                                      "Dana Reyes"):
        submit(episode, ToServer(client), AuditLog(tmp_path / "audit.log"))


KILLED = """
import os, signal, sys
from reconcile.episode import load_episode
from reconcile.submit import ToServer, submit
from snapshots.audit import AuditLog
from snapshots.fhir_client.client import FhirClient
from snapshots.fhir_client.settings import ClientSettings
import pyrage
folder, episode_id, identity, url, audit, kill_at = sys.argv[1:7]


class KilledAfterTheAnswer(ToServer):
    # the worst moment: the server has made the Bundle, the journal does not know it yet
    sent = 0

    def send(self, built, data, sha):
        answers = super().send(built, data, sha)
        KilledAfterTheAnswer.sent += 1
        if KilledAfterTheAnswer.sent == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)
        return answers


ident = pyrage.x25519.Identity.from_str(identity)
episode = load_episode(folder, episode_id, [str(ident.to_public())], [ident], "clerk@him-1")
with FhirClient(ClientSettings(url=url, retries=2)) as client:
    result = submit(episode, KilledAfterTheAnswer(client), AuditLog(audit),
                    read_patient=lambda i: client.read("Patient", i),
                    on_bundle=lambda o: print(o.status, flush=True))
print("done", len(result.outcomes), flush=True)
"""


def test_a_submitter_killed_mid_way_resumes_with_no_duplicates(sandbox, inpatients, tmp_path):
    patients = inpatients[8:11]  # how many are in hospital depends on the clock: three are
    assert len(patients) == 3
    episode, ident, entries, _ = patients_episode(tmp_path / "rec", patients, seed=6)
    before = sandbox.counts()
    args = [sys.executable, "-c", KILLED, str(tmp_path / "rec"), episode.id, str(ident),
            sandbox.base_url, str(tmp_path / "audit.log")]
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    # killed when the server has answered the third of four Bundles, before its journal event
    killed = subprocess.run([*args, "3"], capture_output=True, text=True, timeout=120, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout.split() == ["submitted", "submitted"]
    state = derive(load_episode(tmp_path / "rec", episode.id, [str(ident.to_public())],
                                [ident], "clerk").journal.read())
    assert len({b["patient"] for b in state.submissions.bundles}) == 2
    rerun = subprocess.run([*args, "0"], capture_output=True, text=True, timeout=120, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.split() == ["submitted", "submitted", "done", "2"]  # the third again
    made = grown(before, sandbox.counts())
    assert made["DocumentReference"] == 3 * 5 + 2  # four pages and a note a patient; the
    assert made["Patient"] == 1  # registration's two pages
    assert made["Provenance"] == 3 * 9 + 2
    assert made["MedicationAdministration"] == 3 * 4
    state = derive(load_episode(tmp_path / "rec", episode.id, [str(ident.to_public())],
                                [ident], "clerk").journal.read())
    assert all(state.submissions.submitted(e.key, e.revision) for e in entries)
    assert len({b["patient"] for b in state.submissions.bundles}) == 4


def test_a_server_down_past_the_retries_stops_the_run_and_the_next_goes_on(
        sandbox, inpatients, tmp_path):
    episode, _, entries, _ = patients_episode(tmp_path, inpatients[2:3], seed=7,
                                              registration=False)
    sandbox.set_fault("5xx", status=503, match="/fhir")  # until cleared
    try:
        with client_for(sandbox, retries=1) as client, pytest.raises(
                SubmitStopped, match="HTTP 503.*0 of 1 Bundles sent this run, the rest wait"):
            submit(episode, ToServer(client), AuditLog(tmp_path / "audit.log"))
    finally:
        sandbox.clear_faults()
    assert not derive(episode.journal.read()).submissions.bundles  # nothing journaled
    with client_for(sandbox) as client:
        result = submit(episode, ToServer(client), AuditLog(tmp_path / "audit.log"))
    assert [o.status for o in result.outcomes] == ["submitted"]
    assert result.outcomes[0].lines == len(entries)
