"""Timestamp consistency checks run over the finished canonical database: times after the
build's as-of (future), and clinical times before the patient's birth."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from .mapcontext import MapContext

TIMED_COLUMNS = (("observations", "effective_at"), ("administrations", "given_at"),
                 ("notes", "written_at"), ("encounters", "admitted_at"),
                 ("procedures", "performed_at"), ("med_orders", "authored_at"),
                 ("problems", "onset"), ("allergies", "recorded_at"))


def timestamp_checks(conn: sqlite3.Connection, ctx: MapContext) -> None:
    limit = (ctx.as_of + timedelta(minutes=ctx.settings.future_tolerance_minutes))
    limit_text = limit.strftime("%Y-%m-%dT%H:%M:%SZ")
    # One pass over each table finds both kinds. Birth dates are looked up in a keyed temporary
    # copy (one b-tree search a row, where patients needs two: its key index, then the row).
    conn.execute("CREATE TEMP TABLE _births (id TEXT PRIMARY KEY, birth_date TEXT NOT NULL) "
                 "WITHOUT ROWID")
    try:
        conn.execute("INSERT INTO temp._births SELECT id, birth_date FROM main.patients "
                     "WHERE birth_date IS NOT NULL")
        for table, column in TIMED_COLUMNS:
            _table_times(conn, ctx, table, column, limit_text)
    finally:
        conn.execute("DROP TABLE temp._births")


def _table_times(conn: sqlite3.Connection, ctx: MapContext, table: str, column: str,
                 limit_text: str) -> None:
    """Times after the as-of (future), then clinical times before the patient's birth, each in
    the table's row order."""
    early = []
    for pid, when, born, src_type, src_id, future, before in conn.execute(
            f"SELECT t.patient_id, t.{column}, b.birth_date, t.src_type, t.src_id, "
            f"length(t.{column}) > 10 AND t.{column} > ?1, "
            f"substr(t.{column}, 1, 10) < b.birth_date "
            f"FROM main.{table} t LEFT JOIN temp._births b ON b.id = t.patient_id "
            f"WHERE (length(t.{column}) > 10 AND t.{column} > ?1) "
            f"OR substr(t.{column}, 1, 10) < b.birth_date", (limit_text,)):
        if future:
            _issue(ctx, "future", f"{src_type}/{src_id}", src_type, src_id, pid,
                   f"{column} {when} is after the build's as-of {limit_text[:16]}Z")
        if before:
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
    """A recorded "no known allergies" beside a recorded allergy (often a merged chart): the
    chart shows the allergy; the gap register says the record contradicts itself."""
    for (pid,) in conn.execute(
            "SELECT patient_id FROM allergies WHERE coalesce(clinical_status, 'active') = "
            "'active' GROUP BY patient_id HAVING max(no_known) = 1 AND min(no_known) = 0"):
        ctx.gaps.add(f"Patient/{pid}", "allergy-conflict", "'no known allergy' recorded "
                     "beside recorded allergies; the allergies are shown", resource_type=
                     "AllergyIntolerance", patient_id=pid, severity="warning")
