"""Continuous refresh at 1,000 inpatients under live change traffic (issue 10, section 6):
how old is the data on a unit workstation? Runs on its own too:

    .venv/bin/python tests/bench/run.py bench_refresh
    DOWNTIME_BENCH_REFRESH_MINUTES=20 .venv/bin/python tests/bench/run.py bench_refresh

The sandbox serves the 1,000-inpatient hospital with a hospital's day of changes flowing in
(RATE per hour per inpatient); a real `downtime builder` process pulls, builds and publishes
into an inbox, a real `downtime agent` process installs from it into the workstation's store.
Every PROBE_SECONDS the benchmark commits a probe (a heart rate of a 4W patient) at the
sandbox and notes the time; whenever a newer 4W snapshot is installed it opens it (as the
workstation would) and notes which probes it holds. A probe's data age is the time from its
commit to the install of the first snapshot that holds it. Target: p95 <= 60 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from downtime.provision import provision_keys
from downtime.sandbox import start_sandbox
from downtime.sandbox.cache import default_cache_dir
from snapshots.keys import load_identity
from snapshots.sealed import open_snapshot
from snapshots.store import newest_per_scope
from tests.bench.common import BenchRow, hospital_1000

MINUTES = float(os.environ.get("DOWNTIME_BENCH_REFRESH_MINUTES", "10"))
RATE = 6.0  # changes per hour per inpatient: vitals, doses, labs, orders, notes, moves
EVERY = 30  # seconds between the builder's runs
PROBE_SECONDS = 10
PASS = "bench refresh passphrase"
DOWNTIME = str(Path(sys.executable).parent / "downtime")


def _site(work: Path, base_url: str) -> tuple[Path, Path]:
    keys = work / "keys"
    table = provision_keys(keys, PASS, ["4W", "5E", "BH", "CCU", "ICU", "MAT", "PED"])
    units = "".join(f'"{u}" = {_list(r)}\n' for u, r in table["units"].items())
    recipients = (f"[recipients]\nescrow = {_list(table['escrow'])}\n"
                  f"pharmacy = {_list(table['pharmacy'])}\nbuilder = {_list(table['builder'])}"
                  f"\n[recipients.units]\n{units}")
    (work / "inbox").mkdir()
    builder = work / "builder.toml"
    builder.write_text(f'[paths]\nstore = "builder-store"\nkeys = "keys"\n'
                       f'signing_key = "keys/builder.pem"\n[source]\nurl = "{base_url}"\n'
                       f'[builder]\nevery_seconds = {EVERY}\npublish = ["inbox"]\n'
                       f"{recipients}")
    workstation = work / "ws.toml"
    workstation.write_text('[paths]\ninbox = "inbox"\nstore = "ws-store"\n'
                           'identity = "keys/ws-4W-1.age"\n'
                           'trusted_builder_key = "keys/builder.pub"\n')
    (work / "pass").write_text(PASS + "\n")
    (work / "pass").chmod(0o600)
    return builder, workstation


def _list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _probe(http: httpx.Client, n: int, patient: str) -> float:
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    http.put(f"Observation/probe-{n}", json={
        "resourceType": "Observation", "id": f"probe-{n}", "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4",
                             "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when,
        "valueQuantity": {"value": 70 + n % 20, "unit": "/min",
                          "system": "http://unitsofmeasure.org", "code": "/min"}},
        headers={"Content-Type": "application/fhir+json"}).raise_for_status()
    return time.time()


def _probes_in(path: Path, trusted, identity) -> set[int]:
    snapshot = open_snapshot(path, trusted, [identity])
    try:
        return {int(r[0].split("-")[1]) for r in snapshot.db.execute(
            "SELECT src_id FROM observations WHERE src_id LIKE 'probe-%'")}
    finally:
        snapshot.close()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run() -> list[BenchRow]:
    from snapshots.keys import load_public_key

    work = Path(tempfile.mkdtemp(prefix="bench-refresh-"))
    procs: list[subprocess.Popen] = []
    try:
        with start_sandbox(work / "sb", load=hospital_1000(work),
                           cache_dir=default_cache_dir()) as sandbox:
            builder_config, ws_config = _site(work, sandbox.base_url)
            identity = load_identity(work / "keys" / "ws-4W-1.age", PASS)
            trusted = load_public_key(work / "keys" / "builder.pub")
            env = {**os.environ, "DOWNTIME_PASSPHRASE": PASS}
            log = (work / "procs.log").open("w")
            procs.append(subprocess.Popen([DOWNTIME, "--config", str(builder_config),
                                           "builder"], env=env, stdout=log, stderr=log))
            procs.append(subprocess.Popen([DOWNTIME, "--config", str(ws_config), "agent"],
                                          stdout=log, stderr=log))
            store = work / "ws-store"
            with httpx.Client(base_url=sandbox.base_url, timeout=60) as http:
                patient = next(e["resource"]["subject"]["reference"].split("/")[1]
                               for e in http.get("Encounter", params={
                                   "status": "in-progress", "_count": 50}).json()["entry"]
                               if e["resource"]["location"][0]["location"]["reference"]
                               .startswith("Location/bed-4W-"))
                while not newest_per_scope(store).get("unit:4W"):  # the first full build
                    time.sleep(1)
                sandbox.start_live(RATE, seed=3)
                committed: dict[int, float] = {}
                delivered: dict[int, float] = {}
                seen: set[Path] = set()
                end, next_probe, n = time.time() + MINUTES * 60, 0.0, 0
                while time.time() < end or len(delivered) < len(committed):
                    now = time.time()
                    if now >= next_probe and now < end:
                        committed[n] = _probe(http, n, patient)
                        n, next_probe = n + 1, now + PROBE_SECONDS
                    newest = newest_per_scope(store).get("unit:4W")
                    if newest and newest.path not in seen:
                        seen.add(newest.path)
                        installed = time.time()
                        for k in _probes_in(newest.path, trusted, identity):
                            delivered.setdefault(k, installed)
                    if time.time() > end + 300:
                        break  # a probe never arrived: counted as missing below
                    time.sleep(0.5)
                sandbox.stop_live()
        ages = [delivered[k] - committed[k] for k in committed if k in delivered]
        missing = len(committed) - len(ages)
        p50, p95 = statistics.median(ages), _percentile(ages, 0.95)
        return [BenchRow(f"data age on a 4W workstation, 1,000 inpatients, {RATE:g} changes/h/"
                         f"inpatient, builder every {EVERY} s, {MINUTES:g} min, "
                         f"{len(ages)} probes (p50 {p50:.0f} s, max {max(ages):.0f} s"
                         f"{f', {missing} never arrived' if missing else ''})", p95, "s",
                         None, "p95 <= 60 s", p95 <= 60 and not missing)]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for row in run():
        print(row)
