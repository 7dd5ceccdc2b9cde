"""A print job: plan the forms, register them, render, and hand the PDF to CUPS (or to the
file the user asked for). The registry records `issued` before and `printed` or `failed`
after, so it never claims paper that did not come out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from snapshots import chart
from snapshots.sealed import OpenedSnapshot

from .prerender import load_prerendered
from .printing import PrintError, send_pdf
from .registry import FormRecord, FormRegistry
from .render import FormContext, FormError, plan, render_pdf

Progress = Callable[[int, int], None]


@dataclass
class PrintRequest:
    kind: str  # census, facesheet, mar, medlist, orders, note, vitals, registration, labels, packet
    unit: str
    patient_id: str | None = None
    printer: str | None = None
    pdf_path: Path | None = None
    printed_by: str = ""
    paper: str = "Letter"


@dataclass
class PrintResult:
    pages: int
    forms: list[FormRecord] = field(default_factory=list)
    destination: str = ""


def resolve_patient(snapshot: OpenedSnapshot, mrn_or_id: str) -> str:
    """A patient id from an MRN (any facility's) or an id; FormError if not in the snapshot."""
    row = snapshot.db.execute(
        "SELECT p.id FROM patients p LEFT JOIN identifiers i ON i.patient_id = p.id "
        "WHERE p.id = ? OR p.mrn = ? OR i.value = ? LIMIT 1",
        (mrn_or_id, mrn_or_id, mrn_or_id)).fetchone()
    if row is None:
        raise FormError(f"no patient with MRN {mrn_or_id} in snapshot "
                        f"{snapshot.manifest.scope} #{snapshot.manifest.sequence}")
    return row[0]


def check_unit(snapshot: OpenedSnapshot, unit: str) -> None:
    codes = [c for c, _, _ in chart.units(snapshot.db)]
    if unit not in codes:
        raise FormError(f"unit {unit!r} is not in this snapshot; units: {', '.join(codes)}")


def run_print_job(snapshot: OpenedSnapshot, request: PrintRequest, registry: FormRegistry,
                  progress: Progress | None = None, now: datetime | None = None,
                  prerendered: tuple[Path, Sequence] | None = None) -> PrintResult:
    """Print (or save) the forms. `prerendered` = (folder, identities) lets a packet
    pre-rendered for this very snapshot go out at once."""
    if not request.printer and not request.pdf_path:
        raise FormError("say where to print: a printer (--printer) or a PDF file (--pdf)")
    check_unit(snapshot, request.unit)
    if request.kind == "packet" and not request.patient_id and prerendered is not None:
        found = load_prerendered(prerendered[0], request.unit, snapshot.manifest.snapshot_id,
                                 prerendered[1])
        if found:
            pdf, pages, records = found
            records = [FormRecord(**{**asdict(r), "by": request.printed_by or r.by})
                       for r in records]
            if progress:
                progress(1, 1)
            return _deliver(request, registry, pdf, pages, records)
    ctx = FormContext(snapshot, request.unit, request.printed_by, now or datetime.now(UTC),
                      request.paper)
    steps = plan(ctx, request.kind, [request.patient_id] if request.patient_id else None)
    forms = []
    for i, step in enumerate(steps, 1):
        forms.append(step())
        if progress:
            progress(i, len(steps))
    pdf, pages = render_pdf(forms)
    return _deliver(request, registry, pdf, pages, [f.record for f in forms])


def _deliver(request: PrintRequest, registry: FormRegistry, pdf: bytes, pages: int,
             records: list[FormRecord]) -> PrintResult:
    registry.append(records)
    try:
        if request.pdf_path:
            Path(request.pdf_path).write_bytes(pdf)
            destination = str(request.pdf_path)
        else:
            destination = f"{request.printer} job {send_pdf(pdf, request.printer, _title(request))}"
    except (PrintError, OSError) as e:
        registry.append([registry.event(r, "failed", str(e)) for r in records])
        if isinstance(e, OSError):
            raise FormError(f"{request.pdf_path}: cannot write PDF ({e.strerror})") from None
        raise
    registry.append([registry.event(r, "printed", destination) for r in records])
    return PrintResult(pages, records, destination)


def _title(request: PrintRequest) -> str:
    return f"downtime {request.kind} {request.unit}"
