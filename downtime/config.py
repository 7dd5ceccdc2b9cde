"""Configuration: one TOML file (`--config FILE` or `DOWNTIME_CONFIG`), every path overridable
by a command-line flag. Relative paths are taken relative to the config file's folder.

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

    [build]                          # see snapshots.settings.BuildSettings for every field
    encounter_status = ["in-progress"]
    encounter_class = ["IMP", "ACUTE", "OBSENC"]

    [recipients]
    escrow = ["age1..."]
    pharmacy = ["age1..."]
    builder = ["age1..."]            # lets the builder open the previous house snapshot
    [recipients.units]
    4W = ["age1...", "age1..."]
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapshots.errors import ToolkitError

PATH_KEYS = ("source", "store", "inbox", "keys", "identity", "trusted_builder_key",
             "signing_key", "audit_log", "registry", "packet_socket_dir")
THRESHOLD_KEYS = ("stale_minutes", "idle_lock_minutes")
# A misspelt table or key would otherwise be ignored without a word (e.g. `[threshold]`, and
# the stale warning silently stays at its default).
TABLES = ("paths", "thresholds", "build", "recipients", "print")


class ConfigError(ToolkitError):
    """The config file, or a value in it, cannot be used."""

    reason = "config"


@dataclass
class Config:
    file: Path | None = None
    paths: dict[str, Path] = field(default_factory=dict)
    stale_minutes: int = 30
    idle_lock_minutes: int = 5
    build: dict[str, Any] = field(default_factory=dict)
    recipients: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def path(self, key: str, override: Path | str | None = None, required: bool = True,
             flag: str | None = None) -> Path | None:
        """The path for `key`: the flag's value if given, else the config's."""
        if override is not None:
            return Path(override)
        if key in self.paths:
            return self.paths[key]
        if required:
            where = f"in {self.file}" if self.file else "(no --config given)"
            raise ConfigError(f"no {key.replace('_', ' ')} path: pass "
                              f"{flag or '--' + key.replace('_', '-')} or set paths.{key} {where}")
        return None

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        return value if isinstance(value, dict) else {}


def load_config(path: Path | str | None = None) -> Config:
    """Load the config named by `path` or DOWNTIME_CONFIG; an empty Config when neither is set."""
    path = path or os.environ.get("DOWNTIME_CONFIG")
    if not path:
        return Config()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a TOML config (byte {e.start} is not UTF-8 text)") \
            from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    for name in TABLES:
        if not isinstance(raw.get(name, {}), dict):
            raise ConfigError(f"{path}: [{name}] must be a table, not "
                              f"{type(raw[name]).__name__} {raw[name]!r:.40}")
    base = path.resolve().parent
    for table, known in ((None, TABLES), ("paths", PATH_KEYS), ("thresholds", THRESHOLD_KEYS)):
        unknown = set(raw if table is None else raw.get(table, {})) - set(known)
        if unknown:
            where = "at the top level" if table is None else f"in [{table}]"
            raise ConfigError(f"{path}: unknown key(s) {where}: {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(known)})")
    for key, value in raw.get("paths", {}).items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}: paths.{key} must be a path (a string), not {value!r:.40}")
    paths = {k: base / v for k, v in raw.get("paths", {}).items()}
    thresholds = raw.get("thresholds", {})
    values = {}
    for key, default in (("stale_minutes", 30), ("idle_lock_minutes", 5)):
        value = thresholds.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{path}: thresholds.{key} must be whole minutes, not {value!r:.40}")
        values[key] = value
    return Config(file=path, paths=paths, stale_minutes=values["stale_minutes"],
                  idle_lock_minutes=values["idle_lock_minutes"], build=raw.get("build", {}),
                  recipients=raw.get("recipients", {}), raw=raw)
