"""What every benchmark module returns: rows of one table printed by `make bench`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class BenchRow:
    name: str  # what was measured, with its scale: "full build, 1,000 inpatients"
    ours: float  # our figure, in `unit`
    unit: str  # "s", "ms", "resources/s", "pages/s", "MB"
    naive: float | None = None  # the naive path's figure on the same input, same unit
    target: str = ""  # the target, e.g. ">= 5x naive and >= 50,000/s"
    met: bool | None = None  # whether the target holds

    @property
    def ratio(self) -> float | None:
        """How many times better ours is than naive (for rates higher is better)."""
        if self.naive in (None, 0) or self.ours == 0:
            return None
        rate = "/s" in self.unit
        return self.ours / self.naive if rate else self.naive / self.ours


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def median_timed(fn: Callable[[], object], runs: int = 3) -> tuple[float, object]:
    """The median of `runs` timings (and the last result): one run on a shared machine says
    as much about the neighbours as about the code."""
    times, result = [], None
    for _ in range(runs):
        elapsed, result = timed(fn)
        times.append(elapsed)
    return sorted(times)[len(times) // 2], result


# The 1,000-inpatient hospital the sandbox benchmarks share: the same bytes every time, so the
# sandbox's load cache (~/.cache/downtime/sandbox) serves every module after the first.
HOSPITAL_AS_OF = "2026-11-25T14:00:00+00:00"


def hospital_1000(work):
    from datetime import datetime

    from downtime.generator import generate

    generate(work / "h1000", patients=1000, seed=7,
             as_of=datetime.fromisoformat(HOSPITAL_AS_OF))
    return work / "h1000"
