"""Snapshot benchmarks: full build, incremental build, open, and peak memory.

The naive path is what a developer writes first: validate every resource with fhir.resources
and store each as JSON with sqlite-utils `insert_all` in batches.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from snapshots import chart
from snapshots.publish import Recipients, publish
from snapshots.sealed import open_snapshot
from tests.bench.common import BenchRow, median_timed, timed
from tests.factory import Keys

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def generate(out: Path, patients: int) -> int:
    from downtime.generator import generate as make

    summary = make(out, patients=patients, seed=7, as_of=AS_OF)
    return sum(summary.resources.values())


def naive_ingest(source: Path) -> int:
    """Validate each resource with fhir.resources and store it as JSON (sqlite-utils)."""
    import sqlite_utils
    from fhir.resources.R4B import get_fhir_model_class

    db = sqlite_utils.Database(memory=True)
    count, batch = 0, []
    for path in sorted(source.glob("*.ndjson")):
        for line in path.open():
            data = json.loads(line)
            try:
                get_fhir_model_class(data["resourceType"]).model_validate(data)
            except Exception:
                continue
            batch.append({"id": f"{data['resourceType']}/{data['id']}",
                          "type": data["resourceType"], "json": line})
            count += 1
            if len(batch) >= 1000:
                db["resources"].insert_all(batch, pk="id", replace=True)
                batch = []
    db["resources"].insert_all(batch, pk="id", replace=True)
    return count


def full_build(source: Path, out: Path, keys: Keys):
    from snapshots.pipeline import build_database
    from snapshots.settings import BuildSettings

    result = build_database(source, BuildSettings(as_of=AS_OF))
    written = publish(result.conn, out, recipients=_recipients(keys), signing_key=keys.signing,
                      as_of=AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ"), source=str(source))
    return result, written


def _recipients(keys: Keys) -> Recipients:
    return Recipients(escrow=[keys.escrow.recipient], pharmacy=[keys.pharmacy.recipient],
                      builder=[keys.unit.recipient])


def make_delta(source: Path, delta: Path, fraction: float = 0.02) -> int:
    """Copy ~2% of the resources, changed (a new lastUpdated and a touched field)."""
    rng = random.Random(3)
    delta.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.glob("*.ndjson")):
        lines = []
        for line in path.open("rb"):
            if rng.random() < fraction:
                data = orjson.loads(line)
                data.setdefault("meta", {})["lastUpdated"] = "2026-11-25T13:59:00Z"
                lines.append(orjson.dumps(data))
        if lines:
            (delta / path.name).write_bytes(b"\n".join(lines) + b"\n")
            count += len(lines)
    return count


def incremental(previous: Path, delta: Path, keys: Keys, out: Path):
    from snapshots.incremental import refresh_database
    from snapshots.settings import BuildSettings

    settings = BuildSettings(as_of=AS_OF + timedelta(minutes=10))
    result, prev_id = refresh_database(previous, delta, settings, keys.unit, keys.trusted)
    return publish(result.conn, out, recipients=_recipients(keys), signing_key=keys.signing,
                   as_of=AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ"), source="delta",
                   previous_id=prev_id)


def open_and_census(path: Path, keys: Keys) -> int:
    snap = open_snapshot(path, keys.trusted, [keys.pharmacy])
    rows = chart.census(snap.db)
    snap.close()
    return len(rows)



def run() -> list[BenchRow]:
    rows: list[BenchRow] = []
    work = Path(tempfile.mkdtemp(prefix="bench-snap-"))
    keys = Keys()
    try:
        source = work / "src1000"
        resources = generate(source, 1000)
        t_ours, (result, written) = timed(lambda: full_build(source, work / "out", keys))
        t_naive, _ = timed(lambda: naive_ingest(source))
        rate, naive_rate = resources / t_ours, resources / t_naive
        rows.append(BenchRow(f"full build, 1,000 inpatients ({resources:,} resources)", rate,
                             "resources/s", naive_rate, ">= 5x naive and >= 50,000/s",
                             rate >= 50_000 and rate / naive_rate >= 5))
        house = written[0][0]
        delta_count = make_delta(source, work / "delta")
        t_inc, _ = median_timed(lambda: incremental(house, work / "delta", keys, work / "out"))
        rows.append(BenchRow(f"incremental build, 2% delta ({delta_count:,} resources; "
                             "median of 3)", t_inc,
                             "s", t_ours, "< 1 s", t_inc < 1.0))
        t_open, n = median_timed(lambda: open_and_census(house, keys))
        rows.append(BenchRow(f"open + census of a 1,000-inpatient snapshot ({n} rows; median "
                             "of 3)", t_open,
                             "s", None, "< 0.5 s", t_open < 0.5))
        result.conn.close()
        build_peak, open_peak = _peaks(work, keys, 5000)
        rows.append(BenchRow("peak memory building a 5,000-inpatient snapshot", build_peak,
                             "MiB", None, "(no target)", None))
        rows.append(BenchRow("peak memory opening a 5,000-inpatient snapshot", open_peak, "MiB",
                             None, "< 500 MB (476.8 MiB)", open_peak < 500e6 / 2**20))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


ROOT = str(Path(__file__).resolve().parents[2])
# A child prints its own peak resident memory (MiB) as its last line. VmHWM, not ru_maxrss:
# a child started by vfork + exec inherits the parent's ru_maxrss (this benchmark's parent has
# just built 1,000 inpatients), so ru_maxrss would report the parent's peak, not the child's.
_PEAK = """
import resource
try:
    hwm = [x for x in open("/proc/self/status") if x.startswith("VmHWM:")][0].split()[1]
except (OSError, IndexError):
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(int(hwm) / 1024)
"""


def _peaks(work: Path, keys: Keys, patients: int) -> tuple[float, float]:
    """Peak memory (MiB) of building, then of opening, a large snapshot: each in a fresh
    process, so nothing this process holds (the generator, the 1,000-inpatient runs) counts.
    The build includes sealing (publish); the open, the first census query."""
    source = work / f"src{patients}"
    generate(source, patients)
    out = work / f"out{patients}"
    signing = keys.signing.private_bytes_raw().hex()
    build = f"""
import sys; sys.path.insert(0, {ROOT!r})
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from snapshots.pipeline import build_database
from snapshots.publish import Recipients, publish
from snapshots.settings import BuildSettings
from tests.bench.bench_snapshots import AS_OF
result = build_database({str(source)!r}, BuildSettings(as_of=AS_OF))
written = publish(result.conn, {str(out)!r}, signing_key=Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex({signing!r})), recipients=Recipients(escrow=[{keys.escrow.recipient!r}],
    pharmacy=[{keys.pharmacy.recipient!r}], builder=[{keys.unit.recipient!r}]),
    as_of="2026-11-25T14:00:00Z", source="bench")
print(written[0][0])
{_PEAK}
"""
    lines = _child(build)
    shutil.rmtree(source)
    path, build_peak = lines[-2], float(lines[-1])
    secret = str(keys.pharmacy.secret)
    pub = keys.trusted.public_bytes_raw().hex()
    opening = f"""
import sys; sys.path.insert(0, {ROOT!r})
import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from snapshots.keys import Identity
from snapshots.sealed import open_snapshot
from snapshots import chart
ident = Identity("pharmacy", pyrage.x25519.Identity.from_str({secret!r}))
key = Ed25519PublicKey.from_public_bytes(bytes.fromhex({pub!r}))
snap = open_snapshot({path!r}, key, [ident])
chart.census(snap.db)
{_PEAK}
"""
    return build_peak, float(_child(opening)[-1])


def _child(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ})
    return out.stdout.splitlines()
