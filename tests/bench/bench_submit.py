"""Submission to the sandbox (`reconcile submit`, reconcile/submit.py): transaction Bundles per
second, one a patient (nine entries, four scanned pages, their Provenances: 27 resources), each
outcome journaled (encrypted, fsynced) and audited; and the time to resume after a kill. The
submitter runs in its own process, as `downtime reconcile submit` does.

- Bundles/s: the first submission of PATIENTS patients (every resource created), end to end
  (process start, journal read, plan, pages decrypted, Bundles built and validated, sent) and
  between its first and last Bundle (the sending loop alone); then the same Bundles sent again
  without the journal (every resource found by its `ifNoneExist`).
- Resume: the submitter is SIGKILLed once half its Bundles are journaled, then run again, from
  its process start to its last Bundle (its first Bundle's time is shown too). Naive, on
  another PATIENTS patients killed at the same point: a resume that relies on the server alone
  and sends everything again (the episode as it was before any submission; the server creates
  nothing twice either way).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.common import BenchRow

PATIENTS = 30
ROOT = Path(__file__).resolve().parents[2]

SUBMITTER = """
import sys, time
t0 = time.perf_counter()
import pyrage
from reconcile.episode import load_episode
from reconcile.submit import ToServer, submit
from snapshots.audit import AuditLog
from snapshots.fhir_client.client import FhirClient
from snapshots.fhir_client.settings import ClientSettings
folder, episode_id, identity, url, audit = sys.argv[1:6]
ident = pyrage.x25519.Identity.from_str(identity)
episode = load_episode(folder, episode_id, [str(ident.to_public())], [ident], "bench@him-1")
with FhirClient(ClientSettings(url=url, retries=2)) as client:
    result = submit(episode, ToServer(client), AuditLog(audit), on_bundle=lambda o: print(
        "bundle", o.status, f"{time.perf_counter() - t0:.4f}", flush=True))
print("done", len(result.outcomes), f"{time.perf_counter() - t0:.4f}", flush=True)
"""


def _inpatients(base: str, n: int) -> list[tuple[str, str]]:
    import httpx

    found: dict[str, str] = {}
    url = f"{base}/Encounter?status=in-progress&_count=200"
    with httpx.Client(timeout=60) as client:
        while url and len(found) < n:
            page = client.get(url).json()
            for e in page.get("entry", []):
                ref = e["resource"]["subject"]["reference"]
                if "Patient/" in ref:  # some are absolute, as EHRs write them
                    found.setdefault(ref.rsplit("/", 1)[-1], e["resource"]["id"])
            url = next((x["url"] for x in page.get("link", []) if x["relation"] == "next"),
                       None)
    return sorted(found.items())[:n]


def _args(folder: Path, episode_id: str, ident, base: str, audit: Path) -> list[str]:  # noqa: ANN001
    return [sys.executable, "-c", SUBMITTER, str(folder), episode_id, str(ident), base,
            str(audit)]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _last(output: str) -> tuple[int, float]:
    _, count, seconds = output.strip().splitlines()[-1].split()
    return int(count), float(seconds)


def run() -> list[BenchRow]:
    from downtime.generator import generate
    from downtime.sandbox import start_sandbox
    from tests.submit_helpers import patients_episode

    work = Path(tempfile.mkdtemp(prefix="bench-submit-"))
    try:
        generate(work / "hospital", patients=3 * PATIENTS + 40, seed=5,
                 as_of=datetime.now(UTC).replace(microsecond=0))
        with start_sandbox(work / "sandbox", load=work / "hospital") as sandbox:
            people = _inpatients(sandbox.base_url, 3 * PATIENTS)
            sets = [people[i * PATIENTS:(i + 1) * PATIENTS] for i in range(3)]
            rows = _rate(work, sandbox.base_url, sets[0], patients_episode)
            rows.append(_resume(work, sandbox.base_url, sets[1], sets[2], patients_episode))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _rate(work: Path, base: str, people, patients_episode) -> list[BenchRow]:  # noqa: ANN001
    episode, ident, _, _ = patients_episode(work / "rate", people, seed=11, registration=False)
    pristine = work / "rate-before"
    shutil.copytree(work / "rate", pristine)
    audit = work / "audit-rate.log"
    done = subprocess.run(_args(work / "rate", episode.id, ident, base, audit),
                          capture_output=True, text=True, env=_env(), check=True)
    count, seconds = _last(done.stdout)
    times = [float(line.split()[2]) for line in done.stdout.splitlines()
             if line.startswith("bundle")]
    again = subprocess.run(_args(pristine, episode.id, ident, base, audit),
                           capture_output=True, text=True, env=_env(), check=True)
    count2, seconds2 = _last(again.stdout)
    return [BenchRow(f"submit {count} Bundles (27 resources each) to the sandbox, first time, "
                     f"end to end ({seconds:.1f} s)", count / seconds, "Bundles/s",
                     target="reported"),
            BenchRow("  the same, first Bundle to last (the sending loop: HTTP, journal, audit)",
                     (len(times) - 1) / (times[-1] - times[0]), "Bundles/s",
                     target="reported"),
            BenchRow(f"the same {count2} Bundles again, end to end (every resource found by "
                     "ifNoneExist)", count2 / seconds2, "Bundles/s", target="reported")]


def _killed_half_way(folder: Path, base: str, people, patients_episode,  # noqa: ANN001
                     seed: int) -> tuple[list[str], Path]:
    """An episode whose submitter was SIGKILLed once half its Bundles were journaled: the
    rerun's command line, and a copy of the episode from before any submission."""
    episode, ident, _, _ = patients_episode(folder, people, seed=seed, registration=False)
    pristine = folder.with_name(folder.name + "-before")
    shutil.copytree(folder, pristine)
    args = _args(folder, episode.id, ident, base, folder.with_suffix(".audit.log"))
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=_env())
    for _ in range(len(people) // 2):
        proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return args, pristine


def _timed_run(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=_env(), check=True)
    return time.perf_counter() - started, done.stdout


def _resume(work: Path, base: str, ours_people, naive_people,  # noqa: ANN001
            patients_episode) -> BenchRow:  # noqa: ANN001
    args, _ = _killed_half_way(work / "kill", base, ours_people, patients_episode, 12)
    ours, out = _timed_run(args)
    lines = out.strip().splitlines()
    first_bundle = float(lines[0].split()[2]) if lines[0].startswith("bundle") else ours
    count, _ = _last(out)
    args, pristine = _killed_half_way(work / "naive", base, naive_people, patients_episode, 13)
    args[3] = str(pristine)  # the journal without its bundle-submitted events: send all
    naive, _ = _timed_run(args)
    n = len(ours_people)
    return BenchRow(f"resume after SIGKILL at {n // 2} of {n} Bundles: the rerun, process "
                    f"start to last Bundle ({count} sent; the first after {first_bundle:.2f} s)",
                    ours, "s", naive=naive, target="reported (naive: send all again)")
