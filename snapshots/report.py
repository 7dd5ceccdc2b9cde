"""The build report: counts in and out per type, required-field presence, code-set integrity,
timestamp consistency, gaps and census completeness. Stored in the snapshot (meta
`build_report`) and printed as tables."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .build_results import CensusAccount, TypeStats
from .lost_records import ALERTING, active_lost
from .mapcontext import MapContext
from .schema import TABLES

if TYPE_CHECKING:
    from rich.console import Console

OUTCOMES = ("read", "kept", "used", "not-in-census", "outside-window", "ignored", "rejected")
# what only a refresh has: rows carried from the previous snapshot, resources deleted, patients
# discharged (shown only when a build has them, so a full build's table keeps to 80 columns)
REFRESH_OUTCOMES = ("carried", "deleted", "discharged", "unchanged")
_HEADINGS = {"not-in-census": "not in\ncensus", "outside-window": "outside\nwindow",
             "carried": "carried\nover"}


def build_report(conn: Any, ctx: MapContext, account: CensusAccount, stats: TypeStats,
                 source_text: str) -> dict[str, Any]:
    """The report of a build whose database is `conn`, made once every row is in."""
    tables = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    units = dict(conn.execute("SELECT unit_code, count(*) FROM encounters GROUP BY unit_code"))
    by_reason = _gap_counts(conn, ctx.gaps.counts())
    excluded = [dict(e) for e in account.exclusions]
    in_snapshot = len(account.census)
    # Complete means every active inpatient of the source is in the snapshot. An exclusion
    # whose patient is in the snapshot all the same (an older duplicate open encounter) does
    # not make it incomplete; any other does, and so would an encounter nobody accounted for.
    accounted = set(account.census.values()) | {e["encounter_id"] for e in excluded}
    unaccounted = [k for k in account.source_census if k not in accounted]
    missing = [e for e in excluded if e["patient_id"] not in account.census]
    return {
        "as_of": ctx.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": source_text,
        "settings": {"encounter_status": list(ctx.settings.encounter_status),
                     "encounter_class": list(ctx.settings.encounter_class),
                     "vitals_hours": ctx.settings.vitals_hours,
                     "labs_days": ctx.settings.labs_days,
                     "administrations_hours": ctx.settings.administrations_hours,
                     "notes_days": ctx.settings.notes_days},
        "types": {t: dict(c) for t, c in sorted(stats.counts.items())},
        "tables": tables,
        "units": units,
        "required_fields_missing": {f"{t}.{e}": n for (t, e), n in sorted(ctx.missing.items())},
        "code_systems": {"seen": dict(sorted(ctx.systems.items())),
                         "unknown": dict(sorted(ctx.unknown_systems.items()))},
        "timestamps": dict(sorted(ctx.timestamp_issues.items())),
        "gaps": {"errors": _total(by_reason, "error"),
                 "warnings": _total(by_reason, "warning"),
                 "by_reason": dict(sorted(by_reason.items()))},
        "records_not_loaded": _active_not_loaded(conn, ctx, set(account.census)),
        "census": {"source_active_inpatient_encounters": len(account.source_census),
                   "in_snapshot": in_snapshot, "excluded": excluded,
                   "unaccounted": unaccounted,
                   "complete": not missing and not unaccounted},
    }


def _active_not_loaded(conn: Any, ctx: MapContext, census: set[str]) -> list[dict[str, str]]:
    """Active orders and allergies of census patients (or of a patient who cannot be told)
    that are not in the snapshot: this build's gaps and those a refresh carries. Each one
    makes `snapshot build` exit non-zero."""
    marks = ", ".join("?" * len(ALERTING))
    columns = ("resource_type", "resource_id", "patient_id", "reason", "record_status",
               "where", "detail")
    carried = [dict(zip(columns, r, strict=True)) for r in conn.execute(
        f"SELECT {', '.join(f'[{c}]' for c in columns)} FROM gaps WHERE reason LIKE "
        f"'error:%' AND resource_type IN ({marks})", ALERTING)]
    rows = carried + ctx.gaps.rows()
    seen, found = set(), []
    for r in active_lost(rows):
        pid = r.get("patient_id") or ""
        key = (r["resource_type"], r.get("resource_id") or r.get("where"), pid)
        if (pid and pid not in census) or key in seen:
            continue
        seen.add(key)
        found.append({"patient_id": pid, "resource_type": r["resource_type"],
                      "resource_id": r.get("resource_id") or "", "where": r.get("where") or "",
                      "status": r.get("record_status") or "", "reason": r["reason"],
                      "detail": str(r.get("detail") or "")[:160]})
    return found


def _gap_counts(conn: Any, new: dict[tuple[str, str], int]) -> dict[str, int]:
    """Gaps by "severity:reason": this build's, and those an incremental build carries from
    the snapshot it refreshes (already in the gaps table when the report is made; a full
    build's table is still empty then). The snapshot holds both, so --strict must see both."""
    counts = {f"{severity}:{reason}": n for (severity, reason), n in new.items()}
    for reason, n in conn.execute("SELECT reason, count(*) FROM gaps GROUP BY reason"):
        counts[reason] = counts.get(reason, 0) + n
    return counts


def _total(by_reason: dict[str, int], severity: str) -> int:
    return sum(n for key, n in by_reason.items() if key.startswith(severity + ":"))


def render(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the report as tables a person can read at a glance."""
    # rich is loaded here, not with the module: a build makes the report but may never print
    # it, and loading rich costs a tenth of a second.
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not isinstance(report.get("census"), dict) or "as_of" not in report:
        console.print("(no build report stored in this snapshot)")
        return
    # Eight columns must fit 80 terminal columns without cutting a type name or a count: no
    # outer edge, one space between columns, and long names and headings wrapped at words
    # ("Medication / Administration", "outside / window") rather than cut to "Medicat…".
    types = Table(title=f"Build report — data as of {report['as_of']}", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0),
                  collapse_padding=True)
    types.add_column("resource type", overflow="fold")
    shown = OUTCOMES + tuple(o for o in REFRESH_OUTCOMES
                             if any(c.get(o) for c in report["types"].values()))
    for outcome in shown:
        types.add_column(_HEADINGS.get(outcome, outcome), justify="right", overflow="fold")
    for rtype, counts in report["types"].items():
        types.add_row(_words(rtype), *[_n(counts.get(o)) for o in shown])
    console.print(types)

    census = report["census"]
    line = (f"Census: {census['in_snapshot']} of {census['source_active_inpatient_encounters']} "
            f"active inpatient encounters in the snapshot")
    if "house_in_snapshot" in census:  # a unit file: its own patients, the house's totals
        line = (f"Census of {report.get('scope', 'this unit')}: {census['in_snapshot']} "
                f"patients; whole house {census['house_in_snapshot']} of "
                f"{census['source_active_inpatient_encounters']} active inpatient encounters")
        if census.get("excluded_elsewhere") or census.get("unaccounted_elsewhere"):
            line += (f"; {census['excluded_elsewhere'] + census['unaccounted_elsewhere']} NOT "
                     "in the snapshot (listed in the house snapshot's report)")
    if census["excluded"]:
        line = f"[bold red]{line}; NOT in it:[/]"
    elif not census.get("complete", True):
        line = f"[bold red]{line}[/]"
    console.print(line)
    for e in census["excluded"]:
        console.print(f"  [red]- encounter {e['encounter_id']} (patient {e['patient_id'] or '?'})"
                      f": {e['reason']}[/]", markup=True, highlight=False)
    for key in census.get("unaccounted", []):
        console.print(f"  [red]- encounter {key}: not accounted for (a fault in the build)[/]")
    if not census.get("complete", True):
        console.print("[bold red]Census INCOMPLETE: active inpatients are missing from this "
                      "snapshot (see above).[/]")
    for line in not_loaded_lines(report):
        console.print(f"[bold red]{line}[/]", highlight=False)
    if report["units"]:
        console.print("Per unit: " + ", ".join(f"{u} {n}" for u, n in
                                                sorted(report["units"].items())))

    checks = Table(title="Checks", title_justify="left")
    checks.add_column("check")
    checks.add_column("finding")
    checks.add_column("count", justify="right")
    for field, n in report["required_fields_missing"].items():
        checks.add_row("required field missing", field, str(n))
    for system, n in report["code_systems"]["unknown"].items():
        checks.add_row("unknown code system", system, str(n))
    for kind, n in report["timestamps"].items():
        checks.add_row("timestamp", kind, str(n))
    for reason, n in report["gaps"]["by_reason"].items():
        checks.add_row("gap register", reason, str(n))
    if checks.row_count:
        console.print(checks)
    gaps = report["gaps"]
    console.print(f"Gap register: {gaps['errors']} errors (records not in the snapshot), "
                  f"{gaps['warnings']} warnings. `downtime snapshot report FILE --gaps` "
                  "lists them.")


def not_loaded_lines(report: dict[str, Any]) -> list[str]:
    """One line per active order or allergy not in the snapshot, saying whose and why."""
    lost = report.get("records_not_loaded") or []
    if not lost:
        return []
    lines = [f"{len(lost)} active medication order(s) or allergy record(s) of the source are "
             "NOT in the snapshot (the patient's chart and forms say so):"]
    for r in lost:
        who = f"patient {r['patient_id']}" if r.get("patient_id") else \
            "patient cannot be told (no usable subject or encounter)"
        what = "MedicationRequest" if r["resource_type"] == "MedicationRequest" else \
            "AllergyIntolerance"
        lines.append(f"  - {who}: {r.get('status') or 'active'} {what} "
                     f"{r.get('resource_id') or r.get('where')}: "
                     f"{str(r.get('reason', '')).removeprefix('error:')} "
                     f"({r.get('detail') or 'see the gap register'})")
    return lines


def _words(camel: str) -> str:
    """ "MedicationAdministration" -> "Medication Administration", so a narrow column wraps it
    at the word."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", camel)


def _n(value: int | None) -> str:
    return "" if not value else f"{value:,}"
