"""`downtime reconcile`: the paper comes back. Open a downtime episode, collect the unit
workstations' registries and audit logs, take the scans in (files or a watched inbox), index
by hand what no code names, and show the chain of custody (docs/reconcile.md)."""

from __future__ import annotations

import getpass
import json
import os
import signal
import threading
from pathlib import Path

import click

from reconcile.custody import custody
from reconcile.episode import (
    Episode,
    EpisodeError,
    Window,
    load_episode,
    open_episode,
    parse_time,
    refuse_if_closed,
)
from reconcile.filing import Filer
from reconcile.settings import ReconcileSettings
from snapshots.keys import Identity, load_identity, recipient_file

from ..config import Config, ConfigError
from ..passphrase import get_passphrase, passphrase_option

_episode = click.option("--episode", "episode_id", metavar="ID",
                        help="The episode (default: the open one).")


def _settings(config: Config) -> ReconcileSettings:
    settings = config.reconcile
    where = f"in {config.file}" if config.file else "(no --config given)"
    if settings.folder is None:
        raise ConfigError(f"no [reconcile] folder {where}: the HIM station's episodes go "
                          "there")
    if settings.identity is None:
        raise ConfigError(f"no [reconcile] identity {where}: the HIM station's age identity "
                          "opens the episodes")
    return settings


def _recipients(config: Config, identity: Identity | None) -> list[str]:
    from snapshots.keys import read_recipient

    settings = config.reconcile
    out = [identity.recipient] if identity else []
    if not out and settings.identity is not None and recipient_file(settings.identity).is_file():
        out.append(read_recipient(recipient_file(settings.identity)))
    try:
        out += [read_recipient(r) for r in settings.recipients]
    except Exception as e:  # KeyFileError: say which table
        raise ConfigError(f"{config.file}: [reconcile] recipients: {e}") from None
    out += config.recipients.escrow_keys()
    return list(dict.fromkeys(out))


def _who(config: Config) -> str:
    return f"{getpass.getuser()}@{config.reconcile.station_name()}"


def _unlock(config: Config, passphrase_file: Path | None) -> Identity:
    settings = _settings(config)
    return load_identity(settings.identity, get_passphrase(
        passphrase_file, f"Passphrase for {settings.identity.name}"))


def _episode_for(ctx: click.Context, episode_id: str | None,
                 passphrase_file: Path | None) -> tuple[Episode, Identity]:
    config = ctx.obj.config
    settings = _settings(config)
    identity = _unlock(config, passphrase_file)
    return load_episode(settings.folder, episode_id, _recipients(config, identity),
                        [identity.secret], _who(config)), identity


@click.group("reconcile")
def reconcile() -> None:
    """After recovery: account for every page of downtime paper (episodes, registries, scans,
    chain of custody)."""


@reconcile.command("open")
@click.option("--start", required=True, help="When the downtime began (ISO 8601; local time "
              "without a zone).")
@click.option("--end", help="When it ended (default: still open).")
@click.option("--units", "units", multiple=True, help="Unit codes it covers (repeat, or "
              "comma-separated; default: every unit of [reconcile.units]).")
@click.pass_context
def open_cmd(ctx: click.Context, start: str, end: str | None, units: tuple[str, ...]) -> None:
    """Open a downtime episode: its window and units. Later commands work on it."""
    config = ctx.obj.config
    settings = _settings(config)
    chosen = [u for item in units for u in item.split(",") if u] or list(settings.units)
    window = Window(parse_time(start, "--start"), parse_time(end, "--end") if end else None)
    recipients = _recipients(config, None)
    if not recipients:
        raise ConfigError(f"{config.file}: nobody could open the episode: put the station's "
                          ".age.pub beside its identity, or give [reconcile] recipients")
    episode = open_episode(settings.folder, window, chosen, recipients, [], _who(config))
    click.echo(f"episode {episode.id} open: {window.text()}, units "
               f"{', '.join(chosen) or '(all)'}")
    click.echo(f"  folder {episode.directory}")


@reconcile.command("collect")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--identity", "extra_identity", type=click.Path(dir_okay=False, path_type=Path),
              help="Another identity to open the registries with (IT escrow), besides the "
                   "station's.")
@click.option("--identity-passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The passphrase of --identity (else a prompt).")
@_episode
@passphrase_option
@click.pass_context
def collect_cmd(ctx: click.Context, paths: tuple[Path, ...], extra_identity: Path | None,
                identity_passphrase_file: Path | None, episode_id: str | None,
                passphrase_file: Path | None) -> None:
    """Collect the form registries and audit logs copied from unit workstations (one folder
    per workstation, named for it)."""
    from reconcile.collect import collect

    episode, identity = _episode_for(ctx, episode_id, passphrase_file)
    readers = [identity.secret]
    if extra_identity is not None:
        readers.append(load_identity(extra_identity, get_passphrase(
            identity_passphrase_file, f"Passphrase for {extra_identity.name}")).secret)
    filer = Filer(episode)
    expected = ctx.obj.config.reconcile.expected_workstations(filer.state.units)
    report = collect(filer, paths, readers, expected)
    for ws in report.workstations:
        audits = "; ".join(f"{a['log']}: {a['entries']} entries, head seq {a['head_seq']}"
                           f" ({a['guarantee']})" for a in ws.audits) or "no audit log"
        click.echo(f"{ws.name}: {ws.registry_events} registry events ({ws.new_events} new); "
                   f"{audits}")
        for problem in ws.problems:
            click.secho(f"  problem: {problem}", fg="yellow", err=True)
    for line in report.broken_audits:
        click.secho(f"AUDIT LOG BROKEN: {line} (collected all the same)", fg="red", bold=True,
                    err=True)
    for ws, unit in sorted(report.missing.items()):
        click.secho(f"NOTHING FROM {ws} ({unit}): its registry and audit log are not "
                    "collected", fg="yellow", err=True)
    click.echo(f"{len(report.issued_in_window)} forms issued in the window "
               f"({filer.state.window.text()}):")
    for form in report.issued_in_window:
        click.echo(f"  {form.unit} {form.form_id} {form.kind} patient {form.patient_id} "
                   f"issued {form.issued_at or form.printed_at}")


def _print_result(result) -> None:  # noqa: ANN001 - reconcile.intake.FileResult
    for line in result.lines():
        flagged = "FLAG" in line or "SET ASIDE" in line or "NOT IN REGISTRY" in line
        click.secho(line, fg="yellow" if flagged else None)


def _workers(settings: ReconcileSettings, workers: int | None) -> int:
    return workers or settings.workers or os.cpu_count() or 1


_workers_opt = click.option("--workers", type=click.IntRange(1, 64),
                            help="Processes reading the scans (default: [reconcile] workers, "
                                 "else every core).")


@reconcile.command("scan")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--keep", is_flag=True, help="Leave the files where they are (default: removed "
              "once their encrypted copies are durable, as the inbox does).")
@_workers_opt
@_episode
@passphrase_option
@click.pass_context
def scan_cmd(ctx: click.Context, files: tuple[Path, ...], keep: bool, workers: int | None,
             episode_id: str | None, passphrase_file: Path | None) -> None:
    """Take scan files in (PDF, TIFF, PNG, JPEG): each page filed under its form, queued for
    indexing, or the file set aside with its reason."""
    from reconcile.intake import scan_files

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    settings = ctx.obj.config.reconcile
    filer = Filer(episode)
    refuse_if_closed(filer.state.closed, episode.id, "scans")  # before any file is touched
    for result in scan_files(filer, files, _workers(settings, workers), remove=not keep):
        _print_result(result)
    _summary(filer)


def _summary(filer: Filer) -> None:
    t = custody(filer.state)["totals"]
    click.echo(f"episode {filer.episode.id}: {t['pages_in']} pages in, {t['pages_back']} "
               f"filed, {t['queued']} queued for indexing, {t['flagged']} flagged, "
               f"{t['set_aside']} files set aside; {t['pages_missing']} pages missing, "
               f"{t['pages_lost']} marked lost")


@reconcile.command("watch")
@click.option("--inbox", type=click.Path(file_okay=False, path_type=Path),
              help="The folder the scanners write to (default: [reconcile] inbox).")
@_workers_opt
@_episode
@passphrase_option
@click.pass_context
def watch_cmd(ctx: click.Context, inbox: Path | None, workers: int | None,
              episode_id: str | None, passphrase_file: Path | None) -> None:
    """Watch the scan inbox until Ctrl-C or SIGTERM: each complete file taken in as `scan`
    does, and removed from the inbox once its pages are durably filed."""
    from reconcile.intake import Watch

    config = ctx.obj.config
    settings = config.reconcile
    inbox = inbox or settings.inbox
    if inbox is None:
        raise ConfigError("no inbox: pass --inbox or set [reconcile] inbox")
    if not inbox.is_dir():
        raise EpisodeError(f"{inbox}: the inbox is not a folder")
    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    filer = Filer(episode)
    refuse_if_closed(filer.state.closed, episode.id, "scans")
    watch = Watch(filer, inbox, settle_seconds=settings.settle_seconds,
                  retries=settings.retries, retry_seconds=settings.retry_seconds,
                  aside_folder=settings.set_aside_folder(inbox),
                  workers=_workers(settings, workers), report=_print_result)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    watch.start_pool()
    click.echo(f"watching {inbox} for episode {episode.id} (Ctrl-C to stop)")
    try:
        watch.run(stop)
    except KeyboardInterrupt:
        stop.set()
    _summary(watch.filer)


@reconcile.command("index")
@click.argument("page")
@click.option("--form", "form_id", help="The form the page belongs to (DT-...).")
@click.option("--page", "page_no", type=click.IntRange(1, 999),
              help="Its page number in that form.")
@click.option("--patient", help="Or the patient it belongs to (patient id or downtime MRN).")
@click.option("--encounter", help="With --patient: the encounter.")
@_episode
@passphrase_option
@click.pass_context
def index_cmd(ctx: click.Context, page: str, form_id: str | None, page_no: int | None,
              patient: str | None, encounter: str | None, episode_id: str | None,
              passphrase_file: Path | None) -> None:
    """File a page by hand (a queued page, or one filed wrongly: the new filing is a new
    event, the old one stays in the journal)."""
    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    result = Filer(episode).index(page, form_id=form_id, patient_id=patient,
                                  encounter_id=encounter, page_no=page_no)
    click.echo(result.line)
    for flag in result.flags:
        click.secho(f"  FLAG: {flag}", fg="yellow")


_lost_options = [
    click.argument("form_id"),
    click.option("--page", "page_no", type=click.IntRange(1, 999),
                 help="One page of the form (default: the whole form: every page not back)."),
    click.option("--reason", required=True, help="Why, in words (\"spilled on, discarded by "
                 "the charge nurse\"); kept in the journal and on the custody report."),
    click.option("--by", "person", required=True, help="The person who says so, by name and "
                 "role (\"Jane Doe RN\"); the station user who types it is recorded too."),
]


def _with(options):  # noqa: ANN001, ANN202 - click decorators
    def apply(f):  # noqa: ANN001, ANN202
        for option in reversed(options):
            f = option(f)
        return f
    return apply


@reconcile.command("lost")
@_with(_lost_options)
@_episode
@passphrase_option
@click.pass_context
def lost_cmd(ctx: click.Context, form_id: str, page_no: int | None, reason: str, person: str,
             episode_id: str | None, passphrase_file: Path | None) -> None:
    """Mark a form, or one page of it, lost: it will not come back (a named person says why).
    Status counts it apart from the pages still missing; a lost page scanned later is filed
    and the status says both."""
    from reconcile.lost import mark_lost

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    click.echo(mark_lost(Filer(episode), form_id, page_no, reason, person).line)


@reconcile.command("found")
@_with(_lost_options)
@_episode
@passphrase_option
@click.pass_context
def found_cmd(ctx: click.Context, form_id: str, page_no: int | None, reason: str, person: str,
              episode_id: str | None, passphrase_file: Path | None) -> None:
    """Take back a lost mark (the same FORM_ID and --page as marked): the page turned up
    (then scan it) or the mark went on the wrong form. The page is waited for again; both
    events stay in the journal."""
    from reconcile.lost import withdraw_lost

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    click.echo(withdraw_lost(Filer(episode), form_id, page_no, reason, person).line)


@reconcile.command("status")
@click.option("--unit", help="Only this unit.")
@click.option("--patient", help="Only this patient (patient id or downtime MRN).")
@click.option("--json", "as_json", is_flag=True, help="The whole chain of custody as JSON.")
@_episode
@passphrase_option
@click.pass_context
def status_cmd(ctx: click.Context, unit: str | None, patient: str | None, as_json: bool,
               episode_id: str | None, passphrase_file: Path | None) -> None:
    """Per unit and patient: forms issued, pages back, pages missing (by form and page),
    pages marked lost, queued for indexing, flagged, set aside."""
    from reconcile.state import derive

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    state = derive(episode.journal.read())
    expected = ctx.obj.config.reconcile.expected_workstations(state.units)
    answer = custody(state, unit, patient)
    answer["workstations_missing"] = {ws: u for ws, u in expected.items()
                                      if ws not in state.workstations}
    if episode.journal.torn is not None:
        answer["journal_note"] = episode.journal.torn.text(episode.journal.path)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    from .reconcile_view import show_status

    show_status(answer)


@reconcile.command("report")
@click.option("--pdf", "pdf_file", required=True, type=click.Path(dir_okay=False,
                                                                    path_type=Path),
              help="Write the custody report here (plaintext patient data: where you ask).")
@click.option("--unit", help="Only this unit.")
@click.option("--paper", type=click.Choice(["Letter", "A4"]), help="Paper (default: [print] "
              "paper).")
@_episode
@passphrase_option
@click.pass_context
def report_cmd(ctx: click.Context, pdf_file: Path, unit: str | None, paper: str | None,
               episode_id: str | None, passphrase_file: Path | None) -> None:
    """The chain-of-custody report as a PDF, one section per unit, laid out like the forms."""
    from reconcile.custody_report import write_report
    from reconcile.state import derive

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    state = derive(episode.journal.read())
    expected = ctx.obj.config.reconcile.expected_workstations(state.units)
    answer = custody(state, unit)
    answer["workstations_missing"] = {ws: u for ws, u in expected.items()
                                      if ws not in state.workstations}
    pages = write_report(answer, pdf_file, paper or ctx.obj.config.print.paper)
    click.echo(f"custody report for episode {episode.id}: {pages} page"
               f"{'s' if pages != 1 else ''} written to {pdf_file}")


# The back-entry side's commands, each module in its own file with a `COMMANDS` list of
# click commands to add under `reconcile` (imported here, after the helpers they share).
EXTENSIONS: tuple[str, ...] = ("reconcile_enter", "reconcile_import", "reconcile_match",
                               "reconcile_conflicts", "reconcile_submit")


def _add_extensions() -> None:
    import importlib

    for name in EXTENSIONS:
        for command in importlib.import_module(f"{__package__}.{name}").COMMANDS:
            reconcile.add_command(command)


_add_extensions()
COMMANDS = [reconcile]
