"""The whole scan path of Reconcile I: scanned pages indexed per second (raster + QR read +
encrypt + durable journal event, `reconcile.intake.scan_files`), in one process and on both
cores, beside the naive path (pdftoppm at 300 dpi to PNG files, then zxing-cpp on each whole
page with default options, nothing stored); and the watcher's latency from a file complete in
the inbox to its page filed (target < 2 s).

The scans: a 4W unit packet (tests/factory.py's five patients) printed to PDF and scanned by
tests/scansim.py at 200-300 dpi, grey, skewed, with noise, as multi-page PDFs of 10 sheets
(what a multifunction printer's feeder writes).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import zxingcpp
from PIL import Image

from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry
from reconcile.filing import Filer
from reconcile.intake import Watch, scan_files
from snapshots.sealed import open_snapshot
from tests.bench.common import BenchRow
from tests.factory import AS_OF, Keys, sealed_snapshot
from tests.reconcile_helpers import new_episode
from tests.scansim import Scan, scan_pages, to_jpeg, to_pdf


def _scans(work: Path) -> tuple[list[Path], int, bytes]:
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(work, keys), keys.trusted, [keys.unit])
    registry = FormRegistry(work / "registry", [keys.unit.recipient])
    run_print_job(snap, PrintRequest("packet", "4W", pdf_path=work / "packet.pdf"), registry,
                  now=AS_OF + timedelta(minutes=5))
    how = [Scan(dpi=(200, 250, 300)[i % 3], skew=(i % 5 - 2) * 0.6, seed=i) for i in range(400)]
    pages = scan_pages((work / "packet.pdf").read_bytes(), how)
    (work / "packet.pdf").unlink()
    files = []
    for n in range(0, len(pages), 10):
        path = work / "scans" / f"scan-{n // 10:03d}.pdf"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(to_pdf(pages[n:n + 10]))
        files.append(path)
    return files, len(pages), to_jpeg(pages[0])


def _ours(work: Path, files: list[Path], workers: int, tag: str) -> float:
    inbox = work / f"in-{tag}"
    inbox.mkdir()
    copies = [Path(shutil.copy(f, inbox / f.name)) for f in files]
    filer = Filer(new_episode(work / f"rec-{tag}")[0])
    t0 = time.perf_counter()
    results = list(scan_files(filer, copies, workers))
    seconds = time.perf_counter() - t0
    assert not any(r.set_aside for r in results)
    return seconds


def _naive(work: Path, files: list[Path]) -> float:
    out = work / "naive"
    out.mkdir()
    t0 = time.perf_counter()
    for f in files:
        subprocess.run(["pdftoppm", "-r", "300", "-png", str(f), str(out / f.stem)],
                       check=True)
    for png in sorted(out.glob("*.png")):
        zxingcpp.read_barcodes(Image.open(png))
    return time.perf_counter() - t0


def _latency(work: Path, jpeg: bytes, runs: int = 5) -> float:
    inbox = work / "watched"
    inbox.mkdir()
    filed: list[float] = []
    watch = Watch(Filer(new_episode(work / "rec-watch")[0]), inbox, settle_seconds=0.5,
                  workers=1, report=lambda r: filed.append(time.monotonic()))
    watch.start_pool()
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,))
    thread.start()
    waits = []
    try:
        for n in range(runs):
            (inbox / f"page-{n}.jpg").write_bytes(jpeg)
            complete = time.monotonic()
            while len(filed) <= n:
                time.sleep(0.01)
            # the settle time is how "complete" is known: counted from the last write
            waits.append(filed[n] - complete)
    finally:
        stop.set()
        thread.join(10)
    return sorted(waits)[len(waits) // 2]


def run() -> list[BenchRow]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files, pages, jpeg = _scans(work)
        one = pages / _ours(work, files, 1, "one")
        both = pages / _ours(work, files, 2, "both")
        naive = pages / _naive(work, files)
        latency = _latency(work, jpeg)
    return [BenchRow(f"scanned pages indexed, one process ({pages} pages)", one, "pages/s",
                     naive),
            BenchRow(f"scanned pages indexed, both cores ({pages} pages)", both, "pages/s",
                     naive, ">= 10 pages/s and >= 3x naive", both >= 10 and both >= 3 * naive),
            BenchRow("watcher: file complete -> page filed (median of 5, settle 0.5 s)",
                     latency, "s", None, "< 2 s", latency < 2)]
