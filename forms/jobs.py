"""A print job: plan the forms, register them, render, and hand the PDF to CUPS (or to the
file the user asked for). The registry records `issued` before and `printed` or `failed`
after, so it never claims paper that did not come out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from snapshots import chart
from snapshots.sealed import OpenedSnapshot

from .delivery import PAPERS, PrintRequest, PrintResult, deliver, deliver_prerendered
from .errors import FormError
from .kinds import ALL_UNITS
from .parallel import parallel_worth_it, render_hospital, render_packets
from .prerender import take_prerendered
from .printing import check_printer
from .registry import FormRegistry, issued_downtime_ids, read_registry
from .render import FormContext, plan, render_pdf

__all__ = ["PAPERS", "FormError", "PrintRequest", "PrintResult", "deliver", "resolve_patient",
           "run_print_job"]

# progress(done, total): called as forms are prepared and again as each is laid out (most of
# a job's time), so a long job moves all the way through.
Progress = Callable[[int, int], None]
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


def check_patient_on_unit(snapshot: OpenedSnapshot, patient_id: str, unit: str) -> None:
    """The registry files a form under the job's unit: a patient from another unit would be
    filed (and looked for, after recovery) in the wrong place."""
    here = chart.header(snapshot.db, patient_id).unit
    if here != unit:
        raise FormError(f"patient {patient_id} is on unit {here or '(none)'}, not {unit}; "
                        f"print with --unit {here}" if here else
                        f"patient {patient_id} has no current bed on unit {unit}")


def run_print_job(snapshot: OpenedSnapshot, request: PrintRequest, registry: FormRegistry,
                  progress: Progress | None = None, now: datetime | None = None,
                  prerendered: tuple[Path, Sequence] | None = None,
                  identities: Sequence[pyrage.x25519.Identity] | None = None) -> PrintResult:
    """Print (or save) the forms. `prerendered` = (folder, identities) lets a packet
    pre-rendered for this very snapshot, paper and day go out at once (it is used up: each
    pre-rendered packet is printed once, so no two printouts share form ids). `identities`
    read the registry (registration forms take the next downtime MRN not yet issued); the
    pre-rendered identities serve when not given."""
    if not request.printer and not request.pdf_path:
        raise FormError("say where to print: a printer (--printer) or a PDF file (--pdf)")
    if request.paper not in PAPERS:
        raise FormError(f"paper {request.paper!r}: one of {', '.join(PAPERS)}")
    if request.unit == ALL_UNITS:
        return _print_hospital(snapshot, request, registry, progress, now)
    check_unit(snapshot, request.unit)
    if request.patient_id:
        check_patient_on_unit(snapshot, request.patient_id, request.unit)
    if request.printer:  # before laying out a hundred pages for a queue that is not there
        check_printer(request.printer)
    now = now or datetime.now(UTC)
    if request.kind == "packet" and not request.patient_id and prerendered is not None:
        found = take_prerendered(prerendered[0], request.unit, snapshot.manifest.snapshot_id,
                                 request.paper, now, prerendered[1])
        if found:
            if progress:
                progress(1, 1)
            return deliver_prerendered(request, registry, found)
    if request.kind == "packet" and not request.patient_id and \
            parallel_worth_it(snapshot, request.unit):
        pdf, pages, records = render_packets(
            snapshot, [(request.unit, len(chart.census(snapshot.db, request.unit)))],
            request.paper, request.printed_by, now, progress)
        return deliver(request, registry, pdf, pages, records)
    ctx = FormContext(snapshot, request.unit, request.printed_by, now, request.paper)
    steps = plan(ctx, request.kind, [request.patient_id] if request.patient_id else None)
    total = 2 * len(steps)

    def prepared(i: int) -> None:
        if progress:
            progress(i, total)

    if request.kind == "registration":
        readers = identities if identities is not None else \
            (prerendered[1] if prerendered else None)
        if not readers:
            raise FormError("a registration form needs the registry's identity, to give out "
                            "a downtime MRN no other form has")
        with registry.locked():  # read, choose and record the MRN as one step
            ctx.used_downtime_ids = issued_downtime_ids(
                read_registry(registry.directory, readers))
            forms = _prepare(steps, prepared)
            registry.append([f.record for f in forms])
        issued = True
    else:
        forms = _prepare(steps, prepared)
        issued = False
    pdf, pages = render_pdf(forms, lambda n: prepared(len(steps) + n))
    return deliver(request, registry, pdf, pages, [f.record for f in forms],
                   issued_already=issued)


def _print_hospital(snapshot: OpenedSnapshot, request: PrintRequest, registry: FormRegistry,
                    progress: Progress | None, now: datetime | None) -> PrintResult:
    """Every unit's packet, laid out on every core (forms.parallel)."""
    if request.kind != "packet" or request.patient_id:
        raise FormError(f"--unit {ALL_UNITS} prints the whole hospital's packets only "
                        "(kind packet, no --patient)")
    if request.printer:
        check_printer(request.printer)
    pdf, pages, records = render_hospital(snapshot, request.paper, request.printed_by,
                                          now or datetime.now(UTC), progress)
    return deliver(request, registry, pdf, pages, records)


def _prepare(steps: Sequence[Callable], prepared: Callable[[int], None]) -> list:
    forms = []
    for i, step in enumerate(steps, 1):
        forms.append(step())
        prepared(i)
    return forms
