"""What a parity check hands on: every difference (in words and as data), the figures it
measured, each criterion against its limit, the sample, and whether it passed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# What a difference is about
KINDS = ("missing-patient", "extra-patient", "duplicated-patient", "field", "missing-record",
         "extra-record", "count", "code-set", "required-field")


@dataclass
class Difference:
    kind: str  # one of KINDS
    section: str  # a chart section, or "census", "counts", "code sets", "required fields"
    text: str  # the difference in words, naming the patient
    patient: dict[str, str] | None = None  # id, bed, name, mrn (the legacy's where it has one)
    record: str = ""  # the record, in words ("Penicillin G")
    field: str = ""  # the canonical column that differs
    legacy: Any = None
    target: Any = None
    tags: tuple[str, ...] = ()  # "identity", "timestamp", "code", "medication-history"

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["tags"] = list(self.tags)
        return body


@dataclass
class Criterion:
    figure: str
    limit: float
    value: float
    passed: bool


@dataclass
class SampledChart:
    patient: dict[str, str]
    strata: list[str]
    sections: int  # sections compared field by field
    fields: int  # fields compared
    differences: int  # of them, differing (or records on one side only)
    lacking_medication_history: bool = False


@dataclass
class SideSummary:
    label: str  # legacy, target
    source: str  # the folder or URL, as the build described it
    patients: int  # census patients
    records: dict[str, int]  # census records per resource type
    read: dict[str, int]  # resources read per type
    gap_errors: int
    pulled: int = 0  # resources pulled from a server


@dataclass
class ParityResult:
    as_of: str
    legacy: SideSummary
    target: SideSummary
    seed: int
    differences: list[Difference]
    figures: dict[str, float]
    criteria: list[Criterion]
    sample: list[SampledChart]
    strata: dict[str, dict[str, int]]  # stratum -> members, sampled
    patients_compared: int
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    @property
    def exit_status(self) -> int:
        return 0 if self.passed else 1

    def failed(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.passed]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.passed, "exit_status": self.exit_status, "as_of": self.as_of,
                "seed": self.seed, "legacy": asdict(self.legacy), "target": asdict(self.target),
                "patients_compared": self.patients_compared, "figures": self.figures,
                "criteria": [asdict(c) for c in self.criteria],
                "strata": self.strata, "sample": [asdict(s) for s in self.sample],
                "differences": [d.to_json() for d in self.differences],
                "seconds": self.seconds}
