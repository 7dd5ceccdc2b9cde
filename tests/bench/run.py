"""`make bench`: run every benchmark module and print one table (ours, naive, ratio, target)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

MODULES = ["tests.bench.bench_snapshots", "tests.bench.bench_tui", "tests.bench.bench_forms",
           "tests.bench.bench_sandbox", "tests.bench.bench_live", "tests.bench.bench_refresh",
           "tests.bench.bench_parity", "tests.bench.bench_bundles",
           "tests.bench.bench_scan_read", "tests.bench.bench_reconcile",
           "tests.bench.bench_submit", "tests.bench.bench_conflicts",
           "tests.bench.bench_drill", "tests.bench.bench_enter"]


def main(selected: list[str]) -> int:
    console = Console(width=200)
    table = Table(title="Benchmarks (this machine)", title_justify="left")
    for column in ("measure", "ours", "naive", "ratio", "target", "met"):
        table.add_column(column, justify="left" if column in ("measure", "target") else "right")
    missed = 0
    for name in MODULES:
        if selected and not any(s in name for s in selected):
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            console.print(f"[yellow]{name}: not available ({e})[/]")
            continue
        console.print(f"running {name} ...")
        for row in module.run():
            ratio = f"{row.ratio:.1f}x" if row.ratio else ""
            naive = _fmt(row.naive, row.unit) if row.naive is not None else ""
            met = "" if row.met is None else ("yes" if row.met else "[red]NO[/]")
            missed += row.met is False
            table.add_row(row.name, _fmt(row.ours, row.unit), naive, ratio, row.target, met)
    console.print(table)
    return 0


def _fmt(value: float, unit: str) -> str:
    if unit.endswith("/s"):
        return f"{value:,.0f} {unit}"
    if unit == "s" and value < 1:
        return f"{value * 1000:,.0f} ms"
    return f"{value:,.2f} {unit}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
