"""The live EHR: snapshots built from a running FHIR server (the sandbox, started here on a
free port of 127.0.0.1), in Bulk and search mode, in full and incrementally, through every
fault the client must meet with one clear line and the previous snapshot left in place."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from downtime.generator import generate
from downtime.sandbox import start_sandbox
from downtime.snapshot_jobs import BuildOptions, run_build
from snapshots import chart
from snapshots.fhir_client import (
    BulkExport,
    ClientSettings,
    ExportFailed,
    FhirClient,
    FhirServerError,
    FhirUnreachable,
    NotFhir,
    TruncatedDownload,
)
from snapshots.pipeline import build_database
from snapshots.publish import Recipients
from snapshots.pull import pull
from snapshots.schema import TABLES
from snapshots.sealed import load_database, verify
from snapshots.settings import BuildSettings
from snapshots.store import list_snapshots
from tests.factory import Keys

AS_OF = datetime.now(UTC).replace(second=0, microsecond=0)
LINEAGE = {"src_version", "src_updated", "src_hash"}  # the server's own meta differs by design
FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live") / "hospital"
    generate(folder, patients=14, seed=8, as_of=AS_OF)
    return folder


@pytest.fixture(scope="module")
def sandbox(hospital):
    with start_sandbox(hospital.parent / "sandbox", load=hospital) as running:
        yield running


def as_served(hospital: Path, sandbox, into: Path) -> Path:
    """The export less what the sandbox left out (what no FHIR server would store): the
    same content as the server holds, as files."""
    into.mkdir()
    gone = {where for where, _ in sandbox.loaded.left_out}
    for path in hospital.glob("*.ndjson"):
        lines = path.read_text().splitlines()
        kept = [line for n, line in enumerate(lines, 1) if f"{path}:{n}" not in gone]
        (into / path.name).write_text("".join(line + "\n" for line in kept))
    return into


def settings_for(sandbox, **changes) -> ClientSettings:
    return replace(ClientSettings(url=sandbox.base_url, retries=1, timeout_seconds=5),
                   **changes)


def rows(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    """Every table's rows, without the source lineage columns and the gap's `where` (a file
    and line, or a URL), sorted."""
    out = {}
    for table, columns in TABLES.items():
        if table in ("meta", "gaps", "patient_search"):
            continue
        keep = [c for c in columns if c not in LINEAGE]
        out[table] = sorted(conn.execute(f"SELECT {', '.join(keep)} FROM {table}").fetchall(),
                            key=repr)
    return out


def gaps(conn: sqlite3.Connection) -> list[tuple]:
    return sorted(conn.execute("SELECT reason, resource_type, resource_id, patient_id, detail "
                               "FROM gaps").fetchall())


def census(conn: sqlite3.Connection) -> list[tuple]:
    return sorted((r.patient_id, r.bed, r.name) for r in chart.census(conn))


def test_bulk_and_search_pulls_build_what_the_files_build(hospital, sandbox, tmp_path):
    settings = BuildSettings(as_of=AS_OF)
    files = build_database(as_served(hospital, sandbox, tmp_path / "files"), settings)
    with FhirClient(settings_for(sandbox, mode="bulk")) as client:
        bulk = build_database(pull(client, settings).source(), settings)
    with FhirClient(settings_for(sandbox, mode="search", batch_patients=5,
                                 page_size=40)) as client:  # several batches and pages
        search = build_database(pull(client, settings).source(), settings)
    assert len(census(files.conn)) >= 14 and census(bulk.conn) == census(files.conn)
    assert rows(bulk.conn) == rows(files.conn)
    assert gaps(bulk.conn) == gaps(files.conn)
    assert census(search.conn) == census(files.conn)
    found, expected = rows(search.conn), rows(files.conn)
    # the practitioners a chart names, not every one the EHR has (the pharmacists, here)
    assert set(found.pop("practitioners")) < set(expected.pop("practitioners"))
    assert found == expected
    # a search sees the census patients' charts only: a record that names no patient, or an
    # old encounter's warning, is in the files' register and not the search's
    assert set(gaps(search.conn)) <= set(gaps(files.conn))


def build_from(sandbox, store: Path, keys: Keys, previous: Path | None = None,
               **client) -> Path:
    """A run of the builder's job from the sandbox into `store`; the house snapshot."""
    options = BuildOptions(
        source=None, remote=settings_for(sandbox, **client), out=store, previous=previous,
        settings=BuildSettings(as_of=datetime.now(UTC).replace(microsecond=0)),
        recipients=Recipients(escrow=[keys.escrow.recipient], builder=[keys.unit.recipient]),
        signing_key=keys.signing, identity=keys.unit, trusted_key=keys.trusted)
    result = run_build(options)
    return next(p for p, m in result.written if m.scope == "house")


def opened(path: Path, keys: Keys) -> sqlite3.Connection:
    return load_database(verify(path, keys.trusted, [keys.unit])[1])


@pytest.mark.parametrize("mode", ["bulk", "search"])
def test_an_incremental_build_from_the_server_picks_up_what_changed(hospital, tmp_path, mode):
    """A new admission (with an allergy recorded long before it), a discharge, a transfer and
    (Bulk: the `deleted` files) a deleted observation, from what changed since the last
    snapshot's server time."""
    keys = Keys()
    with start_sandbox(tmp_path / "sandbox", load=hospital) as sandbox, \
            httpx.Client(base_url=sandbox.base_url, headers=FHIR, timeout=30) as http:
        # an outpatient with an allergy on record, not yet admitted
        http.put("Patient/pat-new", json={"resourceType": "Patient", "id": "pat-new", "name": [
            {"family": "NEWLY", "given": ["Admitted"]}], "gender": "female",
            "birthDate": "1960-02-03"}).raise_for_status()
        http.put("AllergyIntolerance/al-new", json={
            "resourceType": "AllergyIntolerance", "id": "al-new", "patient": {
                "reference": "Patient/pat-new"}, "code": {"text": "Penicillin"},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "active"}]}}).raise_for_status()
        first = build_from(sandbox, tmp_path / "store", keys, mode=mode)
        before = {r.patient_id: r for r in chart.census(opened(first, keys))}
        assert "pat-new" not in before
        time.sleep(1.1)  # the server's clock must move past the snapshot's server time
        encounters = {e["resource"]["id"]: e["resource"] for e in http.get(
            "Encounter", params={"status": "in-progress", "_count": 100}).json()["entry"]}
        leaving, moving = sorted(encounters)[:2]
        discharged = encounters[leaving] | {"status": "finished"}
        discharged["period"] = {**discharged["period"], "end": datetime.now(UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")}
        http.put(f"Encounter/{leaving}", json=discharged).raise_for_status()
        free_bed = _free_bed(http, before)
        moved = encounters[moving] | {"location": [{"location": {
            "reference": f"Location/{free_bed}"}, "status": "active"}]}
        http.put(f"Encounter/{moving}", json=moved).raise_for_status()
        admission = dict(encounters[moving], id="enc-new", subject={
            "reference": "Patient/pat-new"}, period={"start": datetime.now(UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ")}, location=[{"location": {
                    "reference": f"Location/{_free_bed(http, before, skip=free_bed)}"},
                    "status": "active"}])
        http.put("Encounter/enc-new", json=admission).raise_for_status()
        pid = next(p for p in sorted(before) if p not in (discharged["subject"]["reference"]
                                                          .split("/")[1],))
        gone = http.get("Observation", params={"patient": pid, "_count": 1}).json()[
            "entry"][0]["resource"]["id"]
        http.delete(f"Observation/{gone}").raise_for_status()
        second = build_from(sandbox, tmp_path / "store", keys, previous=first, mode=mode)
    db = opened(second, keys)
    after = {r.patient_id: r for r in chart.census(db)}
    leaving_pid = discharged["subject"]["reference"].split("/")[1]
    moving_pid = moved["subject"]["reference"].split("/")[1]
    assert leaving_pid not in after and "pat-new" in after
    assert after[moving_pid].bed != before[moving_pid].bed
    assert [a.substance for a in chart.allergy_status(db, "pat-new").items] == ["Penicillin"]
    report = json.loads(chart.meta(db)["build_report"])
    assert report["pull"]["since"] and report["pull"]["transaction_time"] > \
        report["pull"]["since"]
    observation_left = db.execute("SELECT count(*) FROM observations WHERE src_id = ?",
                                  (gone,)).fetchone()[0]
    if mode == "bulk":  # the deleted[] files of a _since export
        assert observation_left == 0
    # (a REST search cannot see a deletion: docs/builder.md says to use Bulk mode for them)


def _free_bed(http: httpx.Client, census: dict, skip: str = "") -> str:
    taken = {r.bed for r in census.values()}
    for entry in http.get("Location", params={"_count": 500}).json()["entry"]:
        location = entry["resource"]
        kind = ((location.get("physicalType") or {}).get("coding") or [{}])[0].get("code")
        name = location.get("name", "")
        if kind == "bd" and name not in taken and location["id"] != skip:
            return location["id"]
    raise AssertionError("no free bed in the sandbox hospital")


@pytest.fixture
def store(sandbox, tmp_path):
    """A store holding one good snapshot from the sandbox: a failed build must leave it."""
    keys = Keys()
    house = build_from(sandbox, tmp_path / "store", keys)
    return tmp_path / "store", keys, house


def files_of(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if p.suffix == ".dtsnap")


FAULTS = [
    ("down", {}, FhirUnreachable, "cannot connect"),
    ("slow", {"seconds": 3}, FhirUnreachable, "no answer within 1 s (timed out)"),
    ("5xx", {"status": 503}, FhirServerError, "HTTP 503"),
    ("truncate", {"mode": "cut"}, TruncatedDownload, "ends in the middle of a line"),
    ("truncate", {"mode": "lines", "keep": 0.5}, TruncatedDownload, "where the manifest says"),
    ("truncate", {"mode": "drop"}, TruncatedDownload, "broke off"),
]


@pytest.mark.parametrize("kind,params,error,says", FAULTS,
                         ids=[f"{k}-{p.get('mode', '')}" for k, p, _, _ in FAULTS])
def test_a_fault_is_one_clear_line_and_the_previous_snapshot_stays(sandbox, store, kind,
                                                                   params, error, says):
    folder, keys, house = store
    before = files_of(folder)
    sandbox.set_fault(kind, **params)
    try:
        with pytest.raises(error) as caught:  # a full build: every file is downloaded
            build_from(sandbox, folder, keys, timeout_seconds=1)
    finally:
        sandbox.clear_faults()
    message = str(caught.value)
    assert says in message and "\n" not in message and "http://127.0.0.1:" in message
    assert files_of(folder) == before  # nothing published, nothing pruned


def test_a_429_with_retry_after_is_waited_for_and_the_build_goes_on(sandbox, store):
    folder, keys, house = store
    sandbox.set_fault("429", retry_after=1, times=2)
    try:
        started = time.monotonic()
        build_from(sandbox, folder, keys, previous=house, retries=3)
    finally:
        sandbox.clear_faults()
    assert time.monotonic() - started >= 2  # each Retry-After was honoured
    assert len(files_of(folder)) == 2  # the new snapshot beside the old one


def test_an_export_that_never_finishes_is_cancelled_and_deleted(sandbox):
    waits = []
    with FhirClient(settings_for(sandbox)) as client:
        export = BulkExport(client, deadline_minutes=0.2 / 60, sleep=waits.append)
        sandbox.set_fault("slow", seconds=0.3, match="bulk-status")
        try:
            with pytest.raises(ExportFailed, match="not complete after .* cancelled"):
                export.run()
        finally:
            sandbox.clear_faults()
    events = [e["event"] for e in export.log.events]
    assert events[0] == "kickoff" and "cancel" in events
    status_url = export.log.events[0]["status_url"]
    assert httpx.get(status_url).status_code == 404  # the job is gone from the server


def test_an_interrupted_export_deletes_its_job(sandbox):
    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt  # Ctrl-C (the builder turns SIGTERM into a stop as well)

    with FhirClient(settings_for(sandbox)) as client:
        export = BulkExport(client, sleep=interrupted)
        sandbox.set_fault("slow", seconds=0.3, match="bulk-status")  # a 202 comes first
        try:
            with pytest.raises(KeyboardInterrupt):
                export.run()
        finally:
            sandbox.clear_faults()
    status_url = export.log.events[0]["status_url"]
    assert "cancel" in [e["event"] for e in export.log.events]
    assert httpx.get(status_url).status_code == 404


def test_a_page_that_is_not_a_bundle_is_refused(sandbox):
    with FhirClient(settings_for(sandbox)) as client, \
            pytest.raises(NotFhir, match="a search page that is not a Bundle"):
        list(client.search("metadata", {}))


def test_a_failed_build_from_the_server_publishes_nothing_through_the_cli(sandbox, store,
                                                                          tmp_path):
    """The command a scheduler runs: exit 1 and one line; the store as it was."""
    from click.testing import CliRunner

    from downtime.cli import cli

    folder, keys, _ = store
    before = files_of(folder)
    config = tmp_path / "downtime.toml"
    config.write_text(f'[paths]\nsigning_key = "{_pem_key(keys, tmp_path)}"\n'
                      f'[source]\nurl = "{sandbox.base_url}"\nretries = 1\n'
                      f'[recipients]\nescrow = ["{keys.escrow.recipient}"]\n')
    sandbox.set_fault("down")
    try:
        result = CliRunner().invoke(cli, [
            "--config", str(config), "snapshot", "build", "--out", str(folder)],
            env={"DOWNTIME_PASSPHRASE": "live-test-passphrase"})
    finally:
        sandbox.clear_faults()
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "cannot connect" in result.output and files_of(folder) == before


def _pem_key(keys: Keys, folder: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    path = folder / "builder.pem"
    path.write_bytes(keys.signing.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"live-test-passphrase")))
    return path


def test_snapshots_in_the_store_are_only_whole_ones(store):
    folder, _, _ = store
    found, bad = list_snapshots(folder)
    assert found and not bad


def test_since_is_kept_from_one_build_to_the_next(store):
    _, keys, house = store
    meta = chart.meta(opened(house, keys))
    assert meta["source_since"].endswith("Z")
    assert datetime.fromisoformat(meta["source_since"].replace("Z", "+00:00")) > \
        datetime.now(UTC) - timedelta(minutes=10)


def test_a_transaction_twice_creates_nothing_twice_and_a_batch_tells_each_entry(sandbox):
    """What reconciliation will post: conditional creates (ifNoneExist) in a transaction,
    outcomes per entry in order; a batch's failed entry does not stop the others."""
    marker = f"urn:downtime:test|{time.time_ns()}"
    system, value = marker.rsplit("|", 1)
    patient = {"resourceType": "Patient", "identifier": [{"system": system, "value": value}],
               "name": [{"family": "TWICE"}]}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": "urn:uuid:1b7f8a90-0000-4000-8000-000000000001", "resource": patient,
        "request": {"method": "POST", "url": "Patient", "ifNoneExist":
                    f"identifier={marker}"}}]}
    with FhirClient(settings_for(sandbox)) as client:
        first = client.transaction(bundle)
        second = client.transaction(bundle)
        assert [o.code for o in first] == [201] and [o.code for o in second] == [200]
        assert first[0].location.split("/_history")[0] == \
            second[0].location.split("/_history")[0]
        batch = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Patient/pat-000000"}},
            {"request": {"method": "GET", "url": "Patient/no-such-patient"}}]}
        outcomes = client.batch(batch)
    assert outcomes[0].ok and not outcomes[1].ok and outcomes[1].code == 404


def test_a_static_bearer_token_from_the_environment(tmp_path, monkeypatch):
    """auth = "bearer": the token comes from a file or the environment, never the config;
    the server refuses a request without it."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from downtime.sandbox.server import SmartAuth, SmartClient
    from snapshots.fhir_client import AuthSettings, FhirAuthError

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with start_sandbox(tmp_path / "sb", auth=SmartAuth(
            (SmartClient.for_key("ops", key.public_key(), "k1"),))) as sandbox:
        now = int(time.time())
        assertion = jwt.encode({"iss": "ops", "sub": "ops", "aud": sandbox.token_url,
                                "exp": now + 200, "iat": now, "jti": str(time.time_ns())},
                               key, algorithm="RS384", headers={"kid": "k1"})
        token = httpx.post(sandbox.token_url, data={
            "grant_type": "client_credentials", "scope": "system/*.read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}).json()["access_token"]
        monkeypatch.setenv("EHR_TOKEN", token)
        bearer = settings_for(sandbox, auth=AuthSettings(kind="bearer", token_env="EHR_TOKEN"))
        with FhirClient(bearer) as client:
            assert next(client.search("Patient", {"_count": 1}))["resourceType"] == "Bundle"
        with FhirClient(settings_for(sandbox)) as client, \
                pytest.raises(FhirAuthError, match="not authorized"):
            next(client.search("Patient", {"_count": 1}))
