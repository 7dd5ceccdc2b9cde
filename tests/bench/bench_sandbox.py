"""Sandbox benchmarks: loading a generated hospital, starting from the load cache, and paging
the census through sekmet with `_include` (what ANALYZE after a load is for).

Ours is downtime.sandbox.loader.build_database (rows through sekmet's schema and indexer,
indexes built after the rows); the naive path is sekmet's own Store.update per resource in
one transaction, on a tenth of the hospital (its rate is flat in the size). The 1,000-
inpatient sandbox comes from the load cache (~/.cache/downtime/sandbox) when an earlier run
left it there: the row then says "from the cache".
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx

from downtime.sandbox import start_sandbox
from downtime.sandbox.cache import default_cache_dir
from downtime.sandbox.loader import build_database, load_into_store
from tests.bench.common import BenchRow, timed

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def _generate(out: Path, patients: int) -> int:
    from downtime.generator import generate

    return sum(generate(out, patients=patients, seed=7, as_of=AS_OF).resources.values())


def _naive(source: Path, db: Path) -> None:
    from sekmet.fhir.store import Store

    store = Store(str(db))
    try:
        load_into_store(store, source)
    finally:
        store.conn.close()


def _census_pages(base: str) -> int:
    url, found = (f"{base}/Encounter?status=in-progress&_count=200&_include=Encounter:patient"
                  "&_include=Encounter:location"), 0
    with httpx.Client(timeout=600) as client:
        while url:
            page = client.get(url).json()
            found += sum(1 for e in page.get("entry", []) if e["search"]["mode"] == "match")
            url = next((link["url"] for link in page.get("link", [])
                        if link["relation"] == "next"), None)
    return found


def run() -> list[BenchRow]:
    rows: list[BenchRow] = []
    work = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    try:
        small = work / "h100"
        count = _generate(small, 100)
        t_ours, _ = timed(lambda: build_database(work / "ours.db", small))
        t_naive, _ = timed(lambda: _naive(small, work / "naive.db"))
        rows.append(BenchRow(f"sandbox load, 100 inpatients ({count:,} resources)",
                             count / t_ours, "resources/s", count / t_naive,
                             "faster than sekmet's Store", t_ours < t_naive))
        big = work / "h1000"
        count = _generate(big, 1000)
        t_start, sandbox = timed(lambda: start_sandbox(work / "sb", load=big,
                                                       cache_dir=default_cache_dir()))
        with sandbox:
            how = "from the cache" if sandbox.loaded.cached else "loaded"
            rows.append(BenchRow(f"sandbox start, 1,000 inpatients {how} ({count:,} "
                                 "resources)", t_start, "s", None,
                                 "minutes, not hours (< 300 s)", t_start < 300))
            t_pages, found = timed(lambda: _census_pages(sandbox.base_url))
            rows.append(BenchRow(f"page every in-progress Encounter + 2 _include ({found:,})",
                                 t_pages, "s", None, "(no target; 87 s without ANALYZE at "
                                                     "3,750)", None))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
