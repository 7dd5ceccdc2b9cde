"""The terminal view of `downtime reconcile status` (rich): the totals, then per unit a table
of its patients (in bed order, named as the paper names them), the pages missing by form and
page, the pages marked lost, and what waits for a person. Times in the station's local time
as the forms print them; `--json` keeps ISO 8601. Short on purpose: `--json` and `reconcile
report --pdf` have the whole."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from reconcile.localtime import local_text

MAX_LINES = 12  # of each list, before "... and N more (see --json)"


def show_status(c: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    t = c["totals"]
    w = c["window"]
    console.print(f"[bold]Episode {c['episode']}[/bold]  {local_text(w['start'], year=True)} "
                  f"to {local_text(w['end'], year=True) if w['end'] else 'open end'}  units "
                  f"{', '.join(c['episode_units']) or 'all'}  (data as of "
                  f"{local_text(c['data_as_of'])})", highlight=False)
    console.print(f"{t['forms_issued']} forms issued · {t['pages_in']} pages in · "
                  f"{t['pages_back']} back · [bold]{t['pages_missing']} missing[/bold] · "
                  f"{t['pages_lost']} marked lost", highlight=False)
    console.print(f"{t['queued']} queued for indexing · {t['flagged']} flagged · "
                  f"{t['set_aside']} files set aside", highlight=False)
    b = c.get("back_entry")
    if b and (b["entries"] or b["pages_transcribed"]):
        console.print(f"{b['pages_transcribed']} pages transcribed · {b['entries']} entries: "
                      f"{b['unchecked']} not checked · [bold]{b['in-conflict']} in conflict"
                      f"[/bold] · {b['decided'] + b['declined']} decided", highlight=False)
        console.print(f"{b['submitted']} submitted · {b['outbox']} in outbox · "
                      f"[bold]{b['rejected']} rejected by the EHR[/bold]", highlight=False)
    if c.get("closed"):
        x = c["closed"]
        console.print(f"[bold]closed[/bold] {local_text(x['at'])} by {x['person']}: "
                      f"{x['reason']}", highlight=False)
    if c.get("journal_note"):
        console.print(f"[yellow]note: {c['journal_note']}[/yellow]")
    for ws, unit in sorted(c.get("workstations_missing", {}).items()):
        console.print(f"[yellow]nothing collected from {ws} ({unit})[/yellow]")
    for code, unit in sorted(c["units"].items()):
        _unit(console, code, unit)
    _lines(console, "queued for indexing", [f"{q['page']}  {q['where']}: {q['why']}"
                                            for q in c["queued"]])
    _lines(console, "flagged", [f"{f['page']}  {f['where']}: " + "; ".join(
        x["text"] for x in f["flags"]) for f in c["flagged"]])
    _lines(console, "set aside", [f"{s['source']}: {s['reason']}" + (
        f" (at {s['moved_to']})" if s.get("moved_to") else "") for s in c["set_aside"]])


def _unit(console: Console, code: str, unit: dict[str, Any]) -> None:
    table = Table(title=f"Unit {code}", title_justify="left")
    table.add_column("patient", justify="left", overflow="fold")
    for name in ("forms", "back", "missing", "lost", "flagged"):
        table.add_column(name, justify="right", no_wrap=True)
    patients = unit["patients"].items()  # in bed order (reconcile.custody)
    for pid, p in patients:
        table.add_row(p.get("label") or pid, str(p["forms_issued"]), str(p["pages_back"]),
                      str(p["pages_missing"]), str(p["pages_lost"]), str(p["flagged"]))
    console.print(table)
    _back_entry(console, code, patients)
    _by_patient(console, f"{code}: Bundles rejected by the EHR (for a person)", [
        (p.get("label") or pid, [
            f"{r['key']} ({r['kind']}): {r['rejected']['outcome']}"
            for r in p.get("entered", []) if r["stage"] == "rejected"])
        for pid, p in patients])
    _by_patient(console, f"{code}: pages missing", [
        (p.get("label") or pid, [_page_text(f, n) for f in p["forms"]
                                 for n in f["missing_pages"]]) for pid, p in patients])
    _by_patient(console, f"{code}: pages marked lost", [
        (p.get("label") or pid, [
            f"{_page_text(f, x['page'])}: {x['reason']} (said by {x['person']}, "
            f"{local_text(x['at'])})" for f in p["forms"] for x in f["lost"]])
        for pid, p in patients])
    _by_patient(console, f"{code}: back after being marked lost", [
        (p.get("label") or pid, [
            f"{_page_text(f, x['page'])}: back {local_text(x['back_at'])} "
            f"({x['back_where']}); marked lost by {x['person']} {local_text(x['at'])}"
            for f in p["forms"] for x in f["back_after_lost"]]) for pid, p in patients])


def _back_entry(console: Console, code: str, patients: Any) -> None:
    """Per patient: pages transcribed, entries, in conflict, decided, sent, rejected."""
    rows = [(p.get("label") or pid, p["back_entry"]) for pid, p in patients
            if p.get("back_entry")]
    if not rows:
        return
    table = Table(title=f"Unit {code}: back-entry", title_justify="left")
    table.add_column("patient", justify="left", overflow="fold")
    for name in ("pages typed", "entries", "conflict", "decided", "sent", "rejected"):
        table.add_column(name, justify="right")
    for label, b in rows:
        table.add_row(label, str(b["pages_transcribed"]), str(b["entries"]),
                      str(b["in-conflict"]), str(b["decided"] + b["declined"]),
                      str(b["submitted"] + b["outbox"]), str(b["rejected"]))
    console.print(table)


def _page_text(form: dict[str, Any], page: int | None) -> str:
    """`Downtime MAR page 2 of 2  DT-7K2M9XQ4PL` under its patient's line."""
    which = f"page {page} of {form['pages']}" if page else "(page count not known)"
    return f"{form['title']} {which}  {form['form_id']}"


def _by_patient(console: Console, what: str, groups: list[tuple[str, list[str]]]) -> None:
    """Each patient's line (bed, name, MRN), their pages under it; MAX_LINES pages in all."""
    groups = [(who, lines) for who, lines in groups if lines]
    total = sum(len(lines) for _, lines in groups)
    if not total:
        return
    console.print(f"[bold]{what}[/bold] ({total}):")
    shown = 0
    for who, lines in groups:
        if shown >= MAX_LINES:
            break
        _wrapped(console, who, 2)
        for line in lines[:MAX_LINES - shown]:
            _wrapped(console, line, 4)
        shown += min(len(lines), MAX_LINES - shown)
    if total > shown:
        console.print(f"  ... and {total - shown} more (see --json or reconcile report)")


def _lines(console: Console, what: str, lines: list[str]) -> None:
    if not lines:
        return
    console.print(f"[bold]{what}[/bold] ({len(lines)}):")
    for line in lines[:MAX_LINES]:
        _wrapped(console, line, 2)
    if len(lines) > MAX_LINES:
        console.print(f"  ... and {len(lines) - MAX_LINES} more (see --json)")


def _wrapped(console: Console, line: str, indent: int) -> None:
    """A line indented, and wrapped under its own start (not back at the left edge)."""
    console.print(Padding(Text(line), (0, 0, 0, indent), expand=False), highlight=False)
