"""`downtime reconcile import FILE` and `downtime reconcile rejected`: a site's transcription
file (CSV or JSON, docs/back-entry-format.md) into the episode, its invalid rows told and
kept encrypted for correction (reconcile/importing.py)."""

from __future__ import annotations

from pathlib import Path

import click

from reconcile.localtime import local_text

from ..passphrase import passphrase_option

_episode = click.option("--episode", "episode_id", metavar="ID",
                        help="The episode (default: the open one).")


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]),
              help="The file's format (default: from its name, .csv or .json).")
@click.option("--entered-by", metavar="NAME", help="The clerk who typed the file, for rows "
              "whose entered_by is blank.")
@click.option("--pages-done", is_flag=True, help="The file holds whole pages: mark every page "
              "it gave entries for transcribed (not one with a rejected row). Needs --by.")
@click.option("--by", "person", metavar="NAME", help="With --pages-done: the person who says "
              "the pages are typed to their end, by name.")
@_episode
@passphrase_option
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, fmt: str | None, entered_by: str | None,
               pages_done: bool, person: str | None, episode_id: str | None,
               passphrase_file: Path | None) -> None:
    """Import back-entries from a CSV or JSON file (one row per paper line, the columns of
    docs/back-entry-format.md): valid rows are journaled, each invalid one told by line,
    field and reason and kept encrypted for correction; importing the same file again adds
    nothing, a changed row is a correction only with its revision. The file is read, never
    copied."""
    from reconcile.importing import RowsInvalid, import_file

    from .reconcile import _episode_for

    if pages_done and not (person or "").strip():
        raise click.UsageError("--pages-done needs --by NAME (who says the pages are done)")
    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    report = import_file(episode, file, ctx.obj.config.reconcile.staff, entered_by=entered_by,
                         fmt=fmt, pages_done_by=person if pages_done else None)
    if report.imported_before:
        click.echo(f"{file.name}: this file was imported before; what it holds is not "
                   "recorded twice")
    for outcome in report.invalid:
        click.secho(outcome.line(), fg="yellow", err=True)
    for form_id, page in report.pages_done:
        click.echo(f"page {page} of {form_id} marked transcribed")
    for form_id, page, why in report.pages_not_done:
        click.echo(f"page {page} of {form_id} not marked transcribed: {why}")
    click.echo(report.summary())
    if report.invalid:
        raise RowsInvalid(f"{len(report.invalid)} invalid rows: correct them in the file and "
                          "import it again (`downtime reconcile rejected` lists them)")


@click.command("rejected")
@click.argument("set_id", required=False, metavar="[SET]")
@click.option("--csv", "as_csv", is_flag=True, help="With SET: its rows as a CSV of the "
              "import format on standard output (plaintext patient data: redirect it where "
              "you choose, correct, import, delete).")
@_episode
@passphrase_option
@click.pass_context
def rejected_cmd(ctx: click.Context, set_id: str | None, as_csv: bool,
                 episode_id: str | None, passphrase_file: Path | None) -> None:
    """List the rows imports rejected (each set, its rows still open); with SET (its id, or
    the start of it) each row's line, field and reason, or --csv the rows themselves."""
    from reconcile.importing import rejected_csv, rejected_rows, rejected_sets
    from reconcile.state import derive

    from .reconcile import _episode_for

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    if set_id is None:
        if as_csv:
            raise click.UsageError("--csv needs the SET to write")
        events = episode.journal.read()
        sets = rejected_sets(events, derive(events))
        for s in sets:
            click.echo(f"{s.copy}  {local_text(s.at)}  {s.file_name}: {len(s.rows)} rows "
                       f"rejected, {s.open_rows} still without an entry")
        click.echo(f"{len(sets)} rejected sets in episode {episode.id}")
        return
    kept = rejected_rows(episode, set_id)
    if as_csv:
        click.echo(rejected_csv(kept), nl=False)
        return
    click.echo(f"{kept['file_name']} (sha256 {kept['file_sha256'][:12]}):")
    for r in kept["rows"]:
        for p in r["problems"]:
            click.echo(f"  line {r['line']}: {p['field']}: {p['reason']}")


COMMANDS = [import_cmd, rejected_cmd]
