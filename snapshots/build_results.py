"""What a build hands on: the types shared by the builder (build.py), the second-core mapping
(parallel_map.py), the report (report.py) and the pipeline that runs them (pipeline.py). A leaf:
it imports none of them, so none of them needs another for its types."""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .gaps import Gap, GapRegister
from .sourcecensus import SourceCensus


@dataclass
class TypeStats:
    """Per resource type: what came in and where it went."""

    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, rtype: str, outcome: str, n: int = 1) -> None:
        self.counts[rtype][outcome] += n


@dataclass
class CensusAccount:
    """Who is in the census and why the others are not: what the report's census section is
    made from. `census` maps each patient in the snapshot to their encounter; `source_census`
    holds every active inpatient encounter the source has, taken or not."""

    census: dict[str, str]
    exclusions: list[dict]
    source_census: SourceCensus


@dataclass
class PartialMap:
    """What a forked child mapped (parallel_map): its rows as a whole serialized database of
    the canonical schema, and the gaps, type counts and check counters it found."""

    database: bytes
    gaps: list[Gap]
    counts: dict[str, dict[str, int]]
    counters: dict[str, dict]


@dataclass
class BuildResult:
    conn: sqlite3.Connection
    gaps: GapRegister
    stats: TypeStats
    report: dict
    census: dict[str, str]  # patient id -> encounter id
