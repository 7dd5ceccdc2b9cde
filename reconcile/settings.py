"""The `[reconcile]` table: where the health-information (HIM) station keeps its downtime
episodes, who it is, whom the episodes are encrypted to, which units' workstations are
expected to send their registries and audit logs, and the scan inbox.

    [reconcile]
    folder = "reconcile"              # the episodes (encrypted journals and page copies)
    identity = "keys/him-1.age"       # the HIM station's age identity (passphrase-protected)
    station = "him-1"                 # its name in the journal (default: the identity's name)
    recipients = ["keys/him-2.age.pub"]   # more stations that may open the episodes
    inbox = "/srv/scans/inbox"        # where the scanners write (downtime reconcile watch)
    set_aside = "/srv/scans/set-aside"    # files too big to take in (default: <inbox>-set-aside)
    settle_seconds = 1.0              # a file is complete once its size and mtime hold this long
    retries = 3                       # a file that fails to open is tried this often again
    retry_seconds = 2.0
    workers = 2                       # processes reading scans (default: every core)
    [reconcile.units]
    4W = ["ws-4W-1", "ws-4W-2"]       # the workstations each unit's copies come from
    [reconcile.staff]                 # who the initials on paper are (reconcile.staff)
    4W = [{initials = "AB", name = "Alice Brown", role = "RN"}]
    [reconcile.conflicts]             # the conflict checks' windows (conflict_settings)
    duplicate_order_hours = 24
    [reconcile.fhir]                  # the back-entry Bundles (reconcile.fhir_codes)
    policy = "https://intranet.example.org/policies/downtime-back-entry"
    downtime_mrn_system = "urn:oid:2.16.840.1.113883.3.999.1"

Paths are resolved against the config's folder by downtime/config.py (through `base`).
The journal and the page copies are encrypted to the station's own identity (its `.age.pub`
beside it), `recipients` and the IT escrow of `[recipients]`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from snapshots.errors import ToolkitError

from .conflict_settings import ConflictSettings
from .fhir_codes import BundleSettings
from .staff import StaffList

KEYS = ("folder", "identity", "station", "recipients", "inbox", "set_aside", "settle_seconds",
        "retries", "retry_seconds", "workers", "units", "fhir", "staff", "conflicts")
FHIR_KEYS = tuple(f.name for f in fields(BundleSettings))
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ReconcileSettingsError(ToolkitError):
    reason = "config"


@dataclass(frozen=True)
class ReconcileSettings:
    folder: Path | None = None
    identity: Path | None = None
    station: str = ""
    recipients: tuple[str | Path, ...] = ()
    inbox: Path | None = None
    set_aside: Path | None = None
    settle_seconds: float = 1.0
    retries: int = 3
    retry_seconds: float = 2.0
    workers: int = 0  # 0: every core
    units: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fhir: BundleSettings = field(default_factory=BundleSettings)  # [reconcile.fhir]
    staff: StaffList = field(default_factory=StaffList)  # [reconcile.staff] (reconcile.staff)
    # [reconcile.conflicts] (reconcile.conflict_settings)
    conflicts: ConflictSettings = field(default_factory=ConflictSettings)

    def station_name(self) -> str:
        if self.station:
            return self.station
        if self.identity is not None:
            return self.identity.name.removesuffix(".age")
        return "him"

    def set_aside_folder(self, inbox: Path) -> Path:
        """Where a file too big to take in is moved, with a note of why: beside the inbox
        (not in it: the watcher would see it again), unless the table names one."""
        return self.set_aside or inbox.with_name(inbox.name + "-set-aside")

    def expected_workstations(self, units: tuple[str, ...] | list[str]) -> dict[str, str]:
        """workstation -> unit, for the units given (every configured one when empty)."""
        chosen = units or tuple(self.units)
        return {ws: unit for unit in chosen for ws in self.units.get(unit, ())}

    @classmethod
    def from_table(cls, table: dict[str, Any], base: Path, where: str) -> ReconcileSettings:
        unknown = set(table) - set(KEYS)
        if unknown:
            raise ReconcileSettingsError(f"{where}: unknown key(s) in [reconcile]: "
                                         f"{', '.join(sorted(unknown))} (known: "
                                         f"{', '.join(KEYS)})")
        values: dict[str, Any] = {}
        for key in ("folder", "identity", "inbox", "set_aside"):
            if key in table:
                if not isinstance(table[key], str) or not table[key]:
                    raise ReconcileSettingsError(f"{where}: [reconcile] {key} must be a path "
                                                 f"(a string), not {table[key]!r:.40}")
                values[key] = base / table[key]
        if "station" in table:
            values["station"] = _name(table["station"], "station", where)
        recipients = table.get("recipients", [])
        if isinstance(recipients, str):
            recipients = [recipients]
        if not isinstance(recipients, list) or not all(isinstance(r, str) and r
                                                       for r in recipients):
            raise ReconcileSettingsError(f"{where}: [reconcile] recipients must be a list of "
                                         "age1... recipients or .pub file paths")
        values["recipients"] = tuple(r if r.startswith("age1") else base / r
                                     for r in recipients)
        for key in ("settle_seconds", "retry_seconds"):
            if key in table:
                values[key] = _number(table[key], key, where, low=0)
        for key in ("retries", "workers"):
            if key in table:
                values[key] = int(_number(table[key], key, where, low=0, whole=True))
        values["units"] = _units(table.get("units", {}), where)
        values["fhir"] = _fhir(table.get("fhir", {}), where)
        values["staff"] = StaffList.from_table(table.get("staff", {}), where)
        values["conflicts"] = ConflictSettings.from_table(table.get("conflicts", {}), where)
        return cls(**values)


def _number(value: Any, key: str, where: str, low: float, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value < low or (whole and value != int(value)):
        raise ReconcileSettingsError(f"{where}: [reconcile] {key} must be a "
                                     f"{'whole ' if whole else ''}number, {low} or more, not "
                                     f"{value!r:.40}")
    return value


def _name(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ReconcileSettingsError(f"{where}: [reconcile] {key} must be a name (letters, "
                                     f"digits, . _ -), not {value!r:.40}")
    return value


def _units(units: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(units, dict):
        raise ReconcileSettingsError(f"{where}: [reconcile] units must be a table (unit code "
                                     "= [workstation names])")
    out = {}
    for unit, names in units.items():
        _name(str(unit), "units: a unit code", where)
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list):
            raise ReconcileSettingsError(f"{where}: [reconcile.units] {unit} must be a list "
                                         "of workstation names")
        out[str(unit)] = tuple(_name(n, f"units.{unit}", where) for n in names)
    return out


def _fhir(table: Any, where: str) -> BundleSettings:
    """The identifier systems and policy URI of the back-entry Bundles: each an absolute URI
    (`urn:oid:...`, `https://...`), as FHIR's `Identifier.system` and `Provenance.policy`
    need; unset ones keep the toolkit's URNs."""
    if not isinstance(table, dict):
        raise ReconcileSettingsError(f"{where}: [reconcile] fhir must be a table "
                                     f"({', '.join(FHIR_KEYS)})")
    unknown = set(table) - set(FHIR_KEYS)
    if unknown:
        raise ReconcileSettingsError(f"{where}: unknown key(s) in [reconcile.fhir]: "
                                     f"{', '.join(sorted(unknown))} (known: "
                                     f"{', '.join(FHIR_KEYS)})")
    for key, value in table.items():
        if not isinstance(value, str) or not _absolute_uri(value):
            raise ReconcileSettingsError(f"{where}: [reconcile.fhir] {key} must be an "
                                         "absolute URI (urn:..., https://...), not "
                                         f"{value!r:.60}")
    return BundleSettings(**table)


def _absolute_uri(text: str) -> bool:
    parts = urlsplit(text)
    if not parts.scheme or any(c.isspace() for c in text):
        return False
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return bool(parts.path)  # urn:oid:1.2.3, urn:uuid:...
