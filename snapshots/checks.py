"""Timestamp consistency checks run over the finished canonical database: times after the
build's as-of (future), and clinical times before the patient's birth."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from . import no_known
from .mapcontext import MapContext

TIMED_COLUMNS = (("observations", "effective_at"), ("administrations", "given_at"),
                 ("notes", "written_at"), ("encounters", "admitted_at"),
                 ("procedures", "performed_at"), ("med_orders", "authored_at"),
                 ("problems", "onset"), ("allergies", "recorded_at"))


def timestamp_checks(conn: sqlite3.Connection, ctx: MapContext) -> None:
    limit = (ctx.as_of + timedelta(minutes=ctx.settings.future_tolerance_minutes))
    limit_text = limit.strftime("%Y-%m-%dT%H:%M:%SZ")
    # The message names both times: a time within the tolerance of the as-of is not flagged,
    # and a reader comparing the time with the as-of alone would wonder why this one was.
    tolerance = f"{ctx.settings.future_tolerance_minutes:g}"
    ceiling = (f"{limit_text[:16]}Z (the build's as-of {ctx.as_of.strftime('%Y-%m-%dT%H:%MZ')} "
               f"+ {tolerance} min tolerance)")
    # One pass over each table finds both kinds. Birth dates are looked up in a keyed temporary
    # copy (one b-tree search, where patients needs two: its key index, then the row), and only
    # for a time before the latest birth date of all: no other can be before its patient's.
    conn.execute("CREATE TEMP TABLE _births (id TEXT PRIMARY KEY, birth_date TEXT NOT NULL) "
                 "WITHOUT ROWID")
    try:
        conn.execute("INSERT INTO temp._births SELECT id, birth_date FROM main.patients "
                     "WHERE birth_date IS NOT NULL")
        latest = conn.execute("SELECT max(birth_date) FROM temp._births").fetchone()[0]
        for table, column in TIMED_COLUMNS:
            _table_times(conn, ctx, table, column, limit_text, ceiling, latest)
    finally:
        conn.execute("DROP TABLE temp._births")


_BORN = "(SELECT birth_date FROM temp._births WHERE id = t.patient_id)"


def _table_times(conn: sqlite3.Connection, ctx: MapContext, table: str, column: str,
                 limit_text: str, ceiling: str, latest: str | None) -> None:
    """Times after the as-of (future), then clinical times before the patient's birth, each in
    the table's row order."""
    future = f"(length(t.{column}) > 10 AND t.{column} > ?1)"
    before = f"(substr(t.{column}, 1, 10) < ?2 AND substr(t.{column}, 1, 10) < {_BORN})"
    early = []
    for pid, when, born, src_type, src_id, is_future, is_before in conn.execute(
            f"SELECT t.patient_id, t.{column}, {_BORN}, t.src_type, t.src_id, {future}, "
            f"{before} FROM main.{table} t WHERE {future} OR {before}", (limit_text, latest)):
        if is_future:
            _issue(ctx, "future", f"{src_type}/{src_id}", src_type, src_id, pid,
                   f"{column} {when} is after {ceiling}")
        if is_before:
            early.append((pid, when, born, src_type, src_id))
    for pid, when, born, src_type, src_id in early:
        _issue(ctx, "before-birth", f"{src_type}/{src_id}", src_type, src_id, pid,
               f"{column} {when} is before the patient's birth date {born}")


def _issue(ctx: MapContext, kind: str, where: str, rtype: str, rid: str, pid: str,
           detail: str) -> None:
    ctx.timestamp_issues[kind] = ctx.timestamp_issues.get(kind, 0) + 1
    ctx.gaps.add(where, f"timestamp-{kind}", detail, resource_type=rtype, resource_id=rid,
                 patient_id=pid, severity="warning")


def allergy_conflicts(conn: sqlite3.Connection, ctx: MapContext) -> None:
    """A recorded "no known ... allergy" beside a recorded allergy it covers (a penicillin
    allergy beside NKDA, often a merged chart): the chart shows the allergy, not the statement;
    the gap register says the record contradicts itself. NKDA beside a food allergy is no
    contradiction: NKDA says nothing about food."""
    by_patient: dict[str, list[tuple]] = {}
    for row in conn.execute(
            "SELECT patient_id, no_known, no_known_scope, code, category FROM allergies WHERE "
            "coalesce(clinical_status, 'active') = 'active' AND coalesce(verification_status, "
            "'') NOT IN ('refuted', 'entered-in-error') ORDER BY patient_id, id"):
        by_patient.setdefault(row[0], []).append(row[1:])
    for pid, rows in by_patient.items():
        statements = [scope or no_known.scope_of_code(code) or "all"
                      for flag, scope, code, _ in rows if flag]
        categories = [category for flag, _, _, category in rows if not flag]
        for scope in dict.fromkeys(statements):
            against = [c or "no category" for c in categories if no_known.contradicts(scope, c)]
            if against:
                what = no_known.statement((scope,)).lower()
                ctx.gaps.add(f"Patient/{pid}", "allergy-conflict", f"'{what}' recorded beside "
                             f"{len(against)} recorded allerg{'y' if len(against) == 1 else 'ies'}"
                             f" ({', '.join(sorted(set(against)))}) it covers; the allergies "
                             "are shown, not the statement", resource_type="AllergyIntolerance",
                             patient_id=pid, severity="warning")
