"""Form rendering benchmarks: a 30-patient unit packet (ours and the naive path), the whole
1,000-inpatient hospital's packets on both cores, and a pre-rendered packet's time to CUPS.

Naive path: one WeasyPrint document per patient (face sheet, MAR, orders, note together), the
stylesheet parsed for every document, the MAR grid as a table with a cell per hour.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from weasyprint import CSS, HTML

from forms.jobs import PrintRequest, run_print_job
from forms.prerender import prerender_packet
from forms.registry import FormRegistry
from forms.render import TEMPLATES, FormContext, patient_form, plan, render_pdf
from snapshots import chart
from snapshots.build import build_database
from snapshots.publish import Recipients, publish
from snapshots.sealed import open_snapshot
from snapshots.settings import BuildSettings
from tests.bench.common import BenchRow
from tests.cups import PDF_QUEUE, private_cups
from tests.factory import Keys

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
_GRID = re.compile(r'<td class="grid"[^>]*></td>')


def _site(work: Path, patients: int, keys: Keys) -> Path:
    from downtime.generator import generate

    generate(work / "src", patients=patients, seed=11, as_of=AS_OF)
    result = build_database(work / "src", BuildSettings(as_of=AS_OF))
    written = publish(result.conn, work / "store", recipients=Recipients(
        pharmacy=[keys.pharmacy.recipient]), signing_key=keys.signing,
        as_of="2026-11-25T14:00:00Z", source="bench")
    return written[0][0]


def _naive(snapshot, unit: str) -> int:
    ctx = FormContext(snapshot, unit, "bench", AS_OF)
    pages = 0
    for row in chart.census(snapshot.db, unit):
        forms = [patient_form(ctx, kind, row.patient_id)
                 for kind in ("facesheet", "mar", "orders", "note")]
        bodies = [_GRID.sub("".join("<td></td>" for _ in range(24)), f.html) for f in forms]
        html = "".join(bodies)
        document = HTML(string=html, base_url=str(TEMPLATES)).render(
            stylesheets=[CSS(filename=str(TEMPLATES / "print.css"))])
        document.write_pdf()
        pages += len(document.pages)
    return pages


def _ours(snapshot, unit: str) -> int:
    ctx = FormContext(snapshot, unit, "bench", AS_OF)
    _, pages = render_pdf([step() for step in plan(ctx, "packet", None)])
    return pages


def _unit_worker(args: tuple[str, str, str, str]) -> int:
    path, secret, public_hex, unit = args
    import pyrage
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from snapshots.keys import Identity

    snap = open_snapshot(Path(path), Ed25519PublicKey.from_public_bytes(bytes.fromhex(
        public_hex)), [Identity("pharmacy", pyrage.x25519.Identity.from_str(secret))])
    return _ours(snap, unit)


def run() -> list[BenchRow]:
    rows: list[BenchRow] = []
    work = Path(tempfile.mkdtemp(prefix="bench-forms-"))
    keys = Keys()
    try:
        house = _site(work, 136, keys)  # 4 West gets 30 patients
        snap = open_snapshot(house, keys.trusted, [keys.pharmacy])
        unit = max(chart.units(snap.db), key=lambda u: u[2])[0]
        t0 = time.perf_counter()
        ours_pages = _ours(snap, unit)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        naive_pages = _naive(snap, unit)
        t_naive = time.perf_counter() - t0
        census = len(chart.census(snap.db, unit))
        rows.append(BenchRow(f"unit packet, {census} patients ({ours_pages} pages), one core",
                             ours_pages / t_ours, "pages/s", naive_pages / t_naive,
                             ">= 20 pages/s per core and >= 3x naive",
                             ours_pages / t_ours >= 20 and
                             (ours_pages / t_ours) / (naive_pages / t_naive) >= 3))
        rows.append(_prerendered(work, snap, unit, keys))
        rows.append(_hospital(work, keys))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _prerendered(work: Path, snap, unit: str, keys: Keys) -> BenchRow:
    folder = work / "pre"
    prerender_packet(snap, unit, folder, [keys.pharmacy.recipient])
    registry = FormRegistry(work / "registry", [keys.pharmacy.recipient])
    request = PrintRequest("packet", unit, printer=PDF_QUEUE)
    with private_cups() as server, _environment(CUPS_SERVER=server):
        t0 = time.perf_counter()
        run_print_job(snap, request, registry, prerendered=(folder, [keys.pharmacy.secret]))
        elapsed = time.perf_counter() - t0
    return BenchRow(f"pre-rendered packet: command to pages handed to CUPS queue {PDF_QUEUE}",
                    elapsed, "s", None, "< 1 s", elapsed < 1.0)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _hospital(work: Path, keys: Keys) -> BenchRow:
    big = work / "big"
    house = _site(big, 1000, keys)
    snap = open_snapshot(house, keys.trusted, [keys.pharmacy])
    units = [u for u, _, n in chart.units(snap.db) if n]
    snap.close()
    args = [(str(house), str(keys.pharmacy.secret), keys.trusted.public_bytes_raw().hex(), u)
            for u in units]
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pages = sum(pool.map(_unit_worker, args))
    elapsed = time.perf_counter() - t0
    return BenchRow(f"whole-hospital packets, 1,000 inpatients ({pages:,} pages), 2 cores",
                    pages / elapsed, "pages/s", None, ">= 40 pages/s on 2 cores",
                    pages / elapsed >= 40)
