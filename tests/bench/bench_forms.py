"""Form rendering benchmarks: a 30-patient unit packet (ours and the naive path, same run), the
whole 1,000-inpatient hospital through the product's `--unit ALL` path (a process pool on every
core), and a pre-rendered packet from the command to the job handed to CUPS
(tests.bench.prerendered).

Naive path (what a developer writes first, on the same data and forms, page breaks between
forms): one WeasyPrint document per patient (face sheet, MAR, orders and note, each starting a
new page) plus one for the census; the page header a running element in the top margin, laid
out on every page, the footer and page numbers margin boxes; the stylesheet parsed again for
every document; automatic table layout (the CSS default); the MAR grid as a table with a cell
per hour; blank forms as a row or a line per writing line; QR codes as SVG (segno's default).
Both paths are warmed up (one patient rendered) before anything is timed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import segno
from weasyprint import CSS, HTML

from forms.jobs import PrintRequest, deliver
from forms.kinds import ALL_UNITS
from forms.parallel import render_hospital, render_packets
from forms.qr import QrPayload
from forms.registry import FormRegistry
from forms.render import TEMPLATES, FormContext, patient_form, plan, render_pdf, unit_form
from snapshots import chart
from snapshots.pipeline import build_database
from snapshots.publish import Recipients, publish
from snapshots.sealed import open_snapshot
from snapshots.settings import BuildSettings
from tests.bench.common import BenchRow
from tests.bench.prerendered import prerendered_rows
from tests.factory import Keys

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
PASS = "bench-passphrase"
_GRID = re.compile(r'<td class="grid [^"]*"></td>')
_HOURS = re.compile(r'<th class="hours [^"]*"></th>')
_RULED_TD = re.compile(r'<tr>(<td class="ruled"[^>]*></td>)+</tr>')
_RULED_DIV = re.compile(r'<div class="ruled"[^>]*></div>')
_BODY = re.compile(r"<body>(.*)</body>", re.S)
_IDBOX = '<td class="idbox"></td>'
# the page header as a running element repeated in every page's top margin, the footer and
# page numbers in margin boxes: the obvious way to put them on every page
_NAIVE_PAGE = """
@page { margin: 41mm 11mm 16mm 11mm;
  @top-center { content: element(formhead); width: 100%; vertical-align: top; }
  @bottom-left { content: string(footer); font: 7.5pt "DejaVu Sans", sans-serif; width: 150mm; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); width: 38mm;
                  font: bold 10pt "DejaVu Sans", sans-serif; text-align: right; } }
.formhead { position: running(formhead); width: 100%; height: auto; }
.footer { string-set: footer content(); visibility: hidden; height: 0; margin: 0; }
.idbox img { width: 21mm; height: 21mm; float: left; margin-right: 1.5mm; }
"""


def _build(work: Path, patients: int):
    from downtime.generator import generate

    generate(work / "src", patients=patients, seed=11, as_of=AS_OF)
    return build_database(work / "src", BuildSettings(as_of=AS_OF)).conn


def _house(work: Path, conn, keys: Keys) -> Path:
    written = publish(conn, work / "store", recipients=Recipients(
        pharmacy=[keys.pharmacy.recipient]), signing_key=keys.signing,
        as_of="2026-11-25T14:00:00Z", source="bench")
    return written[0][0]


# -- the naive path ----------------------------------------------------------------------------

def _naive_css() -> str:
    return (TEMPLATES / "print.css").read_text().replace("table-layout: fixed;", "") \
        + _NAIVE_PAGE


def _naive_html(form) -> str:
    """Our form's HTML, written the first way: header, QR code and footer in the document
    (repeated on every page by the margin boxes), cells per hour, rows per line, an SVG QR."""
    layers, record = form.layers, form.record
    svg = segno.make_qr(QrPayload(record.form_id, record.kind, record.patient_id,
                                  record.encounter_id).text(), error="m").svg_data_uri(scale=4)
    idbox = (f'<td class="idbox"><img src="{svg}" alt="QR {record.form_id}"><div class="kind">'
             f'{layers.stamp.title}</div><div class="fid">{record.form_id}</div></td>')
    head = layers.head.replace(_IDBOX, idbox)
    footer = f'<div class="footer">{layers.stamp.footer}</div>'
    html = layers.body.replace("<body>", "<body>" + head + footer, 1)
    slots = re.findall(r"due ([0-9: ·]+)</span>", html)
    rows = iter(slots)

    def hours_cells(_: re.Match) -> str:
        due = {int(t.split(":")[0]) for t in next(rows, "").split(" · ") if ":" in t}
        return "".join(f"<td><b>{h:02d}</b></td>" if h in due else "<td></td>"
                       for h in range(24))

    html = _GRID.sub(hours_cells, html)
    html = _HOURS.sub("".join(f"<th>{h:02d}</th>" for h in range(24)), html)
    html = _RULED_TD.sub("".join('<tr><td style="height:10mm"></td><td></td><td></td><td></td>'
                                 "</tr>" for _ in range(20)), html)
    return _RULED_DIV.sub('<div>' + "".join('<div style="border-bottom:.6pt solid #000;'
                                            'height:7.5mm"></div>' for _ in range(24))
                          + "</div>", html)


def _naive_document(forms) -> int:
    bodies = [_BODY.search(_naive_html(f))[1] for f in forms]
    html = ('<!doctype html><html><head><meta charset="utf-8"><style>@page { size: Letter; }'
            '</style></head><body>' + '<div style="break-before: page"></div>'.join(bodies)
            + "</body></html>")
    document = HTML(string=html, base_url=str(TEMPLATES)).render(
        stylesheets=[CSS(string=_naive_css(), base_url=str(TEMPLATES))])
    document.write_pdf()
    return len(document.pages)


def _naive(snapshot, unit: str, patients: list[str] | None = None) -> int:
    ctx = FormContext(snapshot, unit, "bench", AS_OF)
    pages = _naive_document([unit_form(ctx, "census")]) if patients is None else 0
    for pid in patients or [r.patient_id for r in chart.census(snapshot.db, unit)]:
        pages += _naive_document([patient_form(ctx, kind, pid)
                                  for kind in ("facesheet", "mar", "orders", "note")])
    return pages


def _ours(snapshot, unit: str, patients: list[str] | None = None) -> int:
    ctx = FormContext(snapshot, unit, "bench", AS_OF)
    _, pages = render_pdf([step() for step in plan(ctx, "packet", patients)])
    return pages


# -- the rows ----------------------------------------------------------------------------------

def run() -> list[BenchRow]:
    rows: list[BenchRow] = []
    work = Path(tempfile.mkdtemp(prefix="bench-forms-"))
    keys = Keys()
    try:
        conn = _build(work, 136)  # the biggest unit gets about 30 patients
        snap = open_snapshot(_house(work, conn, keys), keys.trusted, [keys.pharmacy])
        unit = max(chart.units(snap.db), key=lambda u: u[2])[0]
        census = chart.census(snap.db, unit)
        _ours(snap, unit, [census[0].patient_id])  # warm up both: fonts, imports, caches
        _naive(snap, unit, [census[0].patient_id])
        t0 = time.perf_counter()
        naive_pages = _naive(snap, unit)
        t_naive = time.perf_counter() - t0
        c0, t0 = time.process_time(), time.perf_counter()
        ours_pages = _ours(snap, unit)
        t_one, cpu_one = time.perf_counter() - t0, time.process_time() - c0
        stats: dict[str, float] = {}
        c0, t0 = time.process_time(), time.perf_counter()
        _, pooled_pages, _ = render_packets(snap, [(unit, len(census))], "Letter", "bench",
                                            AS_OF, stats=stats)
        t_pool = time.perf_counter() - t0
        cpu_pool = time.process_time() - c0 + stats["worker_cpu_s"]
        assert pooled_pages == ours_pages
        rows.extend(_unit_rows(len(census), ours_pages, naive_pages, t_naive, t_one, cpu_one,
                               t_pool, cpu_pool, int(stats["workers"])))
        rows.extend(prerendered_rows(work, conn, unit))
        snap.close()
        rows.append(_hospital(work, keys))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _unit_rows(patients: int, pages: int, naive_pages: int, t_naive: float, t_one: float,
               cpu_one: float, t_pool: float, cpu_pool: float, workers: int) -> list[BenchRow]:
    """The same packet three ways: naive (one process), ours in one process, and ours as
    `downtime print packet` lays out a unit of this size (on every core). The ratio is of the
    time for the same packet: the naive path makes more pages of it (an hour a cell)."""
    per_core = pages / cpu_one
    return [
        BenchRow(f"unit packet, {patients} patients ({pages} pages; naive {naive_pages}, "
                 f"{naive_pages / t_naive:.0f} pages/s): `print packet` on {workers} cores, "
                 f"time against naive in one process", t_pool, "s", t_naive,
                 ">= 3x naive", t_naive / t_pool >= 3),
        BenchRow("  the same, ours in one process", t_one, "s", t_naive, "", None),
        BenchRow(f"  pages per core-second (one process {per_core:.1f}; on {workers} cores "
                 f"{pages / cpu_pool:.1f}, pool start and join included)", per_core,
                 "pages/s", None, ">= 20 pages/s per core", per_core >= 20)]


def _hospital(work: Path, keys: Keys) -> BenchRow:
    """The product path of `downtime print packet --unit ALL` (what forms.jobs does for it:
    render_hospital, then register and deliver), with the workers' CPU time kept: on a machine
    others load too, wall-clock pages/s says little about the code, pages per worker
    CPU-second does."""
    big = work / "big"
    house = _house(big, _build(big, 1000), keys)
    snap = open_snapshot(house, keys.trusted, [keys.pharmacy])
    registry = FormRegistry(big / "registry", [keys.pharmacy.recipient])
    request = PrintRequest("packet", ALL_UNITS, pdf_path=big / "hospital.pdf")
    stats: dict[str, float] = {}
    t0 = time.perf_counter()
    pdf, pages, records = render_hospital(snap, request.paper, "bench", AS_OF, stats=stats)
    deliver(request, registry, pdf, pages, records)
    elapsed = time.perf_counter() - t0
    request.pdf_path.unlink()
    snap.close()
    cores = os.cpu_count() or 1
    busy = stats["worker_cpu_s"] / elapsed
    return BenchRow(f"whole-hospital packet (--unit ALL), 1,000 inpatients ({pages:,} pages), "
                    f"{int(stats['workers'])} worker processes; they got {busy:.1f} cores, "
                    f"{pages / stats['worker_cpu_s']:.0f} pages per CPU-second",
                    pages / elapsed, "pages/s", None, f">= {20 * cores} pages/s on {cores} "
                    "cores", pages / elapsed >= 20 * cores)
