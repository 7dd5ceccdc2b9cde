"""`[reconcile.conflicts]`: the windows of the conflict checks (reconcile/conflicts.py).

    [reconcile.conflicts]
    duplicate_order_hours = 24              # an EHR order this close to a paper one: duplicate
    duplicate_administration_minutes = 60   # an EHR dose this close to a paper one: charted
    window_grace_minutes = 0                # paper times this far outside the window pass
    future_grace_minutes = 5                # clocks that run a little ahead
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from snapshots.errors import ToolkitError


class ConflictSettingsError(ToolkitError):
    reason = "config"


@dataclass(frozen=True)
class ConflictSettings:
    """`[reconcile.conflicts]`: the windows of the checks."""

    duplicate_order_hours: float = 24.0
    duplicate_administration_minutes: float = 60.0
    window_grace_minutes: float = 0.0
    future_grace_minutes: float = 5.0

    @classmethod
    def from_table(cls, table: Any, where: str) -> ConflictSettings:
        names = [f.name for f in fields(cls)]
        if not isinstance(table, dict):
            raise ConflictSettingsError(f"{where}: [reconcile] conflicts must be a table "
                                        f"({', '.join(names)})")
        unknown = set(table) - set(names)
        if unknown:
            raise ConflictSettingsError(f"{where}: unknown key(s) in [reconcile.conflicts]: "
                                        f"{', '.join(sorted(unknown))} (known: "
                                        f"{', '.join(names)})")
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not math.isfinite(value) or value < 0:
                raise ConflictSettingsError(f"{where}: [reconcile.conflicts] {key} must be a "
                                            f"number, 0 or more, not {value!r:.40}")
        return cls(**{k: float(v) for k, v in table.items()})
