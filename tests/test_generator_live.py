"""The live change stream (downtime.generator.live) and the sandbox's driver of it."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from downtime.generator import generate
from downtime.generator.live import WEIGHTS, HospitalState, LiveStream, expected_gap_seconds
from downtime.sandbox import start_sandbox

AS_OF = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live") / "hospital"
    generate(folder, patients=25, seed=4, as_of=AS_OF)
    return folder


def resources(folder):
    return [json.loads(line) for p in sorted(folder.glob("*.ndjson")) for line in p.open()]


def stream(folder, seed=1, rate=2.0):
    return LiveStream(HospitalState.from_resources(resources(folder)), seed=seed, rate=rate,
                      start=AS_OF)


def test_same_hospital_seed_and_start_same_changes(hospital):
    def dump(changes):
        return [(c.at.isoformat(), c.kind, json.dumps(c.put, sort_keys=True), c.delete)
                for c in changes]

    first, again, other = stream(hospital), stream(hospital), stream(hospital, seed=2)
    a = dump(first.next() for _ in range(300))
    assert a == dump(again.next() for _ in range(300))
    assert a != dump(other.next() for _ in range(300))


def test_a_day_of_every_kind_valid_fhir_and_consistent(hospital):
    live = stream(hospital)
    state = live.state
    assert len(state.inpatients) == 25
    beds_in_use = {s.bed for s in state.inpatients.values()}
    kinds: Counter = Counter()
    for _ in range(3000):
        active = {o["id"]: o for s in state.inpatients.values() for o in s.orders}
        change = live.next()
        kinds[change.kind] += 1
        for resource in change.put:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        if change.kind == "administration":
            given = change.put[0]
            order = active[given["request"]["reference"].split("/")[-1]]
            assert given["subject"]["reference"].endswith(order["subject"]["reference"]
                                                          .split("/")[-1])
            assert given["effectiveDateTime"] == change.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if change.kind == "discharge":
            assert change.put[0]["status"] == "finished"
            assert all(o["status"] == "completed" for o in change.put[1:])
        if change.kind == "correction":
            assert change.delete[0].startswith("Observation/") and not change.put
        beds = [s.bed for s in state.inpatients.values()]
        assert len(beds) == len(set(beds))  # never two patients in one bed
        beds_in_use |= set(beds)
    assert set(kinds) == set(WEIGHTS)  # vitals, labs, ... admissions, transfers, discharges
    assert kinds["administration"] > kinds["vitals"] > kinds["note"] > kinds["admission"]


def test_rate_is_changes_per_hour_per_inpatient(hospital):
    live = stream(hospital, rate=4.0)
    changes = [live.next() for _ in range(400)]
    mean = (changes[-1].at - AS_OF).total_seconds() / len(changes)
    assert mean == pytest.approx(expected_gap_seconds(4.0, 25), rel=0.2)  # 36 s


def test_the_sandbox_takes_the_stream_and_its_deletions(hospital, tmp_path):
    with start_sandbox(tmp_path / "sb", load=hospital) as sandbox:
        before = sandbox.counts()
        live = sandbox.start_live(rate=3600, seed=3)  # 25 changes a second
        for _ in range(100):
            if live.describe()["changes"] >= 20:
                break
            time.sleep(0.05)
        sandbox.stop_live()
        described = live.describe()
        assert described["changes"] >= 20 and described["error"] is None
        assert sum(sandbox.counts().values()) > sum(before.values())
        # a correction deletes a result the stream wrote: gone from the server, in history
        made = next(c for c in live.stream if c.kind == "vitals")
        live.apply(made)
        gone = made.put[0]["id"]
        assert httpx.get(f"{sandbox.base_url}/Observation/{gone}").status_code == 200
        live.stream.state.recent_results[:] = [f"Observation/{gone}"]
        live.apply(live.stream._correction())
        assert httpx.get(f"{sandbox.base_url}/Observation/{gone}").status_code == 410
