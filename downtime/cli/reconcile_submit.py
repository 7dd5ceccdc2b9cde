"""`downtime reconcile submit` and `downtime reconcile close`: the back-entries to the EHR (or
to an outbox for the site's own sender), and the episode closed once every issued page is
accounted for (docs/reconcile.md). Thin: reconcile/submit.py and reconcile/close.py do it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ..config import ConfigError
from ..passphrase import passphrase_option

MAX_HELD = 12  # held entries listed, before "... and N more (see status --json)"


@click.command("submit")
@click.option("--to", "url", metavar="URL",
              help="The FHIR server's base URL (default: [source] url). Its auth and TLS are "
                   "[source]'s.")
@click.option("--outbox", type=click.Path(file_okay=False, path_type=Path),
              help="Instead of a server: write each Bundle as a file in this folder for the "
                   "site's own sender, age-encrypted to the episode's recipients.")
@click.option("--plaintext", is_flag=True,
              help="With --outbox: write plain JSON (patient data in the clear; only when "
                   "the sender cannot decrypt and the folder is protected).")
@click.option("--retry-rejected", is_flag=True,
              help="Send again the entries whose Bundle the server refused (after a person "
                   "looked at why).")
@click.option("--episode", "episode_id", metavar="ID",
              help="The episode (default: the open one).")
@passphrase_option
@click.pass_context
def submit_cmd(ctx: click.Context, url: str | None, outbox: Path | None, plaintext: bool,
               retry_rejected: bool, episode_id: str | None,
               passphrase_file: Path | None) -> None:
    """Send the ready back-entries not sent yet, one transaction Bundle per patient; each
    outcome journaled and audited. Exit status 3 when a Bundle was refused."""
    from reconcile.submit import ToOutbox, ToServer, submit
    from snapshots.audit.client import audit_sink
    from snapshots.fhir_client.client import FhirClient

    from .reconcile import _episode_for

    config = ctx.obj.config
    if url and outbox:
        raise click.UsageError("--to and --outbox: one or the other")
    if plaintext and not outbox:
        raise click.UsageError("--plaintext goes with --outbox only")
    url = url or (None if outbox else config.source.url)
    if not url and not outbox:
        raise ConfigError("say where to: --to URL, --outbox DIR, or [source] url in the "
                          "config")
    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    audit = audit_sink(config.audit, config.paths.audit_log)
    server_url = url or config.source.url
    client = FhirClient(replace(config.source, url=server_url)) if server_url else None
    try:
        destination = ToOutbox(outbox, None if plaintext else episode.recipients) \
            if outbox else ToServer(client)
        read = (lambda pid: client.read("Patient", pid)) if client else None
        result = submit(episode, destination, audit, read_patient=read,
                        settings=config.reconcile.fhir, retry_rejected=retry_rejected,
                        on_bundle=_say)
    finally:
        if client is not None:
            client.close()
    _summary(episode.id, result)
    if getattr(audit, "warning", None):
        click.secho(f"audit: {audit.warning}", fg="red", err=True)
    if result.rejected:
        ctx.exit(3)


def _say(outcome) -> None:  # noqa: ANN001 - reconcile.submit.Outcome
    if outcome.status == "rejected":
        click.secho(f"REJECTED {outcome.patient}: {outcome.detail} ({outcome.lines} paper "
                    "lines left for a person)", fg="red", bold=True)
    else:
        where = f" as {outcome.detail}" if outcome.detail else ""
        click.echo(f"{outcome.status} {outcome.patient}: {outcome.lines} paper lines, "
                   f"{outcome.entries} resources{where}")


def _summary(episode_id: str, result) -> None:  # noqa: ANN001 - reconcile.submit.SubmitResult
    sent, rejected = result.sent, result.rejected
    verb = "written to" if any(o.status == "written" for o in sent) else "submitted to"
    click.echo(f"episode {episode_id}: {len(sent)} Bundle{'s' if len(sent) != 1 else ''} "
               f"{verb} {result.to}, {len(rejected)} rejected; {len(result.held)} entries "
               f"held, {result.already} sent before")
    if not result.held:
        return
    by_why: dict[str, list[str]] = {}
    for h in result.held:
        by_why.setdefault(h.why, []).append(h.key)
    click.echo("held:")
    shown = 0
    for why, keys in by_why.items():
        if shown >= MAX_HELD:
            break
        click.echo(f"  {len(keys)} {why}: {', '.join(keys[:4])}"
                   + (f" and {len(keys) - 4} more" if len(keys) > 4 else ""))
        shown += 1
    if len(by_why) > shown:
        click.echo(f"  ... and {len(by_why) - shown} more reasons (see reconcile status --json)")


@click.command("close")
@click.option("--reason", required=True, help="Why it can be closed now (one line).")
@click.option("--by", "person", required=True,
              help="Who closes it, named (the HIM lead who answers for it).")
@click.option("--episode", "episode_id", metavar="ID",
              help="The episode (default: the open one).")
@passphrase_option
@click.pass_context
def close_cmd(ctx: click.Context, reason: str, person: str, episode_id: str | None,
              passphrase_file: Path | None) -> None:
    """Close the episode: only when every issued page is back and transcribed, or marked
    lost; otherwise says which are not. A closed episode takes no more entries, scans nor
    submissions."""
    from reconcile.close import close_episode

    from .reconcile import _episode_for

    episode, _ = _episode_for(ctx, episode_id, passphrase_file)
    data = close_episode(episode, reason, person)
    click.echo(f"episode {episode.id} closed by {person}: {data['pages']} issued pages "
               f"accounted for, {data['entries']} entries")


COMMANDS = [submit_cmd, close_cmd]
