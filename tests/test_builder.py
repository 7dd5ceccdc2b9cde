"""The builder service (downtime builder): pull, build, publish into the agents' folders,
prune, and say how it went in a status a monitoring system reads (0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN). Here from a source on disk; from a FHIR server (incremental builds)
in tests/test_live_ehr.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from downtime.builder.service import Builder
from downtime.builder.settings import BuilderSettings
from downtime.builder.status import CRITICAL, OK, UNKNOWN, WARNING, judge
from downtime.cli import cli
from downtime.config import Config, RecipientSettings
from downtime.generator import generate
from snapshots.store import list_snapshots
from tests.factory import Keys

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    root = tmp_path_factory.mktemp("builder")
    generate(root / "src", patients=12, seed=4, as_of=AS_OF)
    return root / "src"


def make_builder(tmp_path: Path, keys: Keys, source: Path, **settings) -> Builder:
    config = Config(recipients=RecipientSettings(
        escrow=(keys.escrow.recipient,), builder=(keys.pharmacy.recipient,),
        units={"4W": (keys.unit.recipient,)}), build_as_of_fixed=True,
        build=replace(Config().build, as_of=AS_OF))
    settings = BuilderSettings(publish=(tmp_path / "outbox-a", tmp_path / "outbox-b"),
                               **settings)
    clock = [AS_OF + timedelta(seconds=20)]
    return Builder(config, tmp_path / "store", keys.signing, None, source=source,
                   settings=settings, clock=lambda: clock[0])


def test_a_run_publishes_every_snapshot_into_every_folder_atomically(tmp_path, keys, hospital):
    builder = make_builder(tmp_path, keys, hospital)
    result = builder.run_once()
    assert result is not None and result.report["census"]["complete"]
    for outbox in (tmp_path / "outbox-a", tmp_path / "outbox-b"):
        names = sorted(p.name for p in outbox.iterdir())
        assert "house-000001.dtsnap" in names and "unit-4W-000001.dtsnap" in names
        assert not any(n.startswith(".") for n in names)  # no part file left behind
    for _ in range(4):  # each folder keeps the newest `keep` of each scope
        builder.run_once()
    found, bad = list_snapshots(tmp_path / "outbox-a")
    assert not bad and sorted(s.manifest.sequence for s in found
                              if s.manifest.scope == "house") == [3, 4, 5]
    verdict = judge(tmp_path / "store", builder.settings, now=AS_OF + timedelta(seconds=40))
    assert verdict.code == OK, verdict.line
    assert verdict.data_age_seconds == 40 and "BUILDER OK - data 40 s old" in verdict.line


def test_a_failed_run_leaves_the_last_good_snapshots_and_says_why(tmp_path, keys, hospital):
    builder = make_builder(tmp_path, keys, hospital)
    assert builder.run_once() is not None
    before = sorted(p.name for p in (tmp_path / "outbox-a").iterdir())
    builder.source = tmp_path / "gone"
    assert builder.run_once() is None
    assert sorted(p.name for p in (tmp_path / "outbox-a").iterdir()) == before
    status = json.loads((tmp_path / "store" / ".builder-status.json").read_text())
    assert status["last_run"]["ok"] is False and "source does not exist" in \
        status["last_run"]["error"] and status["consecutive_failures"] == 1
    fresh = judge(tmp_path / "store", builder.settings, now=AS_OF + timedelta(seconds=60))
    assert fresh.code == WARNING and "the last run failed" in fresh.line
    old = judge(tmp_path / "store", builder.settings, now=AS_OF + timedelta(hours=1))
    assert old.code == CRITICAL and "old (critical past 600 s)" in old.line


def test_status_of_a_builder_that_never_ran_is_unknown_and_a_stale_one_warns(tmp_path, keys,
                                                                            hospital):
    settings = BuilderSettings()
    assert judge(tmp_path, settings).code == UNKNOWN
    (tmp_path / ".builder-status.json").write_text("{not json")
    assert judge(tmp_path, settings).code == UNKNOWN
    builder = make_builder(tmp_path, keys, hospital)
    builder.run_once()
    assert judge(tmp_path / "store", builder.settings,
                 now=AS_OF + timedelta(seconds=300)).code == WARNING  # past 120 s


def test_builder_status_exits_as_a_monitoring_plugin(tmp_path, keys, hospital):
    builder = make_builder(tmp_path, keys, hospital)
    config = tmp_path / "downtime.toml"
    config.write_text(f'[paths]\nstore = "{tmp_path / "store"}"\n'
                      "[builder]\nwarn_age_seconds = 1\ncritical_age_seconds = 1000000000\n")
    never = CliRunner().invoke(cli, ["--config", str(config), "builder", "status"])
    assert never.exit_code == UNKNOWN and never.output.startswith("BUILDER UNKNOWN - ")
    builder.run_once()
    warned = CliRunner().invoke(cli, ["--config", str(config), "builder", "status", "--json"])
    body = json.loads(warned.output)
    assert warned.exit_code == WARNING and body["state"] == "WARNING"
    assert body["last_success"]["sequence"] == 1 and body["data_age_seconds"] > 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[builder]\nevery_seconds = -1\n")
    unknown = CliRunner().invoke(cli, ["--config", str(bad), "builder", "status"])
    assert unknown.exit_code == UNKNOWN and "every_seconds must be a number greater than 0" \
        in unknown.output  # the check cannot run: UNKNOWN, as a monitoring plugin says
