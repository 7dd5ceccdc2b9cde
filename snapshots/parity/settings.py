"""The `[parity]` table: how the migration parity check samples charts and what makes it fail.

    [parity]
    seed = 13                        # the sample is the same for the same seed and sources
    sample_per_stratum = 5           # charts drawn from each risk stratum
    [parity.sample]                  # a stratum's own sample size (0: none from it)
    merged = 10
    [parity.criteria]                # a figure above its limit fails the check (exit 1)
    identity_mismatch_share = 0.0
    lacking_medication_history_share = 0.0
    count_difference = { Observation = 10 }   # per resource type

`[parity.legacy]` and `[parity.target]` (the two FHIR servers, keys of `[source]`) are parsed
by downtime/config.py into ClientSettings; they are not part of this dataclass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ToolkitError

# The risk strata a representative sample is drawn from (snapshots.parity.sampling says how
# each is told from the legacy chart).
STRATA = ("many_allergies", "heavy_documents", "transferred", "merged", "deceased",
          "restricted", "recent_surgery", "behavioral_health")

# Every figure the check measures, that a criterion may name; a `.<Type>` figure takes the
# resource type after the dot (count_difference.Observation).
FIGURES = {
    "patients_missing": "legacy census patients not in the target's census",
    "patients_extra": "target census patients not in the legacy's census",
    "patients_duplicated": "legacy patients with more than one chart (by MRN) in the target",
    "identity_mismatches": "patients whose name, MRN, birth date, sex, identifiers or merge "
                           "links differ",
    "identity_mismatch_share": "identity_mismatches / legacy census patients",
    "charts_differing": "patients with any difference",
    "charts_differing_share": "charts_differing / legacy census patients",
    "lacking_medication_history": "patients with medication orders or doses in the legacy "
                                  "and none in the target",
    "lacking_medication_history_share": "lacking_medication_history / legacy patients with "
                                        "a medication history",
    "sampled_charts_differing": "sampled charts with any difference",
    "sampled_lacking_medication_history": "sampled charts with a medication history in the "
                                          "legacy and none in the target",
    "differences": "every difference found",
    "field_differences": "differing fields of matched records",
    "records_missing": "chart records in the legacy and not in the target",
    "records_extra": "chart records in the target and not in the legacy",
    "timestamp_differences": "differing times (of matched records)",
    "code_differences": "differing codes or code systems (of matched records)",
    "code_set_differences": "code systems whose count of codings differs",
    "required_field_differences": "resources missing a required field in one source only",
    "count_differences": "sum over resource types of |legacy - target| census records",
    "count_difference": "|legacy - target| census records of one type "
                        "(count_difference.<Type>)",
}
PER_TYPE = {"count_difference"}
# Strict by default: a migration passes with no difference at all, unless the site decides
# in advance which differences it accepts.
DEFAULT_CRITERIA = {"differences": 0.0}


class ParitySettingsError(ToolkitError):
    reason = "config"


@dataclass(frozen=True)
class ParitySettings:
    seed: int = 13
    sample_per_stratum: int = 5
    sample: dict[str, int] = field(default_factory=dict)  # stratum -> its own size
    criteria: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CRITERIA))

    def sample_size(self, stratum: str) -> int:
        return self.sample.get(stratum, self.sample_per_stratum)

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> ParitySettings:
        """The `[parity]` table (less `legacy` and `target`), checked: ParitySettingsError
        naming `where` and the key."""
        known = {"seed", "sample_per_stratum", "sample", "criteria", "legacy", "target"}
        unknown = set(table) - known
        if unknown:
            raise ParitySettingsError(f"{where}: unknown key(s) in [parity]: "
                                      f"{', '.join(sorted(unknown))} (known: "
                                      f"{', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        if "seed" in table:
            values["seed"] = _whole(table["seed"], "seed", where)
        if "sample_per_stratum" in table:
            values["sample_per_stratum"] = _whole(table["sample_per_stratum"],
                                                  "sample_per_stratum", where)
        sample = _table(table.get("sample", {}), "sample", where)
        for stratum, size in sample.items():
            if stratum not in STRATA:
                raise ParitySettingsError(f"{where}: [parity.sample] {stratum}: not a risk "
                                          f"stratum (known: {', '.join(STRATA)})")
            sample[stratum] = _whole(size, f"sample.{stratum}", where)
        values["sample"] = sample
        if "criteria" in table:
            values["criteria"] = parse_criteria(_table(table["criteria"], "criteria", where),
                                                f"{where}: [parity.criteria]")
        return cls(**values)


def parse_criteria(table: dict[str, Any], where: str) -> dict[str, float]:
    """`figure = limit` pairs, a per-type figure as a table (`count_difference = {Observation
    = 10}`) or a dotted key: each must name a figure the check measures."""
    criteria: dict[str, float] = {}
    for key, value in table.items():
        if isinstance(value, dict) and key in PER_TYPE:
            for rtype, limit in value.items():
                criteria[f"{key}.{rtype}"] = _limit(limit, f"{key}.{rtype}", where)
            continue
        check_figure(key, where)
        criteria[key] = _limit(value, key, where)
    return criteria


def check_figure(name: str, where: str) -> None:
    base, _, rtype = name.partition(".")
    if base in PER_TYPE and rtype:
        return
    if base in PER_TYPE or name not in FIGURES:
        hint = f" ({base}.<ResourceType>)" if base in PER_TYPE else ""
        raise ParitySettingsError(f"{where}: {name!r} is not a figure the parity check "
                                  f"measures{hint} (known: {', '.join(FIGURES)})")


def _limit(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value < 0:
        raise ParitySettingsError(f"{where}: {key} must be a limit (a number, 0 or more), "
                                  f"not {value!r:.40}")
    if key.endswith("_share") and value > 1:
        raise ParitySettingsError(f"{where}: {key} is a share: a number from 0 to 1, not "
                                  f"{value!r}")
    return float(value)


def _whole(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParitySettingsError(f"{where}: [parity] {key} must be a whole number, 0 or "
                                  f"more, not {value!r:.40}")
    return value


def _table(value: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParitySettingsError(f"{where}: [parity.{key}] must be a table, not "
                                  f"{value!r:.40}")
    return dict(value)
