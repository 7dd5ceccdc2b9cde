"""The parity check: two FHIR sources, each built into the canonical model, compared.

    result = run_parity(ParitySource("legacy", path=Path("export")),
                        ParitySource("target", server=ClientSettings(url=...)),
                        ParitySettings(), BuildSettings(as_of=...))
    result.passed, result.differences, result.figures

Both sides are built with the same settings (the same as-of and windows), so a record one
side keeps and the other leaves out is a difference of the sources, not of the builds."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from typing import Any

from ..schema import PATIENT_TABLES, TABLES
from ..settings import BuildSettings
from .compare import ChartComparison, match_patients
from .figures import figures_of, judge
from .result import Difference, ParityResult, SampledChart, SideSummary
from .sampling import draw, strata
from .sections import (
    ALL_SECTIONS,
    IDENTITY,
    MEDICATION_SECTIONS,
    census_labels,
    read_charts,
    read_digests,
)
from .settings import ParitySettings
from .sources import Canonical, ParitySource, load
from .words import who


def run_parity(legacy: ParitySource, target: ParitySource, settings: ParitySettings,
               build: BuildSettings, workers: int | None = None) -> ParityResult:
    """Build both sides (in memory) and compare them. Raises what a build raises when a
    side cannot be read at all (one line naming it)."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    a = load(legacy, build, workers)
    seconds["legacy build"] = time.perf_counter() - start
    b = load(target, build, workers)
    seconds["target build"] = time.perf_counter() - start - seconds["legacy build"]
    mark = time.perf_counter()
    try:
        result = compare(a, b, settings, build)
    finally:
        a.conn.close()
        b.conn.close()
    seconds["compare"] = time.perf_counter() - mark
    result.seconds = {k: round(v, 3) for k, v in seconds.items()}
    return result


def compare(a: Canonical, b: Canonical, settings: ParitySettings,
            build: BuildSettings) -> ParityResult:
    people_a, people_b = census_labels(a.conn), census_labels(b.conn)
    pairs, missing, extra = match_patients(people_a, people_b)
    members = strata(a.conn, build.as_of, set(people_a))
    sampled = draw(members, settings)
    digests_a, digests_b = read_digests(a.conn), read_digests(b.conn)
    # what to read record by record: the sections whose hash differs, every section of a
    # sampled chart
    todo = {pid: _differing(digests_a.get(pid, {}), digests_b.get(tid, {}), pid in sampled)
            for pid, tid in pairs}
    wanted = {pid for pid, sections in todo.items() if sections}
    charts_a = read_charts(a.conn, wanted)
    charts_b = read_charts(b.conn, {tid for pid, tid in pairs if pid in wanted})
    gaps_b = _error_gaps(b.conn)
    census: list[Difference] = _census_differences(a, b, people_a, people_b, missing, extra)
    per_patient: list[Difference] = []
    differing, identity, lacking, sample = set(), set(), set(), []
    for pid, tid in sorted(pairs, key=lambda p: (people_a[p[0]]["bed"], p[0])):
        check = ChartComparison(people_a[pid], gaps_b)
        if todo[pid]:
            check.compare(charts_a.get(pid, {}), charts_b.get(tid, {}), todo[pid])
        per_patient += check.differences
        if check.differences:
            differing.add(pid)
        if any(d.section == IDENTITY for d in check.differences):
            identity.add(pid)
        lacks = _has_medications(digests_a.get(pid, {})) and \
            not _has_medications(digests_b.get(tid, {}))
        if lacks:
            lacking.add(pid)
        if pid in sampled:
            sample.append(SampledChart(people_a[pid], sampled[pid], check.sections,
                                       check.fields, len(check.differences), lacks))
    for pid in missing:
        differing.add(pid)
        history = _has_medications(digests_a.get(pid, {}))
        if history:
            lacking.add(pid)
        if pid in sampled:
            sample.append(SampledChart(people_a[pid], sampled[pid], 0, 0, 1, history))
    duplicated = {d.patient["id"] for d in census if d.kind == "duplicated-patient"}
    counts_a, counts_b = census_records(a.conn), census_records(b.conn)
    rest = _count_differences(counts_a, counts_b) + \
        _code_set_differences(a.conn, b.conn) + \
        _required_differences(a.conn, b.conn, people_a, people_b)
    differences = census + per_patient + rest
    with_history = sum(1 for pid in people_a if _has_medications(digests_a.get(pid, {})))
    figures = figures_of(
        differences, patients=len(people_a), missing=len(missing), extra=len(extra),
        duplicated=len(duplicated), identity=len(identity | duplicated),
        differing=len(differing), lacking=len(lacking), with_history=with_history,
        sample=sample, counts=(counts_a, counts_b))
    return ParityResult(
        as_of=build.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        legacy=_summary(a, len(people_a), counts_a), target=_summary(b, len(people_b), counts_b),
        seed=settings.seed, differences=differences, figures=figures,
        criteria=judge(figures, settings.criteria), sample=sample,
        strata={name: {"members": len(members.get(name, [])),
                       "sampled": sum(name in s for s in sampled.values())}
                for name in members},
        patients_compared=len(pairs))


def _has_medications(digest: dict) -> bool:
    return any(digest.get(name) for name in MEDICATION_SECTIONS)


def _differing(a: dict, b: dict, every: bool) -> list[str]:
    """The sections to compare field by field: those whose hash differs, or all of them."""
    return [name for name in ALL_SECTIONS
            if every or (a.get(name) or (None,))[0] != (b.get(name) or (None,))[0]]


def _summary(side: Canonical, patients: int, records: dict[str, int]) -> SideSummary:
    report = side.report
    return SideSummary(side.source.label, side.described, patients, records,
                       {t: c.get("read", 0) for t, c in report["types"].items()},
                       report["gaps"]["errors"], side.resources)


def census_records(conn: sqlite3.Connection) -> dict[str, int]:
    """The census charts' records per FHIR resource type (a panel's components, one)."""
    parts = " UNION ".join(f"SELECT src_type, src_id FROM {t}"
                           for t in ("patients", *PATIENT_TABLES) if "src_type" in TABLES[t])
    return dict(conn.execute(f"SELECT src_type, count(*) FROM ({parts}) WHERE src_type IS NOT "
                             "NULL GROUP BY src_type ORDER BY src_type").fetchall())


def _error_gaps(conn: sqlite3.Connection) -> dict[str, str]:
    return {rid: f"{reason.removeprefix('error:')}: {detail}" for rid, reason, detail in
            conn.execute("SELECT resource_id, reason, detail FROM gaps WHERE reason LIKE "
                         "'error:%' AND resource_id != ''")}


def _census_differences(a: Canonical, b: Canonical, people_a: dict, people_b: dict,
                        missing: list[str], extra: list[str]) -> list[Difference]:
    found = []
    charts_b, charts_a = b.charts_by_mrn(), a.charts_by_mrn()
    excluded = dict(b.conn.execute("SELECT patient_id, reason FROM census_exclusions"))
    for pid in missing:
        patient = people_a[pid]
        there = charts_b.get(patient["mrn"], []) if patient["mrn"] else []
        if there:
            why = next((excluded[p.id] for p in there if p.id in excluded), "")
            reason = f"its chart ({', '.join(p.id for p in there)}) is in the target, " \
                     f"without an open inpatient encounter" + (f": {why}" if why else "")
        else:
            reason = "no Patient with that MRN in the target"
        found.append(Difference("missing-patient", "census",
                                f"{who(patient)}: not in the target's census ({reason})",
                                patient, tags=("identity",)))
    for pid in extra:
        patient = people_b[pid]
        found.append(Difference("extra-patient", "census",
                                f"{who(patient)}: in the target's census, not in the legacy's",
                                patient, tags=("identity",)))
    for pid in sorted(people_a, key=lambda p: (people_a[p]["bed"], p)):
        patient = people_a[pid]
        mrn = patient["mrn"]
        have, has = len(charts_a.get(mrn, [])), charts_b.get(mrn, [])
        if mrn and len(has) > max(have, 1):
            found.append(Difference(
                "duplicated-patient", "census",
                f"{who(patient)}: {len(has)} charts with MRN {mrn} in the target "
                f"({', '.join(p.id for p in has)}), {have} in the legacy", patient,
                field="mrn", legacy=have, target=len(has), tags=("identity",)))
    return found


def _count_differences(a: dict[str, int], b: dict[str, int]) -> list[Difference]:
    return [Difference("count", "counts", f"{rtype}: {a.get(rtype, 0):,} census records in "
                       f"legacy, {b.get(rtype, 0):,} in target", record=rtype,
                       legacy=a.get(rtype, 0), target=b.get(rtype, 0))
            for rtype in sorted(set(a) | set(b)) if a.get(rtype, 0) != b.get(rtype, 0)]


def code_sets(conn: sqlite3.Connection) -> Counter:
    """Codings of the census charts per code system."""
    found: Counter = Counter()
    for table, columns in TABLES.items():
        if "system" in columns and "patient_id" in columns and table != "identifiers":
            for system, n in conn.execute(f"SELECT coalesce(system, '(none)'), count(*) FROM "
                                          f"{table} WHERE code IS NOT NULL GROUP BY 1"):
                found[system] += n
    return found


def _code_set_differences(a: sqlite3.Connection, b: sqlite3.Connection) -> list[Difference]:
    sa, sb = code_sets(a), code_sets(b)
    return [Difference("code-set", "code sets", f"code system {system}: {sa.get(system, 0):,} "
                       f"codings in legacy, {sb.get(system, 0):,} in target", record=system,
                       legacy=sa.get(system, 0), target=sb.get(system, 0), tags=("code",))
            for system in sorted(set(sa) | set(sb)) if sa.get(system, 0) != sb.get(system, 0)]


def _required_differences(a: sqlite3.Connection, b: sqlite3.Connection, people_a: dict,
                          people_b: dict) -> list[Difference]:
    def lacking(conn: sqlite3.Connection) -> dict[tuple, str]:
        return {(t, rid, detail): pid or "" for t, rid, pid, detail in conn.execute(
            "SELECT resource_type, resource_id, patient_id, detail FROM gaps WHERE reason = "
            "'error:missing-required'")}

    la, lb = lacking(a), lacking(b)
    found = []
    for side, mine, theirs, people in (("target", lb, la, people_b), ("legacy", la, lb, people_a)):
        for (rtype, rid, detail), pid in sorted(mine.items()):
            if (rtype, rid, detail) in theirs:
                continue
            patient = people.get(pid)
            other = "legacy" if side == "target" else "target"
            found.append(Difference(
                "required-field", "required fields",
                f"{who(patient)}: required fields: {rtype} {rid} lacks a required field in "
                f"{side} ({detail}), "
                f"not in {other}", patient, record=f"{rtype} {rid}", field=detail,
                legacy=side == "legacy", target=side == "target"))
    return found


def table_counts(conn: sqlite3.Connection) -> dict[str, Any]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
