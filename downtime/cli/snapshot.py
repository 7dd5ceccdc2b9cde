"""`downtime snapshot`: build, verify, inspect and report on sealed snapshots."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import click
from rich.console import Console

from snapshots import chart, report
from snapshots.errors import IoError
from snapshots.fhir_client.settings import ClientSettings
from snapshots.keys import load_identity, load_public_key, load_signing_key
from snapshots.sealed import load_database, read_manifest, verify

from ..config import Config, ConfigError
from ..passphrase import get_passphrase, passphrase_option
from ..snapshot_jobs import BuildOptions, run_build
from .errors import about_file, json_option


def _path(ctx: click.Context, key: str, value: Path | None, flag: str,
          required: bool = True) -> Path | None:
    return ctx.obj.config.path(key, value, required=required, flag=flag)


# a folder is refused by the snapshot code itself, in one line and with its reason for --json
_file = click.argument("file", type=click.Path(path_type=Path))
_trusted_option = click.option("--trusted-key", type=click.Path(dir_okay=False, path_type=Path),
                               help="Pinned builder public key (default: "
                                    "paths.trusted_builder_key).")
INCOMPLETE = 2  # exit status: snapshot written, but the census is incomplete


@click.group("snapshot")
def snapshot() -> None:
    """Build, verify and inspect sealed snapshot files."""


@snapshot.command("build", epilog="Exit status: 0 built; 1 error, nothing written; 2 built and "
                  "written, but the census is INCOMPLETE (an active inpatient encounter of the "
                  "source is not in the snapshot: see the report) or EMPTY (no active "
                  "inpatient in the source at all), or an active medication order or allergy "
                  "of the source did not load (the patient's chart says so), or, with "
                  "--strict, the gap register holds errors. A scheduler should alert on 2.")
@click.option("--source", metavar="PATH|URL",
              help="FHIR NDJSON folder, Bundle folder or file, or the base URL of the EHR's "
                   "FHIR server (https://...; with the [source] table's mode, auth and TLS) "
                   "(default: paths.source, or [source] url).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Store folder to write snapshots into (default: paths.store).")
@click.option("--per-unit", is_flag=True, help="Also write one snapshot per unit.")
@click.option("--as-of", help="Treat the data as current at this ISO time (default: now).")
@click.option("--previous", type=click.Path(dir_okay=False, path_type=Path),
              help="Previous house snapshot: build incrementally from a delta --source.")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path),
              help="Identity that opens --previous (default: the builder identity in keys).")
@_trusted_option
@click.option("--signing-key", type=click.Path(dir_okay=False, path_type=Path),
              help="Builder Ed25519 key (default: paths.signing_key).")
@click.option("--strict", is_flag=True,
              help="Exit 2 also when any record is in the gap register as an error.")
@click.option("--keep", default=3, show_default=True, type=click.IntRange(1, 1000),
              help="Snapshots kept per scope in --out; older ones are deleted after the build.")
@passphrase_option
@json_option
@click.pass_context
def build(ctx: click.Context, source: str | None, out: Path | None, per_unit: bool,
          as_of: str | None, previous: Path | None, identity: Path | None,
          trusted_key: Path | None, signing_key: Path | None, strict: bool, keep: int,
          passphrase_file: Path | None, as_json: bool) -> None:
    """Build snapshot(s) of every active inpatient from a FHIR source."""
    config = ctx.obj.config
    local, remote = build_source(config, source)
    options = BuildOptions(
        source=local,
        remote=remote,
        out=_path(ctx, "store", out, "--out"),
        per_unit=per_unit,
        previous=previous,
        keep=keep,
        settings=config.build_settings(as_of),
        recipients=config.recipients.resolve(),
    )
    key_path = _path(ctx, "signing_key", signing_key, "--signing-key")
    passphrase = get_passphrase(passphrase_file, "Signing key passphrase")
    options.signing_key = load_signing_key(key_path, passphrase)
    if previous:
        keys_dir = _path(ctx, "keys", None, "--identity", required=False)
        id_path = identity or (keys_dir / "builder.age" if keys_dir else None)
        if id_path is None:
            raise ConfigError("--previous needs --identity (one that can open it)")
        options.identity = load_identity(id_path, passphrase)
        options.trusted_key = load_public_key(
            _path(ctx, "trusted_builder_key", trusted_key, "--trusted-key"))
    _writable(options.out)
    result = run_build(options)
    census = result.report["census"]
    errors = result.report["gaps"]["errors"]
    # No active inpatient at all is "complete" by count, but a hospital is never empty: it is
    # a wrong --source (a key file, an empty or unreadable export). Alert, as for a gap.
    empty = census["source_active_inpatient_encounters"] == 0
    lost = result.report.get("records_not_loaded") or []
    status = 0 if census["complete"] and not empty and not lost and not (strict and errors) \
        else INCOMPLETE
    if as_json:
        click.echo(json.dumps({"ok": status == 0, "census_complete": census["complete"],
                               "census_empty": empty, "records_not_loaded": len(lost),
                               "exit_status": status, "report": result.report, "written": [
                                   {"path": str(p), "manifest": asdict(m)}
                                   for p, m in result.written],
                               "pruned": [str(p) for p in result.pruned]}, indent=2))
    else:
        report.render(result.report, _console())
        for path, manifest in result.written:
            click.echo(f"wrote {path} ({manifest.scope}, sequence {manifest.sequence}, "
                       f"{manifest.counts.get('patients', 0)} patients, "
                       f"{len(manifest.recipients)} recipients)")
        if result.pruned:
            click.echo(f"pruned {len(result.pruned)} older snapshot(s) (keeping {keep} per "
                       "scope)")
        for unit in result.units_without_keys:
            click.secho(f"warning: unit {unit} has no workstation recipients: its patients are "
                        "in the house snapshot only", fg="yellow", err=True)
        if not census["complete"]:
            missing = census["source_active_inpatient_encounters"] - census["in_snapshot"]
            click.secho(f"census INCOMPLETE: {missing} active inpatient encounter(s) of the "
                        "source not in the snapshot (written all the same; exit 2)",
                        fg="red", err=True)
        elif empty:
            where = options.source or options.remote.base_url
            click.secho(f"census EMPTY: no active inpatient encounter in {where} "
                        f"({errors} error(s) in the gap register): is it the right source? "
                        "(written all the same; exit 2)", fg="red", err=True)
        if lost:
            who = sorted({r["patient_id"] or "(patient cannot be told)" for r in lost})
            click.secho(f"active records NOT loaded: {len(lost)} active medication order(s) or "
                        f"allergy record(s) of the source are not in the snapshot (patients: "
                        f"{', '.join(who[:8])}{' ...' if len(who) > 8 else ''}; each chart "
                        "says so; written all the same; exit 2)", fg="red", err=True)
        if status and census["complete"] and not empty and not lost:
            click.secho(f"--strict: {errors} error(s) in the gap register (snapshot written; "
                        "exit 2)", fg="red", err=True)
    ctx.exit(status)


def build_source(config: Config, given: str | None
                 ) -> tuple[Path | None, ClientSettings | None]:
    """What to build from: the folder or file, or the FHIR server, the flag or the config
    names. Both paths.source and [source] url set, and no flag to choose, is refused: a build
    from the wrong one would look like a good snapshot."""
    if given and given.startswith(("http://", "https://")):
        return None, replace(config.source, url=given)
    if given:
        return Path(given), None
    if config.source.url:
        if config.paths.source is not None:
            raise ConfigError(f"{config.file}: both paths.source and [source] url are set: "
                              "remove one, or say which with --source")
        return None, config.source
    return config.path("source", flag="--source"), None


def _console() -> Console:
    """A terminal's own width; 120 columns into a file, pipe or cron mail, where Rich's 80
    would cut "MedicationRequest" and "MedicationAdministration" to the same "Medicat…"."""
    console = Console()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=120)


def _writable(out: Path) -> None:
    """Fail before the build, with one line, when the store folder cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise IoError.from_oserror(e, "cannot create the store folder", out) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise IoError(f"{out}: cannot write to the store folder")


@snapshot.command("verify")
@_file
@_trusted_option
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path),
              help="Also decrypt with this identity (passphrase asked).")
@click.option("--newer-than", type=int, help="Refuse sequences not newer than this.")
@passphrase_option
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, file: Path, trusted_key: Path | None, identity: Path | None,
               newer_than: int | None, passphrase_file: Path | None, as_json: bool) -> None:
    """Check a snapshot's signature, hashes and (with an identity) decryption."""
    about_file(ctx, file)
    key = load_public_key(_path(ctx, "trusted_builder_key", trusted_key, "--trusted-key"))
    identities = []
    if identity:
        identities = [load_identity(identity, get_passphrase(passphrase_file))]
    manifest, database = verify(file, key, identities, newer_than)
    checks = ["manifest", "signature", "payload hash"] + (["decrypt", "database hash"]
                                                          if database else [])
    if as_json:
        click.echo(json.dumps({"ok": True, "file": str(file), "checks": checks,
                               "manifest": asdict(manifest)}))
    else:
        click.echo(f"OK {file}: {manifest.scope} sequence {manifest.sequence}, "
                   f"{', '.join(checks)} verified")


@snapshot.command("info")
@_file
@json_option
@click.pass_context
def info(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Show a snapshot's manifest without decrypting it (the signature is NOT checked)."""
    about_file(ctx, file)
    manifest = read_manifest(file)
    if as_json:
        click.echo(json.dumps(asdict(manifest), indent=2))
        return
    age = chart.data_age(manifest.as_of)
    for label, value in (("snapshot", manifest.snapshot_id), ("scope", manifest.scope),
                         ("sequence", manifest.sequence), ("built", manifest.built_at),
                         ("data as of", f"{manifest.as_of} ({age.text})"),
                         ("source", manifest.source), ("units", ", ".join(manifest.units)),
                         ("counts", ", ".join(f"{k} {v}" for k, v in manifest.counts.items())),
                         ("payload", f"{manifest.payload_size} bytes, sha256 "
                                     f"{manifest.payload_sha256}"),
                         ("signed by", manifest.builder_key_id),
                         ("recipients", len(manifest.recipients))):
        click.echo(f"{label:>11}: {value}")


@snapshot.command("report")
@_file
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path),
              help="Identity to open the snapshot (default: paths.identity).")
@_trusted_option
@click.option("--gaps", "show_gaps", is_flag=True, help="List every gap register entry.")
@passphrase_option
@json_option
@click.pass_context
def report_cmd(ctx: click.Context, file: Path, identity: Path | None, trusted_key: Path | None,
               show_gaps: bool, passphrase_file: Path | None, as_json: bool) -> None:
    """Show the build report (and gap register) stored inside a snapshot."""
    about_file(ctx, file)
    key = load_public_key(_path(ctx, "trusted_builder_key", trusted_key, "--trusted-key"))
    ident = load_identity(_path(ctx, "identity", identity, "--identity"),
                          get_passphrase(passphrase_file))
    manifest, database = verify(file, key, [ident])
    db = load_database(database)
    stored = json.loads(chart.meta(db).get("build_report", "{}"))
    gaps = [dict(r) for r in db.execute("SELECT * FROM gaps ORDER BY seq")] if show_gaps else []
    if as_json:
        click.echo(json.dumps({"scope": manifest.scope, "report": stored, "gaps": gaps},
                              indent=2))
        return
    report.render(stored, _console())
    for g in gaps:
        click.echo(f"{g['where']}: {g['reason']}: {g['detail']}")
    if show_gaps and manifest.unit:
        # the counts above are the whole house's; a unit file holds its own patients' entries
        click.echo(f"{len(gaps)} gap register entr{'y' if len(gaps) == 1 else 'ies'} concern "
                   f"unit {manifest.unit}'s patients; the whole register is in the house "
                   "snapshot (open it with the pharmacy or escrow identity)")


COMMANDS = [snapshot]
