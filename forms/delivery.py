"""Handing finished forms over: register them, send the PDF to CUPS (or write the file the user
asked for), and record `printed` or `failed`, so the registry never claims paper that did not
come out. Kept apart from layout (forms.jobs) so that printing a pre-rendered packet does not
load WeasyPrint: the command has well under a second to hand the first page to CUPS."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from snapshots.audit import AuditError, AuditItem, AuditLog
from snapshots.errors import oserror_text

from .errors import FormError
from .printing import PrintError, send_pdf
from .registry import FormRecord, FormRegistry, RegistryError, now_text

PAPERS = ("Letter", "A4")


class PrintedNotRecorded(RegistryError):
    """The paper went out but the registry could not record it as printed: the one error
    after which the forms exist and must not simply be printed again unnoticed."""


class PrintedNotAudited(AuditError):
    """The paper went out (and is registered) but the audit log could not record it: said
    in the same words wherever one prints (the command line, the print dialog)."""


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
    prerendered: bool = False

    def summary(self) -> str:
        """What came out, as the command line and the print dialog both say it."""
        return f"{_count(self.pages, 'page')}, {_count(len(self.forms), 'form')} -> " \
               f"{self.destination}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def deliver(request: PrintRequest, registry: FormRegistry, pdf: bytes, pages: int,
            records: list[FormRecord], issued_already: bool = False,
            prerendered: bool = False) -> PrintResult:
    """Register the forms (unless `issued_already`), send the PDF, record `printed` or
    `failed`."""
    if not issued_already:
        registry.append(records)
    try:
        if request.pdf_path:
            write_private(Path(request.pdf_path), pdf)
            destination = str(request.pdf_path)
        else:
            job = send_pdf(pdf, request.printer, title(request), media=request.paper)
            destination = f"{request.printer} job {job}"
    except (PrintError, OSError) as e:
        registry.append([registry.event(r, "failed", str(e)) for r in records])
        if isinstance(e, OSError):
            raise FormError(oserror_text(e, "cannot write PDF", request.pdf_path)) from None
        raise
    try:
        registry.append([registry.event(r, "printed", destination) for r in records])
    except RegistryError as e:  # the paper is out: say so, and that its record is not
        raise PrintedNotRecorded(f"printed ({destination}), but not recorded as printed: "
                                 f"{e}") from None
    return PrintResult(pages, records, destination, prerendered)


def deliver_prerendered(request: PrintRequest, registry: FormRegistry,
                        packet: tuple[bytes, int, list[FormRecord]]) -> PrintResult:
    """Print a pre-rendered packet (forms.prerender) as this request's: its forms are
    registered now, as printed by whoever asked and when, and every page says so."""
    from .printed_stamp import stamp_printed

    pdf, pages, records = packet
    by = request.printed_by or "?"
    records = [replace(r, by=request.printed_by or r.by, at=now_text()) for r in records]
    stamped = stamp_printed(pdf, f"Printed {datetime.now().astimezone():%d %b %Y %H:%M} "
                                 f"by {by}")
    return deliver(request, registry, stamped, pages, records, prerendered=True)


def record_printed(log: AuditLog, user: str, result: PrintResult) -> None:
    """One `print` entry per form printed, in one append; PrintedNotAudited if the log cannot
    be written (the paper is out: that its record is not must be said loudly)."""
    try:
        log.append_many("print", user, [
            AuditItem(form.patient_id or None, form.snapshot_id, f"{form.kind} {form.form_id}")
            for form in result.forms])
    except AuditError as e:
        raise PrintedNotAudited(f"printed, but not recorded in the audit log: {e}") from None


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read: a saved PDF is plaintext patient data."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
    finally:
        os.close(fd)


def title(request: PrintRequest) -> str:
    return f"downtime {request.kind} {request.unit}"
