"""Mapping the Observation files in a forked child (snapshots.parallel_map) builds the same
database, gap register, counts and report as one process does; a failing child changes
nothing but the time taken."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from downtime.generator import generate
from snapshots import build as build_module
from snapshots import parallel_map
from snapshots.build_results import BuildResult
from snapshots.pipeline import build_database
from snapshots.settings import BuildSettings

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("parallel") / "hospital"
    generate(out, patients=40, seed=5, as_of=AS_OF)
    # one unreadable line and one structurally wrong observation: their gaps come from the child
    with open(out / "Observation.ndjson", "ab") as f:
        f.write(b'{"resourceType": "Observation", "id": \n')
        f.write(json.dumps({"resourceType": "Observation", "id": "odd", "status": ["final"],
                            "code": {"text": "x"}, "subject": {"reference": "Patient/none"}})
                .encode() + b"\n")
    return out


def _everything(result: BuildResult) -> dict:
    conn = result.conn
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'patient_search%'"
        " AND name NOT IN ('gaps', 'meta')")]
    return {
        "tables": {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables},
        "gaps": sorted((g.where, g.reason, g.detail, g.severity) for g in result.gaps.gaps),
        "stats": {k: dict(v) for k, v in result.stats.counts.items()},
        "report": json.dumps(result.report, sort_keys=True, default=str),
    }


def test_a_second_process_builds_exactly_what_one_does(source):
    one = _everything(build_database(source, BuildSettings(as_of=AS_OF), workers=1))
    two = _everything(build_database(source, BuildSettings(as_of=AS_OF), workers=2))
    assert one["tables"]["observations"], "the fixture must have observations to offload"
    assert any("Observation.ndjson" in g[0] for g in two["gaps"])
    assert one == two


def test_a_failing_child_leaves_the_work_to_the_parent(source, monkeypatch):
    one = _everything(build_database(source, BuildSettings(as_of=AS_OF), workers=1))

    def fail(builder, src, slices, send):
        send.send_bytes(b"")  # what a child that hit an error sends
        send.close()

    monkeypatch.setattr(parallel_map, "_map_in_child", fail)
    assert _everything(build_database(source, BuildSettings(as_of=AS_OF), workers=2)) == one


def test_a_resource_in_both_shares_ends_as_its_later_line(source, tmp_path):
    """A re-sent observation (same id, newer value) in the child's share and again in the
    parent's: the later line wins, as in one process (it used to stop the build with a UNIQUE
    constraint error when the child's rows were copied in)."""
    import shutil

    folder = tmp_path / "hospital"
    shutil.copytree(source, folder)
    path = folder / "Observation.ndjson"
    lines = path.read_bytes().splitlines()
    first = next(json.loads(x) for x in lines[:len(lines) // 4]
                 if b'"valueQuantity"' in x and b'"2026-11-25T' in x)
    again = {**first, "valueQuantity": {**first["valueQuantity"], "value": 999.5}}
    path.write_bytes(b"\n".join([*lines, json.dumps(again).encode()]) + b"\n")
    one = build_database(folder, BuildSettings(as_of=AS_OF), workers=1)
    two = build_database(folder, BuildSettings(as_of=AS_OF), workers=2)
    query = "SELECT value_num FROM observations WHERE id = ?"
    assert one.conn.execute(query, (first["id"],)).fetchall() == [(999.5,)]
    assert two.conn.execute(query, (first["id"],)).fetchall() == [(999.5,)]
    assert _everything(one) == _everything(two)


def test_small_exports_stay_in_one_process(source):
    observations = [source / "Observation.ndjson"]
    assert observations[0].stat().st_size < parallel_map.MIN_BYTES
    assert not parallel_map.should_offload(observations, None)
    assert parallel_map.should_offload(observations, 2)
    assert not parallel_map.should_offload(observations, 1)
    assert not parallel_map.should_offload([], 2)


def test_byte_ranges_read_every_line_once_numbered_as_in_the_file(tmp_path):
    import random

    from snapshots.reading import ndjson_records

    path = tmp_path / "Observation.ndjson"
    lines = [b'{"resourceType": "Observation", "id": "o%d"}' % i for i in range(300)]
    lines[5], lines[77] = b"", b"{not json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    bad: list = []
    whole = [(r.where, r.resource["id"]) for r in ndjson_records(path, lambda *a: bad.append(a))]
    assert len(whole) == 298 and bad[0][0] == "Observation.ndjson:78"
    size, rng = path.stat().st_size, random.Random(4)
    for _ in range(50):
        bounds = [0, *sorted(rng.sample(range(1, size), 3)), size]
        seen: list = []
        faults: list = []
        for start, stop in zip(bounds, bounds[1:], strict=False):
            seen += [(r.where, r.resource["id"]) for r in ndjson_records(
                path, _collector(faults), start=start, stop=stop)]
        assert seen == whole and faults == bad, bounds


def test_the_split_gives_the_child_its_share_in_whole_lines(source):
    paths = parallel_map.offloadable(parallel_map.Source(source, lambda *a: None))
    mine, theirs = parallel_map.split(paths, 0.64)
    (path, start, stop), = mine
    assert start == 0 and 0.6 < stop / path.stat().st_size < 0.7
    assert theirs == [(path, stop, None)]


def _collector(into: list):
    return lambda *fault: into.append(fault)


def test_the_collector_is_paused_for_a_build_and_back_after(source, monkeypatch):
    import gc

    seen = []
    real = build_module.Builder.finish

    def finish(self, text):
        seen.append(gc.isenabled())
        return real(self, text)

    monkeypatch.setattr(build_module.Builder, "finish", finish)
    assert gc.isenabled()
    build_database(source, BuildSettings(as_of=AS_OF), workers=1)
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(build_module.Builder, "finish", lambda self, text: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        build_database(source, BuildSettings(as_of=AS_OF), workers=1)
    assert gc.isenabled()
    gc.disable()
    try:  # a caller that turned it off itself keeps it off
        monkeypatch.setattr(build_module.Builder, "finish", real)
        build_database(source, BuildSettings(as_of=AS_OF), workers=1)
        assert not gc.isenabled()
    finally:
        gc.enable()
