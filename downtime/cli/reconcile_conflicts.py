"""`downtime reconcile check | conflicts | decide`: the back-entries checked against what the
EHR holds now, their conflicts listed by patient, and a person's decision on each
(reconcile/conflicts.py, reconcile/conflict_decisions.py)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from ..config import ConfigError
from ..passphrase import passphrase_option

_episode = click.option("--episode", "episode_id", metavar="ID",
                        help="The episode (default: the open one).")


def _current_state(config: Any, entries: list, server: str | None, export: Path | None,
                   bulk: bool) -> Any:
    from reconcile import current_state

    if export is not None:
        return current_state.from_export(export)
    url = server or config.source.url
    if not url:
        raise ConfigError("no EHR to check against: give --server URL or --export DIR (or "
                          "[source] url in the config)")
    from snapshots.fhir_client import FhirClient

    settings = dataclasses.replace(config.source, url=url)
    with FhirClient(settings) as client:
        if bulk:
            return current_state.from_bulk(client, level="patient")
        return current_state.from_server(client, sorted({e.patient_id for e in entries}))


@click.command("check")
@click.option("--server", metavar="URL", help="The EHR's FHIR base URL (default: [source] "
              "url; its auth and TLS settings are used).")
@click.option("--export", "export", type=click.Path(exists=True, path_type=Path),
              help="A FHIR export folder (NDJSON as Bulk Data writes it) instead of a server.")
@click.option("--bulk", is_flag=True, help="Read the server by a Bulk Data export (Patient "
              "level) instead of searches for the episode's patients.")
@_episode
@passphrase_option
@click.pass_context
def check_cmd(ctx: click.Context, server: str | None, export: Path | None, bulk: bool,
              episode_id: str | None, passphrase_file: Path | None) -> None:
    """Check every back-entry in force against what the EHR holds now; the run goes in the
    journal. Prints a summary; `reconcile conflicts` lists what waits for a decision."""
    from reconcile.conflict_decisions import journal_check
    from reconcile.state import derive

    from .reconcile import _episode_for, _who

    if server and export:
        raise click.UsageError("--server or --export, not both")
    config = ctx.obj.config
    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    state = derive(episode.journal.read())
    entries = state.entries.in_force()
    if not entries:
        click.echo(f"episode {episode.id}: no back-entries to check")
        return
    current = _current_state(config, entries, server, export, bulk)
    event = journal_check(episode.journal, state, current, _who(config),
                          config.reconcile.conflicts, config.reconcile.staff)
    checked = event.data["entries"]
    codes = Counter(c["code"] for item in checked for c in item["conflicts"])
    flagged = sum(1 for item in checked if item["conflicts"])
    click.echo(f"checked {len(checked)} entries against {current.against['where']}: "
               f"{len(checked) - flagged} clear, {flagged} with conflicts")
    for code, n in sorted(codes.items()):
        click.echo(f"  {code}: {n}")
    if current.faults:
        click.secho(f"  {len(current.faults)} lines of the export could not be read (first: "
                    f"{current.faults[0]})", fg="yellow", err=True)
    waiting = sum(len(v) for v in _open(state).values())
    if waiting:
        click.echo(f"{waiting} conflicts wait for a decision: downtime reconcile conflicts")


def _open(state: Any, unit: str | None = None) -> dict[str, list[dict[str, Any]]]:
    from reconcile.conflict_decisions import open_by_patient

    return open_by_patient(state, unit)


@click.command("conflicts")
@click.option("--unit", help="Only the entries of this unit's forms (entries on a form no "
              "registry has are then left out).")
@click.option("--json", "as_json", is_flag=True, help="As JSON (by patient id).")
@_episode
@passphrase_option
@click.pass_context
def conflicts_cmd(ctx: click.Context, unit: str | None, as_json: bool, episode_id: str | None,
                  passphrase_file: Path | None) -> None:
    """The conflicts that wait for a decision, by patient, in words."""
    from reconcile.state import derive

    from .reconcile import _episode_for

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    state = derive(episode.journal.read())
    by_patient = _open(state, unit)
    if as_json:
        click.echo(json.dumps(by_patient, indent=2))
        return
    if not by_patient:
        unchecked = sum(1 for e in state.entries.in_force()
                        if state.decisions.standing(e.key, e.revision) == "unchecked")
        tail = f" ({unchecked} entries not checked yet: downtime reconcile check)" \
            if unchecked else ""
        click.echo(f"episode {episode.id}: no open conflicts{tail}")
        return
    for pid, items in by_patient.items():
        header = _patient_line(state, pid, items)
        click.secho(header, bold=True)
        for c in items:
            click.echo(f"  {c['key']}  [{c['code']}]")
            # under the patient's line the reason need not name them again
            click.echo(f"      {c['reason'].removeprefix(header + ': ')}")
    total = sum(len(v) for v in by_patient.values())
    click.echo(f"{total} open conflicts, {len(by_patient)} patients. Decide each: downtime "
               "reconcile decide KEY --code CODE (--accept | --reject | --edit FIELD=VALUE) "
               "--reason TEXT --by NAME")


def _patient_line(state: Any, pid: str, items: list[dict[str, Any]]) -> str:
    """The patient as the paper names them (bed, name, MRN from the registry), else as the
    first reason does."""
    for c in items:
        form = state.forms.get(c["key"].split("/")[0])
        if form is not None and form.patient_id == pid and form.person():
            return form.person()
    return items[0]["reason"].split(": ")[0] or pid


@click.command("decide")
@click.argument("key")
@click.option("--code", required=True, help="The conflict's code (as `reconcile conflicts` "
              "shows it, in brackets).")
@click.option("--accept", "decision", flag_value="accept", help="Submit the entry as it is.")
@click.option("--reject", "decision", flag_value="reject", help="Do not submit the entry.")
@click.option("--edit", "edits", multiple=True, metavar="FIELD=VALUE",
              help="Correct the entry (a new revision, checked again): e.g. --edit 'dose=2 mg'"
                   " --edit route=IV; repeat for several fields.")
@click.option("--reason", required=True, help="Why (kept in the journal).")
@click.option("--by", "person", required=True, help="Who decides, by name.")
@_episode
@passphrase_option
@click.pass_context
def decide_cmd(ctx: click.Context, key: str, code: str, decision: str | None,
               edits: tuple[str, ...], reason: str, person: str, episode_id: str | None,
               passphrase_file: Path | None) -> None:
    """Decide one open conflict of an entry: accept, reject, or edit (correct) it."""
    from reconcile.conflict_decisions import decide
    from reconcile.state import derive

    from .reconcile import _episode_for, _who

    if edits and decision:
        raise click.UsageError("--edit or --accept/--reject, not both")
    chosen = "edit" if edits else decision
    if chosen is None:
        raise click.UsageError("say --accept, --reject or --edit FIELD=VALUE")
    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    state = derive(episode.journal.read())
    events = decide(episode.journal, state, key, code, chosen, reason, person,
                    _who(ctx.obj.config), edits)
    last = events[-1].data
    said = {"accept": "accepted", "reject": "rejected", "edit": "edited"}[chosen]
    click.echo(f"{key}: {code} {said} by {person}" + (
        f"; corrected as revision {last['revision_to']} (check it again: downtime reconcile "
        "check)" if chosen == "edit" else "") + (
        f"; it goes to the surviving chart Patient/{last['retarget_to']}"
        if last.get("retarget_to") else ""))


COMMANDS = [check_cmd, conflicts_cmd, decide_cmd]
