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
    for table, column in TIMED_COLUMNS:
        for _rid, pid, when, src_type, src_id in conn.execute(
                f"SELECT id, patient_id, {column}, src_type, src_id FROM {table} "
                f"WHERE length({column}) > 10 AND {column} > ?", (limit_text,)):
            _issue(ctx, "future", f"{src_type}/{src_id}", src_type, src_id, pid,
                   f"{column} {when} is after the build's as-of {limit_text[:16]}Z")
        for _rid, pid, when, born, src_type, src_id in conn.execute(
                f"SELECT t.id, t.patient_id, t.{column}, p.birth_date, t.src_type, t.src_id "
                f"FROM {table} t JOIN patients p ON p.id = t.patient_id "
                f"WHERE p.birth_date IS NOT NULL AND substr(t.{column}, 1, 10) < p.birth_date"):
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
