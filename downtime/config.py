"""The settings tree: one TOML file (`--config FILE` or `DOWNTIME_CONFIG`), parsed and checked
once into typed tables that the commands and the TUI's `make_app()` take whole. Every path is
resolved here, against the config file's folder (never the current one), and every value can
be overridden by its command's flag (`Config.with_paths`, `Config.with_thresholds`).

    [paths]
    source = "hospital"              # FHIR NDJSON / Bundle directory to build from
    store = "store"                  # where snapshots live (builder output, workstation store)
    inbox = "inbox"                  # where the agent picks up new snapshot files
    keys = "keys"                    # key directory
    identity = "keys/ws-4W-1.age"    # this workstation's (or role's) age identity
    trusted_builder_key = "keys/builder.pub"
    signing_key = "keys/builder.pem"
    audit_log = "audit.log"
    registry = "forms-registry"      # the encrypted register of printed forms
    packet_socket_dir = "/run/downtime"  # where the agent hands packets to print (optional)

    [thresholds]
    stale_minutes = 30               # data older than this is shown as a warning
    idle_lock_minutes = 5

    [print]                          # this workstation's defaults for printing from browse
    printer = "4W-nurses"            # a CUPS queue
    paper = "Letter"                 # or "A4"
    packet_group = "nurses-4w"       # may take the agent's pre-rendered packets (optional)

    [audit]                          # who appends this workstation's audit entries
    writer = "agent"                 # "local" (default): browse and print append themselves
    socket_dir = "/run/downtime-audit"  # where the agent's audit writer listens
    group = "nurses-4w"              # who may hand it entries (optional, with socket_dir)
    key = "/var/lib/downtime/audit/audit-key.pem"   # the writer's signing key (made if missing)
    anchors = "/mnt/downtime-share/anchors"          # off the workstation: its signed heads
    anchor_seconds = 60
    spool = "/home/rn/.local/state/downtime/audit-spool.log"  # while the writer is unreachable

    [build]                          # snapshots.settings.BuildSettings: every field
    encounter_status = ["in-progress"]

    [reconcile]                      # reconcile.settings.ReconcileSettings: the HIM station
    folder = "reconcile"

    [recipients]
    escrow = ["age1..."]
    pharmacy = ["age1..."]
    builder = ["age1..."]            # lets the builder open the previous house snapshot
    [recipients.units]
    4W = ["age1...", "keys/ws-4W-2.age.pub"]

A table of the tree is a frozen dataclass; a new table (the source server, the builder
service, reconciliation, drills) is one more field of `Config` and one more parser below,
with its dataclass beside the code that uses it when that code is a library
(snapshots.settings.BuildSettings). docs/configuration.md lists every key and its limits.

Plain dataclasses and checks rather than a validation library: the whole tree parses in well
under a millisecond, and `downtime print packet` has under a second from the command to the
first page in CUPS (pydantic alone takes a tenth of one to import).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconcile.conflict_settings import ConflictSettingsError
from reconcile.settings import ReconcileSettings, ReconcileSettingsError
from reconcile.staff import StaffListError
from snapshots.audit.settings import AuditSettings
from snapshots.errors import ConfigError, oserror_text
from snapshots.fhir_client.settings import ClientSettings, SourceSettingsError
from snapshots.parity.settings import ParitySettings, ParitySettingsError
from snapshots.settings import BuildSettings, SettingsError, parse_as_of

from .builder.settings import BuilderSettings, BuilderSettingsError
from .names import KeyNameError, check_name

if TYPE_CHECKING:
    from snapshots.publish import Recipients

PAPERS = ("Letter", "A4")


@dataclass(frozen=True)
class Paths:
    """[paths]: absolute once loaded (relative ones are taken from the config's folder)."""

    source: Path | None = None
    store: Path | None = None
    inbox: Path | None = None
    keys: Path | None = None
    identity: Path | None = None
    trusted_builder_key: Path | None = None
    signing_key: Path | None = None
    audit_log: Path | None = None
    registry: Path | None = None
    packet_socket_dir: Path | None = None


@dataclass(frozen=True)
class Thresholds:
    stale_minutes: int = 30
    idle_lock_minutes: float = 5


@dataclass(frozen=True)
class PrintSettings:
    """[print]: this workstation's defaults for printing from browse, and who besides the
    agent's own user may take its pre-rendered packets (docs/agent.md)."""

    printer: str | None = None
    paper: str = "Letter"
    packet_group: str | None = None


WRITERS = ("local", "agent")


Recipient = str | Path  # an age1... recipient, or the (resolved) path of a .age.pub file


@dataclass(frozen=True)
class RecipientSettings:
    """[recipients] as written: checked in shape when loaded; the .pub files are read only by
    the commands that encrypt (`resolve`, `escrow_keys`)."""

    escrow: tuple[Recipient, ...] = ()
    pharmacy: tuple[Recipient, ...] = ()
    builder: tuple[Recipient, ...] = ()
    units: dict[str, tuple[Recipient, ...]] = field(default_factory=dict)
    where: str = "the config"

    def resolve(self) -> Recipients:
        """Every recipient read; ConfigError naming the entry when one cannot be, or when
        nobody at all could open a snapshot."""
        from snapshots.publish import Recipients  # the sealing code: only when encrypting

        recipients = Recipients(escrow=self._read("escrow", self.escrow),
                                pharmacy=self._read("pharmacy", self.pharmacy),
                                builder=self._read("builder", self.builder),
                                units={u: self._read(f"units.{u}", v)
                                       for u, v in self.units.items()})
        if not recipients.for_house():
            raise ConfigError(f"no [recipients] in {self.where}: nobody could open the "
                              "snapshot (run `downtime keys init` and add what it prints)")
        return recipients

    def escrow_keys(self) -> list[str]:
        """IT's recovery recipients (the form registry is encrypted to them too)."""
        return self._read("escrow", self.escrow)

    def _read(self, key: str, values: tuple[Recipient, ...]) -> list[str]:
        from snapshots.keys import KeyFileError, read_recipient

        try:
            return [read_recipient(v) for v in values]
        except KeyFileError as e:  # say which table entry of which file, not just the value
            raise ConfigError(f"{self.where}: [recipients] {key}: {e}") from None


@dataclass(frozen=True)
class Config:
    """The settings tree. `Config()` is a site with no config file: every path must then come
    from its flag."""

    file: Path | None = None
    paths: Paths = field(default_factory=Paths)
    thresholds: Thresholds = field(default_factory=Thresholds)
    print: PrintSettings = field(default_factory=PrintSettings)
    build: BuildSettings = field(default_factory=BuildSettings)
    build_as_of_fixed: bool = False  # [build] as_of was set (a drill's fixed 'now')
    recipients: RecipientSettings = field(default_factory=RecipientSettings)
    source: ClientSettings = field(default_factory=ClientSettings)  # [source]: the EHR server
    builder: BuilderSettings = field(default_factory=BuilderSettings)  # [builder]: the service
    audit: AuditSettings = field(default_factory=AuditSettings)  # [audit]: who writes the log
    parity: ParitySettings = field(default_factory=ParitySettings)  # [parity]: the check
    # [parity.legacy] / [parity.target]: how to reach each server (keys of [source]); None:
    # as [source] says
    parity_servers: dict[str, ClientSettings] = field(default_factory=dict)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)  # [reconcile]

    def parity_server(self, side: str, url: str) -> ClientSettings:
        """How to reach `side`'s server at `url`: its [parity.<side>] table, else [source]."""
        return replace(self.parity_servers.get(side, self.source), url=url)

    def path(self, key: str, override: Path | str | None = None, required: bool = True,
             flag: str | None = None) -> Path | None:
        """The path for `key`: the flag's value if given, else the config's; ConfigError
        naming both ways to give it when it is required and neither did."""
        if override is not None:
            return Path(override)
        value = getattr(self.paths, key)
        if value is not None:
            return value
        if required:
            where = f"in {self.file}" if self.file else "(no --config given)"
            raise ConfigError(f"no {key.replace('_', ' ')} path: pass "
                              f"{flag or '--' + key.replace('_', '-')} or set paths.{key} {where}")
        return None

    def with_paths(self, **overrides: Path | str | None) -> Config:
        """The tree with the paths the command line gave (None: keep the config's)."""
        given = {k: Path(v) for k, v in overrides.items() if v is not None}
        return replace(self, paths=replace(self.paths, **given))

    def with_thresholds(self, **overrides: float | None) -> Config:
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, thresholds=replace(self.thresholds, **given))

    def build_settings(self, as_of: str | None = None) -> BuildSettings:
        """[build] for a build starting now: `--as-of` if given, else the config's fixed
        as_of, else the current time."""
        if as_of is not None:
            return replace(self.build, as_of=parse_as_of(as_of, "--as-of"))
        if self.build_as_of_fixed:
            return self.build
        return replace(self.build, as_of=datetime.now(UTC).replace(microsecond=0))

    def require_paths(self, *keys: str) -> None:
        """ConfigError for the first of `keys` that has no path (in the order given)."""
        for key in keys:
            self.path(key)


def load_config(path: Path | str | None = None) -> Config:
    """Load the config named by `path` or DOWNTIME_CONFIG; an empty Config when neither is set.
    ConfigError (one line naming the file and the key) for anything that cannot be used."""
    path = path or os.environ.get("DOWNTIME_CONFIG")
    if not path:
        return Config()
    path = Path(path)
    raw = _read_toml(path)
    base = path.resolve().parent
    build, fixed = _build(path, raw.get("build", {}))
    return Config(file=path, paths=_paths(path, base, raw.get("paths", {})),
                  thresholds=_thresholds(path, raw.get("thresholds", {})),
                  print=_print(path, raw.get("print", {}), raw.get("paths", {})),
                  build=build, build_as_of_fixed=fixed,
                  recipients=_recipients(path, base, raw.get("recipients", {})),
                  source=_source(path, base, raw.get("source", {})),
                  builder=_builder(path, base, raw.get("builder", {})),
                  audit=_audit(path, base, raw.get("audit", {}), raw.get("paths", {}),
                               raw.get("print", {})),
                  parity=_parity(path, raw.get("parity", {})),
                  parity_servers=_parity_servers(path, base, raw.get("parity", {})),
                  reconcile=_reconcile(path, base, raw.get("reconcile", {})))


# A misspelt table or key would otherwise be ignored without a word (e.g. `[threshold]`, and
# the stale warning silently stays at its default).
TABLES = ("paths", "thresholds", "build", "recipients", "print", "source", "builder",
          "audit", "parity", "reconcile")
PATH_KEYS = tuple(f.name for f in fields(Paths))
THRESHOLD_KEYS = tuple(f.name for f in fields(Thresholds))
PRINT_KEYS = tuple(f.name for f in fields(PrintSettings))
AUDIT_KEYS = tuple(f.name for f in fields(AuditSettings))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(oserror_text(e, "cannot read config", path)) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a TOML config (byte {e.start} is not UTF-8 text)") \
            from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    for name in TABLES:
        if not isinstance(raw.get(name, {}), dict):
            raise ConfigError(f"{path}: [{name}] must be a table, not "
                              f"{type(raw[name]).__name__} {raw[name]!r:.40}")
    for table, known in ((None, TABLES), ("paths", PATH_KEYS), ("thresholds", THRESHOLD_KEYS),
                         ("print", PRINT_KEYS), ("audit", AUDIT_KEYS)):
        unknown = set(raw if table is None else raw.get(table, {})) - set(known)
        if unknown:
            where = "at the top level" if table is None else f"in [{table}]"
            raise ConfigError(f"{path}: unknown key(s) {where}: {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(known)})")
    return raw


def _paths(path: Path, base: Path, table: dict[str, Any]) -> Paths:
    for key, value in table.items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}: paths.{key} must be a path (a string), not {value!r:.40}")
    return Paths(**{k: base / v for k, v in table.items()})


def _thresholds(path: Path, table: dict[str, Any]) -> Thresholds:
    values = {}
    for key in THRESHOLD_KEYS:
        if key not in table:
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{path}: thresholds.{key} must be whole minutes, not {value!r:.40}")
        values[key] = value
    return Thresholds(**values)


def _print(path: Path, table: dict[str, Any], paths: dict[str, Any]) -> PrintSettings:
    printer = table.get("printer")
    if printer is not None and not isinstance(printer, str):
        raise ConfigError(f"{path}: [print] printer must be the name of a CUPS queue, not "
                          f"{printer!r:.40}")
    paper = table.get("paper", "Letter")
    if paper not in PAPERS:
        raise ConfigError(f"{path}: [print] paper must be \"Letter\" or \"A4\", not {paper!r}")
    group = table.get("packet_group")
    if group is not None and (not isinstance(group, str) or not group):
        raise ConfigError(f"{path}: [print] packet_group must be the name of an OS group, not "
                          f"{group!r:.40}")
    if group is not None and "packet_socket_dir" not in paths:
        # the default folder is each user's own, which the group's users could not reach
        raise ConfigError(f"{path}: [print] packet_group needs paths.packet_socket_dir, a "
                          "folder the agent and the group's users both reach")
    return PrintSettings(printer=printer or None, paper=paper, packet_group=group)


def _audit(path: Path, base: Path, table: dict[str, Any], paths: dict[str, Any],
           printing: dict[str, Any]) -> AuditSettings:
    writer = table.get("writer", "local")
    if writer not in WRITERS:
        raise ConfigError(f"{path}: [audit] writer must be \"local\" or \"agent\", not "
                          f"{writer!r:.40}")
    if writer == "agent" and "audit_log" not in paths:
        raise ConfigError(f"{path}: [audit] writer = \"agent\" needs paths.audit_log (the "
                          "log the agent's writer keeps)")
    folders = {}
    for key in ("socket_dir", "key", "anchors", "spool"):
        if key in table:
            if not isinstance(table[key], str) or not table[key]:
                raise ConfigError(f"{path}: [audit] {key} must be a path (a string), not "
                                  f"{table[key]!r:.40}")
            folders[key] = base / table[key]
    group = table.get("group")
    if group is not None and (not isinstance(group, str) or not group):
        raise ConfigError(f"{path}: [audit] group must be the name of an OS group, not "
                          f"{group!r:.40}")
    if group is not None and "socket_dir" not in folders:
        raise ConfigError(f"{path}: [audit] group needs [audit] socket_dir, a folder the "
                          "agent and the group's users both reach")
    shared = "socket_dir" in folders and "packet_socket_dir" in paths and \
        folders["socket_dir"] == base / paths["packet_socket_dir"]
    if shared and group != printing.get("packet_group"):
        # one folder can be closed to one group only: each socket would open it to its own
        raise ConfigError(f"{path}: [audit] socket_dir is paths.packet_socket_dir, but "
                          "[audit] group is not [print] packet_group; give them different "
                          "folders")
    seconds = table.get("anchor_seconds", 60)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ConfigError(f"{path}: [audit] anchor_seconds must be a number of seconds "
                          f"greater than 0, not {seconds!r:.40}")
    return AuditSettings(writer=writer, group=group, anchor_seconds=seconds, **folders)


def _build(path: Path, table: dict[str, Any]) -> tuple[BuildSettings, bool]:
    try:
        return BuildSettings.from_config(table), "as_of" in table
    except SettingsError as e:
        raise ConfigError(f"{path}: {e}", reason="settings") from None


def _source(path: Path, base: Path, table: dict[str, Any]) -> ClientSettings:
    try:
        return ClientSettings.from_table(table, base, str(path))
    except SourceSettingsError as e:
        raise ConfigError(str(e)) from None


def _builder(path: Path, base: Path, table: dict[str, Any]) -> BuilderSettings:
    try:
        return BuilderSettings.from_table(table, base, str(path))
    except BuilderSettingsError as e:
        raise ConfigError(str(e)) from None


def _parity(path: Path, table: dict[str, Any]) -> ParitySettings:
    try:
        return ParitySettings.from_table(table, str(path))
    except ParitySettingsError as e:
        raise ConfigError(str(e)) from None


def _parity_servers(path: Path, base: Path, table: dict[str, Any]) -> dict[str, ClientSettings]:
    servers = {}
    for side in ("legacy", "target"):
        if side not in table:
            continue
        if not isinstance(table[side], dict):
            raise ConfigError(f"{path}: [parity.{side}] must be a table (the keys of [source])")
        try:
            servers[side] = ClientSettings.from_table(table[side], base, str(path))
        except SourceSettingsError as e:
            raise ConfigError(str(e).replace("[source]", f"[parity.{side}]")) from None
    return servers


def _reconcile(path: Path, base: Path, table: dict[str, Any]) -> ReconcileSettings:
    try:
        return ReconcileSettings.from_table(table, base, str(path))
    except (ReconcileSettingsError, StaffListError, ConflictSettingsError) as e:
        raise ConfigError(str(e)) from None


def _recipients(path: Path, base: Path, table: dict[str, Any]) -> RecipientSettings:
    def entries(key: str, values: object) -> tuple[Recipient, ...]:
        items = values if isinstance(values, list) else [values]
        if not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{path}: [recipients] {key} must be a list of age1... "
                              "recipients or .pub file paths")
        return tuple(v if v.startswith("age1") else base / v for v in items if v)

    unknown = set(table) - {"escrow", "pharmacy", "builder", "units"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [recipients]: "
                          f"{', '.join(sorted(unknown))} (known: escrow, pharmacy, builder, "
                          "units)")
    units = table.get("units", {})
    if not isinstance(units, dict):
        raise ConfigError(f"{path}: [recipients] units must be a table (unit code = "
                          "[recipients])")
    for unit in units:  # a unit code names its snapshot file in the store
        try:
            check_name(str(unit), "unit code")
        except KeyNameError as e:
            raise ConfigError(f"{path}: [recipients.units] {e}") from None
    return RecipientSettings(escrow=entries("escrow", table.get("escrow", [])),
                             pharmacy=entries("pharmacy", table.get("pharmacy", [])),
                             builder=entries("builder", table.get("builder", [])),
                             units={str(u): entries(f"units.{u}", v) for u, v in units.items()},
                             where=str(path))
