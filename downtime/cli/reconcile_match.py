"""`downtime reconcile match`, `link` and `create`: who was each patient registered during
downtime? The candidates with their grade and reasons (against the live server, or a FHIR
export's Patients), and a named person's decision, journaled (reconcile/registrations.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from reconcile.localtime import local_text

from ..config import ConfigError
from ..passphrase import passphrase_option

_episode = click.option("--episode", "episode_id", metavar="ID",
                        help="The episode (default: the open one).")
_server = click.option("--server", metavar="URL", help="The EHR's FHIR base URL (reached as "
                       "[source] says; default: [source] url).")
_patients = click.option("--patients", "export", metavar="PATH",
                         type=click.Path(exists=True, path_type=Path),
                         help="Or a FHIR export of the EHR's Patients (NDJSON, a Bundle, or a "
                              "folder of them), read into memory only.")
_by = click.option("--by", "person", required=True, metavar="NAME",
                   help="The person who decides, by name (the station user is recorded too).")


def _with(*options):  # noqa: ANN202 - click decorators
    def apply(f):  # noqa: ANN001, ANN202
        for option in reversed(options):
            f = option(f)
        return f
    return apply


@contextlib.contextmanager
def _against(ctx: click.Context, server: str | None, export: Path | None) -> Iterator[Any]:
    """The server (a FhirClient, closed after) or the export the match runs against."""
    from reconcile.registrations import Against, read_patients
    from snapshots.fhir_client import FhirClient

    config = ctx.obj.config
    if server and export:
        raise click.UsageError("--server or --patients, not both")
    if export is not None:
        yield Against(patients=read_patients(export), where=str(export))
        return
    settings = replace(config.source, url=server) if server else config.source
    if not settings.url:
        raise ConfigError("nothing to match against: give --server URL or --patients PATH, "
                          "or set [source] url")
    with FhirClient(settings) as client:
        yield Against(client=client, where=settings.base_url)


def _open(ctx: click.Context, episode_id: str | None, passphrase_file: Path | None):  # noqa: ANN202
    from reconcile.state import derive

    from .reconcile import _episode_for

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    return episode, derive(episode.journal.read())


@click.command("match")
@_with(_server, _patients)
@click.option("--confirm-certain", is_flag=True, help="Link every undecided registration whose "
              "match offered exactly one certain candidate to it (needs --by: the person "
              "confirming them all).")
@click.option("--by", "person", metavar="NAME", help="With --confirm-certain: who confirms.")
@click.option("--json", "as_json", is_flag=True, help="The registrations and candidates as "
              "JSON.")
@_episode
@passphrase_option
@click.pass_context
def match_cmd(ctx: click.Context, server: str | None, export: Path | None,
              confirm_certain: bool, person: str | None, as_json: bool,
              episode_id: str | None, passphrase_file: Path | None) -> None:
    """Each downtime registration in force with its EHR candidates (grade: certain,
    probable, possible; the reasons in words) and the decision standing. Nothing is linked
    without a person: confirm with `link` or `create`, or --confirm-certain --by NAME."""
    from reconcile.registrations import confirm_certain as confirm
    from reconcile.registrations import match_all

    if confirm_certain and not (person or "").strip():
        raise click.UsageError("--confirm-certain needs --by NAME (who confirms)")
    episode, state = _open(ctx, episode_id, passphrase_file)
    with _against(ctx, server, export) as against:
        matches = match_all(state, against, ctx.obj.config.reconcile.fhir)
        confirmed = confirm(episode.journal, state, matches, person or "", against,
                            episode.who) if confirm_certain else []
    decided = state.decisions.registrations
    if as_json:
        click.echo(json.dumps([_as_json(m, decided.get(m.registration.downtime_mrn))
                               for m in matches], indent=2))
        return
    for m in matches:
        _show(m, decided.get(m.registration.downtime_mrn))
    if confirm_certain:
        click.echo(f"{len(confirmed)} certain matches confirmed as links by {person}")
    waiting = sum(m.registration.downtime_mrn not in decided for m in matches)
    click.echo(f"{len(matches)} registrations: {len(matches) - waiting} decided, {waiting} "
               f"waiting for a person (match via {_via(matches)})")


def _via(matches) -> str:  # noqa: ANN001
    return ", ".join(sorted({m.result.via for m in matches})) or "-"


def _show(m, decided: dict | None) -> None:  # noqa: ANN001 - a RegistrationMatch
    from reconcile.registrations import corrected_since, merged_into

    reg = m.registration
    born = reg.birth_date.isoformat() if reg.birth_date else "birth date not written"
    click.secho(f"{reg.downtime_mrn}  {reg.family} {' '.join(reg.given)}  {born}  {reg.sex}  "
                f"({reg.key})", bold=True)
    if decided:
        what = f"link to Patient/{decided['patient_id']}" if decided["decision"] == "link" \
            else "create a new patient"
        click.echo(f"  decided: {what} ({decided.get('grade') or 'not offered'}), by "
                   f"{decided['person']}, {local_text(decided['at'])}")
        if corrected_since(decided, reg):
            click.secho(f"  the registration was corrected since (revision {reg.revision}): "
                        "check the decision again (--reason to change it)", fg="yellow")
    for c in m.result.candidates:
        into = merged_into(c.patient)
        merged = f" [merged into {into}: not a chart to link to]" if into else ""
        click.echo(f"  {c.grade:<9} Patient/{c.patient_id}  {c.score:.2f}  {_label(c.patient)}"
                   f"{merged}: {'; '.join(c.reasons)}")
    if not m.result.candidates:
        click.echo("  no candidate in the EHR")
    if not decided:
        hint = f"link {reg.downtime_mrn} --to ID --by NAME" if m.result.candidates else \
            f"create {reg.downtime_mrn} --by NAME"
        click.echo(f"  waiting for a person: `downtime reconcile {hint}`")


def _label(patient: dict) -> str:
    name = (patient.get("name") or [{}])[0]
    return f"{name.get('family', '')} {' '.join(name.get('given') or [])} " \
           f"{patient.get('birthDate', '')} {patient.get('gender', '')}".strip()


def _as_json(m, decided: dict | None) -> dict:  # noqa: ANN001
    return {"downtime_mrn": m.registration.downtime_mrn, "key": m.registration.key,
            "via": m.result.via, "decided": decided, "candidates": [
                {"patient_id": c.patient_id, "grade": c.grade, "score": c.score,
                 "reasons": list(c.reasons)} for c in m.result.candidates]}


@click.command("link")
@click.argument("mrn")
@click.option("--to", "patient_id", required=True, metavar="PATIENT_ID",
              help="The EHR patient (its id, as `match` lists it) the registration is.")
@_by
@click.option("--force", "force_reason", metavar="REASON", help="Link to a patient the match "
              "did not offer, for this reason (kept in the journal).")
@click.option("--reason", help="Why, when changing a decision already taken.")
@_with(_server, _patients)
@_episode
@passphrase_option
@click.pass_context
def link_cmd(ctx: click.Context, mrn: str, patient_id: str, person: str,
             force_reason: str | None, reason: str | None, server: str | None,
             export: Path | None, episode_id: str | None, passphrase_file: Path | None) -> None:
    """Link a downtime registration (its downtime MRN) to an existing EHR patient: its
    entries go to that patient, the downtime MRN kept as an identifier."""
    from reconcile.registrations import link, match_one, registration_of

    episode, state = _open(ctx, episode_id, passphrase_file)
    reg = registration_of(state, mrn)
    with _against(ctx, server, export) as against:
        result = match_one(reg, against, ctx.obj.config.reconcile.fhir)
        event = link(episode.journal, state, mrn, patient_id, person, result, against,
                     episode.who, force_reason=force_reason, reason=reason)
    if event is None:
        click.echo(f"{reg.downtime_mrn} is already linked to Patient/{patient_id}")
        return
    d = event.data
    click.echo(f"{reg.downtime_mrn} linked to Patient/{d['patient_id']} "
               f"({d['grade'] or 'not offered by the match: forced'}), by {d['person']}")


@click.command("create")
@click.argument("mrn")
@_by
@click.option("--reason", help="Why, when the match offered a certain or probable candidate "
              "(or when changing a decision already taken).")
@_with(_server, _patients)
@_episode
@passphrase_option
@click.pass_context
def create_cmd(ctx: click.Context, mrn: str, person: str, reason: str | None,
               server: str | None, export: Path | None, episode_id: str | None,
               passphrase_file: Path | None) -> None:
    """Say a downtime registration is a patient new to the EHR: a Patient and Encounter are
    created with the downtime MRN and encounter number when the episode is submitted."""
    from reconcile.registrations import create, match_one, registration_of

    episode, state = _open(ctx, episode_id, passphrase_file)
    reg = registration_of(state, mrn)
    with _against(ctx, server, export) as against:
        result = match_one(reg, against, ctx.obj.config.reconcile.fhir)
        event = create(episode.journal, state, mrn, person, result, against, episode.who,
                       reason=reason)
    if event is None:
        click.echo(f"{reg.downtime_mrn} is already to be created as a new patient")
        return
    click.echo(f"{reg.downtime_mrn} to be created as a new patient, by {event.data['person']}")


COMMANDS = [match_cmd, link_cmd, create_cmd]
