"""`downtime print`: downtime forms from the newest snapshot, to a CUPS printer or a PDF.

A whole unit's packet is first asked of the agent (downtime.packet_service), which keeps it
pre-rendered and holds the identity already: no passphrase, no key derivation, no layout, so
the first page reaches CUPS at once. Anything else, or when the agent has no packet, is laid
out here; the layout modules (WeasyPrint) are imported only then, for the same reason.
"""

from __future__ import annotations

from pathlib import Path

import click

from forms.delivery import PrintRequest, PrintResult, deliver_prerendered, record_printed
from forms.errors import FormError
from forms.kinds import ALL_UNITS, KINDS
from forms.printing import check_printer
from forms.registry import FormRegistry
from snapshots.audit.client import audit_sink
from snapshots.keys import (
    KeyFileError,
    identity_name,
    load_identity,
    load_public_key,
    read_recipient,
    recipient_file,
)
from snapshots.sealed import open_snapshot
from snapshots.store import UnknownUnit, match_unit, newest_for_unit

from ..config import Config
from ..packet_service import Access, fetch_packet
from ..passphrase import get_passphrase, passphrase_option


@click.command("print")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--unit", required=True,
              help="Unit code, e.g. 4W; ALL (with packet) for every unit's packet, laid out "
                   "on every core, from the house snapshot.")
@click.option("--patient", help="Only this patient (MRN of any facility).")
@click.option("--printer", help="CUPS queue to print to.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Save a PDF here instead (plaintext patient data: only where you mean to).")
@click.option("--paper", type=click.Choice(["Letter", "A4"]), default="Letter",
              show_default=True, help="Page size (and the CUPS media).")
@click.option("--user", "printed_by", default="", help="Who prints (name or badge).")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path),
              help="Snapshot store (default: paths.store of the config).")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path),
              help="This workstation's (or role's) age identity (default: paths.identity).")
@passphrase_option
@click.pass_context
def print_forms(ctx: click.Context, kind: str, unit: str, patient: str | None,
                printer: str | None, pdf_path: Path | None, paper: str, printed_by: str,
                store: Path | None, identity: Path | None,
                passphrase_file: Path | None) -> None:
    """Print KIND for a unit (or one patient): census, facesheet, mar, medlist, orders, note,
    vitals, registration, labels, or packet (census, then each patient's face sheet, MAR,
    orders and note forms). With --printer, the printer is checked (known, not stopped)
    before anything is rendered; --paper sets the page size and the CUPS media. A unit's
    packet that a running `downtime agent --prerender` holds ready is printed at once,
    without asking for the passphrase."""
    config = ctx.obj.config
    unit = ALL_UNITS if unit.upper() == ALL_UNITS else unit
    if bool(printer) == bool(pdf_path):
        raise click.ClickException("give exactly one of --printer NAME or --pdf FILE")
    request = PrintRequest(kind, unit, printer=printer, pdf_path=pdf_path,
                           printed_by=printed_by, paper=paper)
    store = config.path("store", store, flag="--store")
    identity = config.path("identity", identity, flag="--identity")
    result = None
    if kind == "packet" and not patient and unit != ALL_UNITS:
        result = _from_agent(config, store, identity, request)
    if result is None:
        result = _laid_out_here(config, store, identity, request, patient, passphrase_file)
    click.echo(result.summary() + (" (pre-rendered)" if result.prerendered else ""))
    # the paper is out: if its record is not, PrintedNotAudited says so loudly
    # the log, or the agent's audit writer ([audit] writer)
    audit = audit_sink(config.audit, config.paths.audit_log)
    record_printed(audit, request.printed_by, result)
    if audit.warning:  # recorded, but only in this user's spool: said, never silent
        click.secho(f"warning: {audit.warning}", fg="red", err=True)


def _registry(config: Config, recipient: str) -> FormRegistry:
    return FormRegistry(config.path("registry", None, flag="--registry"),
                        config.recipients.escrow_keys() + [recipient])


def _from_agent(config: Config, store: Path, identity: Path,
                request: PrintRequest) -> PrintResult | None:
    """The unit's packet as the agent pre-rendered it for the snapshot this identity would
    open, delivered; None when there is none to have (then it is laid out here)."""
    try:  # the identity's public half says which snapshot; no passphrase needed for that
        recipient = read_recipient(recipient_file(identity))
        request.unit = match_unit(store, recipient, request.unit)
    except (KeyFileError, UnknownUnit):
        return None  # laid out here, which says what is wrong
    chosen = newest_for_unit(store, recipient, request.unit)
    if chosen is None or chosen.manifest.scope != f"unit:{request.unit}":
        return None  # the agent pre-renders unit snapshots only
    if request.printer:  # before the packet is taken: a wrong queue must not use it up
        check_printer(request.printer)
    packet, why = fetch_packet(store, request.unit, chosen.manifest.snapshot_id,
                               request.paper, Access.from_config(config))
    if packet is None:
        if why:
            click.echo(f"{why}; laying the packet out here", err=True)
        return None
    request.printed_by = request.printed_by or identity_name(identity)
    return deliver_prerendered(request, _registry(config, recipient), packet)


def _laid_out_here(config: Config, store: Path, identity: Path, request: PrintRequest,
                   patient: str | None, passphrase_file: Path | None) -> PrintResult:
    from forms.jobs import resolve_patient, run_print_job
    from forms.prerender import prerendered_folder

    ident = load_identity(identity, get_passphrase(passphrase_file))
    trusted = load_public_key(config.path("trusted_builder_key", None, flag="--trusted-key"))
    if request.unit != ALL_UNITS:
        request.unit = match_unit(store, ident.recipient, request.unit)
    chosen = newest_for_unit(store, ident.recipient,
                             None if request.unit == ALL_UNITS else request.unit)
    if chosen is None:
        what = "the whole house" if request.unit == ALL_UNITS else f"unit {request.unit}"
        raise FormError(f"{store}: no snapshot of {what} that {ident.name} can open")
    snapshot = open_snapshot(chosen.path, trusted, [ident])
    registry = _registry(config, ident.recipient)
    request.printed_by = request.printed_by or ident.name
    if patient:
        request.patient_id = resolve_patient(snapshot, patient)
    with click.progressbar(length=1, label=f"preparing {request.kind}", file=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)
        return run_print_job(snapshot, request, registry, progress,
                             prerendered=(prerendered_folder(store), [ident.secret]),
                             identities=[ident.secret])


COMMANDS = [print_forms]
