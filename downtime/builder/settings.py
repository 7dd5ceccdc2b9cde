"""The `[builder]` table: how the central builder service runs.

    [builder]
    every_seconds = 30          # a pull and build this often (incremental from a server):
                                # 30 s: data under a minute old on a workstation (README)
    full_every_minutes = 360    # and a full build this often (and at start)
    publish = ["/srv/downtime/outbox"]   # folders the workstations' agents take files from
    keep = 3                    # snapshots kept per scope in the store and each publish folder
    per_unit = true             # one snapshot per unit, besides the house
    warn_age_seconds = 120      # `builder status`: data older than this is a WARNING
    critical_age_seconds = 600  #   and older than this CRITICAL

Paths are resolved against the config's folder by downtime/config.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapshots.errors import ToolkitError


class BuilderSettingsError(ToolkitError):
    reason = "config"


@dataclass(frozen=True)
class BuilderSettings:
    every_seconds: float = 30
    full_every_minutes: float = 360
    publish: tuple[Path, ...] = ()
    keep: int = 3
    per_unit: bool = True
    warn_age_seconds: float = 120
    critical_age_seconds: float = 600

    @classmethod
    def from_table(cls, table: dict[str, Any], base: Path, where: str) -> BuilderSettings:
        known = {"every_seconds", "full_every_minutes", "publish", "keep", "per_unit",
                 "warn_age_seconds", "critical_age_seconds"}
        unknown = set(table) - known
        if unknown:
            raise BuilderSettingsError(f"{where}: unknown key(s) in [builder]: "
                                       f"{', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key in ("every_seconds", "full_every_minutes", "warn_age_seconds",
                    "critical_age_seconds", "keep"):
            if key in table:
                values[key] = _positive(table[key], key, where, whole=key == "keep")
        publish = table.get("publish", [])
        if isinstance(publish, str):
            publish = [publish]
        if not isinstance(publish, list) or not all(isinstance(p, str) and p for p in publish):
            raise BuilderSettingsError(f"{where}: [builder] publish must be a list of folders")
        values["publish"] = tuple(base / p for p in publish)
        if "per_unit" in table:
            if not isinstance(table["per_unit"], bool):
                raise BuilderSettingsError(f"{where}: [builder] per_unit must be true or false")
            values["per_unit"] = table["per_unit"]
        settings = cls(**values)
        if settings.critical_age_seconds < settings.warn_age_seconds:
            raise BuilderSettingsError(f"{where}: [builder] critical_age_seconds is below "
                                       "warn_age_seconds")
        return settings


def _positive(value: Any, key: str, where: str, whole: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value <= 0 or (whole and value != int(value)):
        raise BuilderSettingsError(f"{where}: [builder] {key} must be a "
                                   f"{'whole ' if whole else ''}number greater than 0, not "
                                   f"{value!r:.40}")
    return int(value) if whole else value
