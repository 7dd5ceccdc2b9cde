"""Pulling the 1,000-inpatient hospital from the sandbox (issue 10, section 6).

- Bulk mode (our client's export, downloads and build) beside the raw transfer of the same
  export (curl polling the status URL and fetching each file, then the build of the files on
  disk): the client's own overhead shows. Target: within 1.5x.
- Search mode beside the naive client a developer writes first: for each census patient,
  for each chart type, one search at a time following the pages. Target: at least 5x. The
  naive client is timed on the first 100 patients and its rate applied to all (it is flat in
  the number of patients, and 1,000 would take many minutes).

The sandbox's date filters are slow (sekmet), so both search clients run without the windows
(`search_windows = false`), the naive one as a developer would. On loopback the server's own
cost per resource (sekmet serialises each) dominates, which no client can shorten; the second
search row puts 50 ms before each answer (the sandbox's `slow` fault), as a hospital network
or a cloud EHR does, where the number of requests is what a client decides.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from downtime.sandbox import start_sandbox
from downtime.sandbox.cache import default_cache_dir
from snapshots.fhir_client import ClientSettings, FhirClient
from snapshots.pipeline import build_database
from snapshots.pull import CHART_SEARCHES, pull
from snapshots.settings import BuildSettings
from tests.bench.common import BenchRow, hospital_1000, timed

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # bench_sandbox's: one cached database
NAIVE_SAMPLE = 100
LATENCY = 0.05  # seconds: a request to an EHR across the hospital's network, or a cloud one


def _raw_transfer(base: str, into: Path) -> float:
    """curl: kick off, poll every 0.2 s, download each file; the seconds it took."""
    started = time.perf_counter()
    head = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", "-H",
                           "Prefer: respond-async", "-H", "Accept: application/fhir+json",
                           f"{base}/$export"], capture_output=True, text=True, check=True)
    status = next(line.split(":", 1)[1].strip() for line in head.stdout.splitlines()
                  if line.lower().startswith("content-location:"))
    while True:
        answer = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", status],
                                capture_output=True, text=True, check=True)
        body, code = answer.stdout.rsplit("\n", 1)
        if code == "200":
            break
        time.sleep(0.2)
    into.mkdir()
    for n, item in enumerate(json.loads(body)["output"]):
        subprocess.run(["curl", "-s", "-o", str(into / f"{item['type']}.{n:03d}.ndjson"),
                        item["url"]], check=True)
    return time.perf_counter() - started


def _naive(base: str, patients: list[str]) -> float:
    """Per patient, per type, one search at a time, following the pages."""
    started = time.perf_counter()
    with httpx.Client(timeout=600, headers={"Accept": "application/fhir+json"}) as http:
        for patient in patients:
            for rtype, param, _, _ in CHART_SEARCHES:
                url: str | None = f"{base}/{rtype}?{param}=Patient/{patient}"
                while url:
                    page = http.get(url).json()
                    url = next((link["url"] for link in page.get("link", [])
                                if link["relation"] == "next"), None)
    return time.perf_counter() - started


def run() -> list[BenchRow]:
    rows: list[BenchRow] = []
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    settings = BuildSettings(as_of=AS_OF)
    try:
        with start_sandbox(work / "sb", load=hospital_1000(work),
                           cache_dir=default_cache_dir()) as sandbox:
            raw = _raw_transfer(sandbox.base_url, work / "raw")
            file_build, _ = timed(lambda: build_database(work / "raw", settings))
            shutil.rmtree(work / "raw")  # a plaintext export (synthetic): not kept
            bulk_settings = ClientSettings(url=sandbox.base_url, mode="bulk")
            with FhirClient(bulk_settings) as client:
                t_pull, pulled = timed(lambda: pull(client, settings))
            t_build, result = timed(lambda: build_database(pulled.source(), settings))
            ours, naive = t_pull + t_build, raw + file_build
            rows.append(BenchRow(
                f"Bulk pull + build, 1,000 inpatients ({pulled.resources:,} resources; pull "
                f"{t_pull:.1f} s, curl {raw:.1f} s)", ours, "s", naive,
                "<= 1.5x raw transfer + file build", ours <= 1.5 * naive))
            census = sorted({r.split("/")[1] for r in _census_patients(result)})
            for latency in (0.0, LATENCY):
                if latency:  # each request as far away as a hospital network puts the EHR
                    sandbox.set_fault("slow", seconds=latency)
                try:
                    rows.append(_search_row(sandbox.base_url, settings, census, latency))
                finally:
                    sandbox.clear_faults()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _search_row(base: str, settings: BuildSettings, census: list[str],
                latency: float) -> BenchRow:
    search_settings = ClientSettings(url=base, mode="search", search_windows=False,
                                     page_size=1000)
    with FhirClient(search_settings) as client:
        t_search, searched = timed(lambda: pull(client, settings))
    t_sample = _naive(base, census[:NAIVE_SAMPLE])
    naive_all = t_sample * len(census) / min(NAIVE_SAMPLE, len(census))
    where = f"{latency * 1000:.0f} ms a request" if latency else "on loopback"
    return BenchRow(f"search pull, 1,000 inpatients, {where} ({searched.resources:,} "
                    f"resources; naive timed on {NAIVE_SAMPLE} patients)", t_search, "s",
                    naive_all, ">= 5x the naive client", naive_all >= 5 * t_search)


def _census_patients(result) -> list[str]:
    return [f"Patient/{pid}" for (pid,) in result.conn.execute(
        "SELECT patient_id FROM encounters")]
