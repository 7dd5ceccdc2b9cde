"""The terminal view of `downtime reconcile status` (rich): the totals, then per unit a table
of its patients, the pages missing by form and page, and what waits for a person. Short on
purpose: `--json` and `reconcile report --pdf` have the whole."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

MAX_LINES = 12  # of each list, before "... and N more (see --json)"


def show_status(c: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    t = c["totals"]
    w = c["window"]
    console.print(f"[bold]Episode {c['episode']}[/bold]  {w['start']} to "
                  f"{w['end'] or 'open end'}  units {', '.join(c['episode_units']) or 'all'}"
                  f"  (data as of {c['data_as_of']})")
    console.print(f"{t['forms_issued']} forms issued · {t['pages_in']} pages in · "
                  f"{t['pages_back']} back · [bold]{t['pages_missing']} missing[/bold] · "
                  f"{t['queued']} queued for indexing · {t['flagged']} flagged · "
                  f"{t['set_aside']} files set aside")
    if c.get("journal_note"):
        console.print(f"[yellow]note: {c['journal_note']}[/yellow]")
    for ws, unit in sorted(c.get("workstations_missing", {}).items()):
        console.print(f"[yellow]nothing collected from {ws} ({unit})[/yellow]")
    for code, unit in sorted(c["units"].items()):
        table = Table(title=f"Unit {code}", title_justify="left")
        for name in ("patient", "forms", "pages back", "missing", "flagged"):
            table.add_column(name, justify="left" if name == "patient" else "right")
        for pid, p in sorted(unit["patients"].items()):
            table.add_row(pid, str(p["forms_issued"]), str(p["pages_back"]),
                          str(p["pages_missing"]), str(p["flagged"]))
        console.print(table)
        _lines(console, "missing", [f"{pid}: {m}" for pid, p in unit["patients"].items()
                                    for m in p["missing"]])
    _lines(console, "queued for indexing", [f"{q['page']}  {q['where']}: {q['why']}"
                                            for q in c["queued"]])
    _lines(console, "flagged", [f"{f['page']}  {f['where']}: " + "; ".join(
        x["text"] for x in f["flags"]) for f in c["flagged"]])
    _lines(console, "set aside", [f"{s['source']}: {s['reason']}" + (
        f" (at {s['moved_to']})" if s.get("moved_to") else "") for s in c["set_aside"]])


def _lines(console: Console, what: str, lines: list[str]) -> None:
    if not lines:
        return
    console.print(f"[bold]{what}[/bold] ({len(lines)}):")
    for line in lines[:MAX_LINES]:
        console.print(f"  {line}", markup=False, highlight=False)
    if len(lines) > MAX_LINES:
        console.print(f"  ... and {len(lines) - MAX_LINES} more (see --json)")
