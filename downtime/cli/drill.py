"""`downtime drill`: run, list and check rehearsal drills (docs/drills.md), a thin layer over
downtime.drills (script.load_script, runner.run_drill, report.write_report)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from snapshots.errors import ToolkitError, oserror_text

from .errors import about_file

EXIT_EPILOG = ("Exit status: 0 the drill passed; 1 it rolled back as its criteria (or a gate) "
               "said; 2 it failed (a step or a fault not handled as expected); 3 it could not "
               "start (a script that is wrong, the steady state not holding before it).")


class DrillStartError(ToolkitError):
    reason = "drill-start"
    exit_status = 3


@click.group("drill")
def drill() -> None:
    """Rehearse a cutover, an outage or a rollback as a scripted drill."""


@drill.command("run", epilog=EXIT_EPILOG)
@click.argument("script", metavar="FILE|NAME")
@click.option("--headless", is_flag=True,
              help="No questions and no TUI (CI, cron): every gate must be pre-approved in "
                   "the script (signed_by).")
@click.option("--no-tui", is_flag=True,
              help="Progress as lines on the terminal, gates asked there (default on a "
                   "terminal: the live TUI).")
@click.option("--report", "report", type=click.Path(file_okay=False, path_type=Path),
              help="The drill's folder: journal.jsonl, report.json, report.pdf and the steps' "
                   "work/ (default: drill-reports/NAME-UTCTIME).")
@click.option("--no-pdf", is_flag=True, help="Write report.json only.")
@click.pass_context
def run(ctx: click.Context, script: str, headless: bool, no_tui: bool, report: Path | None,
        no_pdf: bool) -> None:
    """Run a drill script (a file, or a shipped drill's name from `drill list`)."""
    from ..drills.catalog import find_drill, load_actions
    from ..drills.report import write_report
    from ..drills.script import load_script

    path = find_drill(script)
    about_file(ctx, path)
    interactive = not headless and sys.stdin.isatty()
    actions = load_actions()
    loaded = load_script(path, actions, headless=not interactive)
    folder = report or Path("drill-reports") / (
        f"{path.stem}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DrillStartError(oserror_text(e, "cannot make the drill's folder", folder)) \
            from None
    config = ctx.obj.config
    if interactive and not no_tui and sys.stdout.isatty():
        from ..tui.screens.drill import run_in_tui

        result = run_in_tui(loaded, folder, actions, config=config)
    else:
        from ..drills.runner import run_drill

        result = run_drill(loaded, folder, actions, headless=not interactive, config=config,
                           ask=_ask_on_terminal if interactive else None,
                           observer=_print_progress)
    written = write_report(result, folder, pdf=not no_pdf, paper=config.print.paper)
    _summary(result, written)
    ctx.exit(result.exit_status if result.exit_status is not None else 2)


@drill.command("check", epilog="Exit status: 0 the script can run; 3 it cannot (each "
                               "problem on its own line: FILE:LINE: reason).")
@click.argument("script", metavar="FILE|NAME")
@click.option("--headless", is_flag=True,
              help="Check it can run unattended too (every gate pre-approved).")
@click.pass_context
def check(ctx: click.Context, script: str, headless: bool) -> None:
    """Check a drill script without running anything."""
    from ..drills.catalog import find_drill, load_actions
    from ..drills.script import load_script

    path = find_drill(script)
    about_file(ctx, path)
    s = load_script(path, load_actions(), headless=headless)
    steps = s.steps()
    gates = sum(1 for st in steps if st.action == "gate")
    click.echo(f"{path}: ok: {s.name}: {len(steps)} steps in {len(s.phases)} phases, "
               f"{len(s.criteria)} rollback criteria, {gates} gates, "
               f"{len(s.paths)} rollback paths, {len(s.probes)} steady-state probes")


@drill.command("list")
def list_drills() -> None:
    """The shipped drills (run one by its name: `downtime drill run NAME`)."""
    import tomllib

    from ..drills.catalog import shipped_drills

    for path in shipped_drills():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        click.echo(f"{path.stem:<20} {data.get('name', '')}")
        if data.get("description"):
            click.echo(f"{'':<20} {data['description'].strip().splitlines()[0]}")
        click.echo(f"{'':<20} {path}")


def _print_progress(run, event: str) -> None:  # noqa: ANN001 - a DrillRun
    from forms.drill_report import duration

    if event == "step":
        r = run.running()
        if r is not None:
            click.echo(f"▶ {r.step.id:<22} {r.step.owner:<12} {r.step.action:<14} "
                       f"expected {duration(r.step.expected_seconds)}")
            return
        done = next((x for x in reversed(run.steps) if x.status in ("ok", "failed")), None)
        if done is None:
            return
        mark = "✓" if done.status == "ok" else "✗"
        over = f", {done.overrun:.0%} over" if done.overrun else ""
        took = duration(done.seconds * done.scale(run.script.time_scale))
        click.echo(f"{mark} {done.step.id:<22} {took}{over}: {done.detail}")
        for f in done.faults:
            click.echo(f"  fault {f.fault}: {'handled' if f.handled else 'NOT HANDLED'}: "
                       f"{f.actual}")
    elif event == "criteria":
        for c in run.criteria:
            if c.tripped and c.tripped_after:
                click.echo(f"! criterion {c.criterion.name!r} tripped: {c.criterion.when.text}")
    elif event == "path":
        click.echo(f"↩ taking the rollback path {run.steps[-1].path!r}")


def _ask_on_terminal(request):  # noqa: ANN001, ANN202 - GateRequest -> GateAnswer
    from ..drills.engine_actions import GateAnswer

    click.echo(f"\nGATE {request.step}: {request.question}")
    if request.paused:
        click.echo("  the line is stopped: approve to resume, abort to roll back")
    name = click.prompt(f"  your name ({request.role})").strip()
    choices = ["approve", "abort"] if request.paused else ["approve", "stop", "abort"]
    choice = click.prompt("  decision", type=click.Choice(choices))
    return GateAnswer(choice, name)


def _summary(run, written: list[Path]) -> None:  # noqa: ANN001 - a DrillRun
    from forms.drill_report import duration

    f = run.figures
    if "rto_seconds" in f:
        click.echo(f"RTO {duration(f['rto_seconds'])}")
    if "rpo_seconds" in f:
        click.echo(f"RPO {duration(f['rpo_seconds'])}")
    for path in written:
        click.echo(f"wrote {path}")
    color = {"passed": "green", "rolled back": "yellow"}.get(run.status, "red")
    click.secho(f"DRILL {run.status.upper()}: {run.decision}: {run.why}", fg=color,
                err=run.status not in ("passed", "rolled back"))


COMMANDS = [drill]
