"""Packets laid out on every core: a unit's packet (`downtime print packet --unit 4W`, when the
unit has enough patients to be worth it) or every unit's (`--unit ALL`), laid out in parallel
by a pool of os.cpu_count() worker processes and joined into one PDF in unit order.

WeasyPrint is pure Python for layout, so one process uses one core. Each unit's packet is cut
into chunks of a few patients (the unit's census goes with its first chunk), every form being
its own document either way: whole units (a 1,000-patient house has units of 99 to 222
patients) left one of two workers idle for the last tenth of the run, small chunks keep every
worker busy to the end. Starting the pool costs about a second (each worker imports
WeasyPrint), so a unit of fewer than PARALLEL_PATIENTS patients is laid out in the caller's
process instead (forms.jobs). The workers get the snapshot's database image once, through the pool's
pipe (memory to memory, nothing on disk, no keys handed over), and send back each chunk's PDF
and form records; the parent joins the PDFs in unit and patient order with pdfium and
registers and prints as for any job. Progress counts
forms laid out in any worker (they report through a queue).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from datetime import datetime
from multiprocessing import forkserver, resource_tracker
from multiprocessing.queues import Queue
from pathlib import Path

import pypdfium2 as pdfium

from snapshots import chart
from snapshots.manifest import Manifest
from snapshots.sealed import OpenedSnapshot, load_database

from .registry import FormRecord
from .render import FormContext, FormError, plan, render_pdf

_worker_snapshot: OpenedSnapshot | None = None
_worker_laid_out: Queue | None = None  # one item per form laid out, for the parent's progress


def _start_worker(image: bytes, path: Path, manifest: Manifest, laid_out: Queue) -> None:
    global _worker_snapshot, _worker_laid_out
    _worker_snapshot = OpenedSnapshot(path, manifest, load_database(image))
    _worker_laid_out = laid_out


def _tick(_: int) -> None:
    if _worker_laid_out is not None:
        _worker_laid_out.put(1)


CHUNK_PATIENTS = 8  # patients a chunk: small enough that no worker waits long at the end
PARALLEL_PATIENTS = 2 * CHUNK_PATIENTS  # a unit packet smaller than this stays in one process


def _render_chunk(unit: str, patient_ids: list[str], census: bool, paper: str,
                  printed_by: str, now: datetime) -> tuple[bytes, int, list[dict], float]:
    """Part of a unit's packet: its census if `census`, then each patient's forms, in the
    order of `plan(ctx, "packet")`."""
    assert _worker_snapshot is not None
    cpu = time.process_time()
    ctx = FormContext(_worker_snapshot, unit, printed_by, now, paper)
    steps = plan(ctx, "packet", patient_ids)
    forms = [step() for step in (steps if census else steps[1:])]
    pdf, pages = render_pdf(forms, _tick)
    return pdf, pages, [asdict(f.record) for f in forms], time.process_time() - cpu


def occupied_units(snapshot: OpenedSnapshot) -> list[tuple[str, int]]:
    """(unit, patients) for every unit with patients, biggest first."""
    return sorted(((code, n) for code, _, n in chart.units(snapshot.db) if n),
                  key=lambda u: -u[1])


def join_pdfs(pdfs: Sequence[bytes]) -> bytes:
    """One PDF with the pages of each, in order."""
    joined = pdfium.PdfDocument.new()
    for pdf in pdfs:
        joined.import_pages(pdfium.PdfDocument(pdf))
    out = io.BytesIO()
    joined.save(out)
    return out.getvalue()


def _context() -> multiprocessing.context.BaseContext:
    # forkserver/spawn, never fork: the caller may have threads (the TUI, the agent), and a
    # forked child of a threaded process can deadlock on a lock held at the fork.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    _start_helpers(context)
    return context


def _start_helpers(context: multiprocessing.context.BaseContext) -> None:
    """Start multiprocessing's resource tracker (and fork server) now if sys.stderr has no
    file descriptor, with /dev/null standing in: the tracker is started once per process
    and hands sys.stderr's descriptor to its child, and a TUI that captures output (Textual's
    says -1) made every pool fail with "bad value(s) in fds_to_keep"."""
    try:
        if sys.stderr is not None and sys.stderr.fileno() >= 0:
            return
    except (AttributeError, ValueError, OSError):
        pass
    with open(os.devnull, "w") as devnull:
        saved, sys.stderr = sys.stderr, devnull
        try:
            resource_tracker.ensure_running()
            if context.get_start_method() == "forkserver":
                forkserver.ensure_running()
        finally:
            sys.stderr = saved


def parallel_worth_it(snapshot: OpenedSnapshot, unit: str) -> bool:
    """Whether a unit's packet is big enough to lay out on several cores (this machine has
    them, and the unit enough patients to pay for starting the workers)."""
    return (os.cpu_count() or 1) > 1 and len(chart.census(snapshot.db, unit)) >= \
        PARALLEL_PATIENTS


def render_hospital(snapshot: OpenedSnapshot, paper: str, printed_by: str, now: datetime,
                    progress: Callable[[int, int], None] | None = None,
                    workers: int | None = None, stats: dict[str, float] | None = None
                    ) -> tuple[bytes, int, list[FormRecord]]:
    """Every unit's packet, rendered in parallel, joined in unit order (biggest first)."""
    units = occupied_units(snapshot)
    if not units:
        raise FormError("nothing to print: no unit in this snapshot has patients")
    return render_packets(snapshot, units, paper, printed_by, now, progress, workers, stats)


def render_packets(snapshot: OpenedSnapshot, units: Sequence[tuple[str, int]], paper: str,
                   printed_by: str, now: datetime,
                   progress: Callable[[int, int], None] | None = None,
                   workers: int | None = None, stats: dict[str, float] | None = None
                   ) -> tuple[bytes, int, list[FormRecord]]:
    """The packets of `units` ((unit, patients) pairs), in that order, laid out in parallel.
    `stats`, if given, gets the workers' CPU seconds ("worker_cpu_s") and their number: on a
    shared machine that says whether the cores were ours."""
    total = sum(1 + 4 * n for _, n in units)  # a packet: census, then 4 forms a patient
    chunks = []  # (unit, patient ids, with the census), in the packet's order
    for unit, _ in units:
        ids = [r.patient_id for r in chart.census(snapshot.db, unit)]
        chunks.extend((unit, ids[i:i + CHUNK_PATIENTS], i == 0)
                      for i in range(0, len(ids), CHUNK_PATIENTS))
    workers = max(1, min(workers or os.cpu_count() or 1, len(chunks)))
    image = snapshot.db.serialize()
    results: dict[int, tuple[bytes, int, list[dict], float]] = {}
    mp = _context()
    laid_out = mp.Queue()
    with ProcessPoolExecutor(workers, mp_context=mp, initializer=_start_worker,
                             initargs=(image, snapshot.path, snapshot.manifest,
                                       laid_out)) as pool:
        futures = {pool.submit(_render_chunk, unit, ids, census, paper, printed_by, now): n
                   for n, (unit, ids, census) in enumerate(chunks)}
        del image
        pending, done = set(futures), 0
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                results[futures[future]] = future.result()
            while not laid_out.empty():
                laid_out.get_nowait()
                done += 1
            if progress:  # per form laid out, in any worker; the end when all are back
                progress(min(done, total - 1) if pending else total, total)
    ordered = [results[n] for n in range(len(chunks))]
    if stats is not None:
        stats.update(worker_cpu_s=sum(r[3] for r in ordered), workers=workers)
    pdf = join_pdfs([r[0] for r in ordered]) if len(ordered) > 1 else ordered[0][0]
    return (pdf, sum(r[1] for r in ordered),
            [FormRecord(**record) for r in ordered for record in r[2]])
