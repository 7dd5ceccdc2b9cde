"""What a build selects and keeps: configurable from the `[build]` table of the config."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from .errors import ToolkitError


class SettingsError(ToolkitError, ValueError):
    reason = "settings"


@dataclass(frozen=True)
class BuildSettings:
    encounter_status: tuple[str, ...] = ("in-progress",)
    encounter_class: tuple[str, ...] = ("IMP", "ACUTE", "OBSENC")
    vitals_hours: float = 72
    labs_days: float = 7
    administrations_hours: float = 48
    notes_days: float = 14
    procedures_days: float = 30
    # Pre-allocated identifiers for patients who arrive while the EHR is down: per unit,
    # `pool_size` MRNs and as many encounter numbers, numbered from these starts.
    downtime_mrn_prefix: str = "DT"
    downtime_encounter_prefix: str = "DE"
    downtime_range_start: int = 900000
    pool_size: int = 25
    future_tolerance_minutes: float = 5
    as_of: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    @classmethod
    def from_config(cls, table: dict[str, Any], **overrides: Any) -> BuildSettings:
        known = {f.name: f for f in fields(cls)}
        unknown = set(table) - set(known)
        if unknown:
            raise SettingsError(f"unknown [build] setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        given = {k: v for k, v in overrides.items() if v is not None}
        for key, value in {**table, **given}.items():
            if key in ("encounter_status", "encounter_class"):
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                if not isinstance(value, list | tuple) or \
                        not all(isinstance(v, str) for v in value):
                    raise SettingsError(f"[build] {key} must be a list of codes")
                value = tuple(value)
            elif key == "as_of":
                value = parse_as_of(value, "--as-of" if key in given else "[build] as_of")
            elif key in _NUMBERS:
                value = _number(key, value, int if key in _WHOLE else float)
            elif key.endswith("_prefix"):
                if not isinstance(value, str) or not value.strip():
                    raise SettingsError(f"[build] {key} must be a non-empty text, not {value!r}")
            values[key] = value
        return cls(**values)


# Windows must be positive (a zero window would keep no vitals at all, silently); the pool
# needs one MRN at least; the tolerance and the numbering may be 0.
_POSITIVE = {"vitals_hours", "labs_days", "administrations_hours", "notes_days",
             "procedures_days", "pool_size"}
_NOT_NEGATIVE = {"future_tolerance_minutes", "downtime_range_start"}
_NUMBERS = _POSITIVE | _NOT_NEGATIVE
_WHOLE = {"pool_size", "downtime_range_start"}


def _number(key: str, value: Any, kind: type) -> float | int:
    """A [build] number as TOML gives it: not a boolean, not text, whole where it counts
    things, and above its floor (windows and the pool > 0, the others >= 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise SettingsError(f"[build] {key} must be a number, not {value!r}")
    if kind is int and value != int(value):
        raise SettingsError(f"[build] {key} must be a whole number, not {value!r}")
    if key in _POSITIVE and value <= 0:
        raise SettingsError(f"[build] {key} must be greater than 0, not {value!r}")
    if value < 0:
        raise SettingsError(f"[build] {key} must be 0 or more, not {value!r}")
    return kind(value)


def parse_as_of(value: Any, name: str = "--as-of") -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise SettingsError(f"{name} {value!r} is not an ISO 8601 time") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
