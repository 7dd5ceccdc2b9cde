"""`downtime print`: downtime forms from the newest snapshot, to a CUPS printer or a PDF."""

from __future__ import annotations

from pathlib import Path

import click

from forms.jobs import PrintRequest, resolve_patient, run_print_job
from forms.parallel import ALL_UNITS
from forms.prerender import prerendered_folder
from forms.printing import PrintError
from forms.registry import FormRegistry, RegistryError
from forms.render import KINDS, FormError
from snapshots.keys import KeyFileError, load_identity, load_public_key, read_recipient
from snapshots.sealed import SnapshotError, open_snapshot
from snapshots.store import newest_per_scope

from ..audit import AuditError, AuditItem, AuditLog, default_audit_log
from ..config import ConfigError
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
              show_default=True)
@click.option("--user", "printed_by", default="", help="Who prints (name or badge).")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path))
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path))
@passphrase_option
@click.pass_context
def print_forms(ctx: click.Context, kind: str, unit: str, patient: str | None,
                printer: str | None, pdf_path: Path | None, paper: str, printed_by: str,
                store: Path | None, identity: Path | None,
                passphrase_file: Path | None) -> None:
    """Print KIND for a unit (or one patient): census, facesheet, mar, medlist, orders, note,
    vitals, registration, labels, or packet (census, then each patient's face sheet, MAR,
    orders and note forms). With --printer, the printer is checked (known, not stopped)
    before anything is rendered; --paper sets the page size and the CUPS media."""
    config = ctx.obj.config
    unit = ALL_UNITS if unit.upper() == ALL_UNITS else unit
    if bool(printer) == bool(pdf_path):
        raise click.ClickException("give exactly one of --printer NAME or --pdf FILE")
    try:
        store = config.path("store", store, flag="--store")
        ident = load_identity(config.path("identity", identity, flag="--identity"),
                              get_passphrase(passphrase_file))
        trusted = load_public_key(config.path("trusted_builder_key", None,
                                              flag="--trusted-key"))
        newest = newest_per_scope(store, ident.recipient)
        chosen = newest.get("house") if unit == ALL_UNITS else \
            newest.get(f"unit:{unit}") or newest.get("house")
        if chosen is None:
            what = "the whole house" if unit == ALL_UNITS else f"unit {unit}"
            raise click.ClickException(f"{store}: no snapshot of {what} that "
                                       f"{ident.name} can open")
        snapshot = open_snapshot(chosen.path, trusted, [ident])
        escrow = [read_recipient(r) for r in config.recipients.get("escrow", [])]
        registry = FormRegistry(config.path("registry", None, flag="--registry"),
                                escrow + [ident.recipient])
        request = PrintRequest(kind, unit, printer=printer, pdf_path=pdf_path,
                               printed_by=printed_by or ident.name, paper=paper)
        if patient:
            request.patient_id = resolve_patient(snapshot, patient)
        with click.progressbar(length=1, label=f"preparing {kind}", file=None) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)
            result = run_print_job(snapshot, request, registry, progress,
                                   prerendered=(prerendered_folder(store), [ident.secret]),
                                   identities=[ident.secret])
    except (ConfigError, KeyFileError, SnapshotError, FormError, PrintError,
            RegistryError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{result.pages} pages, {len(result.forms)} forms -> {result.destination}")
    audit = config.path("audit_log", None, required=False) or default_audit_log()
    try:
        AuditLog(audit).append_many("print", request.printed_by, [
            AuditItem(form.patient_id or None, snapshot.manifest.snapshot_id,
                      f"{form.kind} {form.form_id}") for form in result.forms])
    except AuditError as e:  # the paper is out: say loudly that its record is not
        raise click.ClickException(f"printed, but not recorded in the audit log: {e}") \
            from None


COMMANDS = [print_forms]
