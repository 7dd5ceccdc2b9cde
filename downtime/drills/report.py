"""The drill's report for the auditors: `report.json` (every section, plain data) and
`report.pdf` (forms/drill_report.py lays the same data out), in the drill's report folder.

No patient data: figures, step details, hashes and the names of the people who signed the
gates (staff, who signed knowing it is recorded)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import figures as F
from .runner import DrillRun, StepRun

SCHEMA = "downtime-drill-report/1"


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def build_report(run: DrillRun) -> dict[str, Any]:
    s = run.script
    t0 = run.started or 0.0
    offsets = drill_offsets(run)
    return {
        "schema": SCHEMA,
        "drill": {"name": s.name, "description": s.description, "source": str(s.source),
                  "seed": s.seed, "time_scale": s.time_scale, "started": iso(run.started),
                  "ended": iso(run.ended),
                  "seconds": round((run.ended or t0) - t0, 3), "folder": str(run.folder)},
        "outcome": {"status": run.status, "exit_status": run.exit_status,
                    "decision": run.decision, "why": run.why, "rollback_path": run.path_taken},
        "steady_state": {"title": s.steady_state_title, "probes": [
            {"name": r.probe.name, "when": r.when, "tolerance": r.probe.tolerance.text,
             "held": r.held, "values": r.values, "detail": r.detail} for r in run.probes]},
        "steps": [_step(r, t0, s.time_scale, offsets.get(id(r))) for r in run.steps],
        "timeline": _timeline(run, offsets),
        "criteria": [{"name": c.criterion.name, "when": c.criterion.when.text,
                      "rollback_path": c.criterion.path, "measured": c.measured,
                      "values": c.values, "tripped": c.tripped,
                      "tripped_after": c.tripped_after} for c in run.criteria],
        "faults": [{"step": step, "fault": f.fault, "expected": f.expected,
                    "actual": f.actual, "handled": f.handled} for step, f in run.faults()],
        "rto": _rto(run),
        "rpo": _rpo(run),
        "backentry": _backentry(run),
        "evidence": [{"step": r.step.id, "key": k, "value": v}
                     for r in run.steps for k, v in r.evidence.items()],
        "gates": [g.to_json() for g in run.gates],
        "figures": dict(sorted(run.figures.items())),
    }


def drill_offsets(run: DrillRun) -> dict[int, float]:
    """Each step's start in drill time from the drill's start: the steps run one after the
    other, each taking its real time times its own scale (a gate is not compressed)."""
    at, out = 0.0, {}
    for r in sorted((r for r in run.steps if r.started is not None), key=lambda r: r.started):
        out[id(r)] = at
        at += r.seconds * r.scale(run.script.time_scale)
    return out


def _drill_time(run: DrillRun, offsets: dict[int, float], epoch: float) -> float:
    """A moment (epoch seconds) in drill time: within the step that was running then."""
    runs = [r for r in run.steps if id(r) in offsets]
    before = [r for r in runs if r.started <= epoch] or runs[:1]
    if not before:
        return 0.0
    r = before[-1]
    inside = min(max(0.0, epoch - r.started), r.seconds)
    return offsets[id(r)] + inside * r.scale(run.script.time_scale)


def _timeline(run: DrillRun, offsets: dict[int, float]) -> list[dict[str, Any]]:
    """What happened when, in drill time: the picture's marks."""
    ends = {r.step.id: offsets[id(r)] + r.seconds * r.scale(run.script.time_scale)
            for r in run.steps if id(r) in offsets}
    marks = [(0.0, "start")]
    for name, what in ((F.OUTAGE_STARTED_AT, "outage"), (F.UNITS_READY_AT, "units ready")):
        if name in run.figures:
            marks.append((_drill_time(run, offsets, run.figures[name]), what))
    marks += [(ends.get(g.step, 0.0), f"gate {g.decision}: {g.name}") for g in run.gates]
    marks += [(ends.get(step, 0.0), f"fault {f.fault} "
               f"{'handled' if f.handled else 'NOT HANDLED'}") for step, f in run.faults()]
    marks += [(ends.get(c.tripped_after, 0.0), f"tripped: {c.criterion.name}")
              for c in run.criteria if c.tripped_after]
    marks.append((max(ends.values(), default=0.0), run.status))
    return [{"at": round(at, 3), "what": what} for at, what in sorted(marks,
                                                                       key=lambda m: m[0])]


def _step(r: StepRun, t0: float, scale: float, offset: float | None) -> dict[str, Any]:
    return {"id": r.step.id, "title": r.step.title, "phase": r.step.phase, "path": r.path,
            "owner": r.step.owner, "action": r.step.action, "fault": r.step.fault,
            "needs": list(r.step.needs), "expected_seconds": r.step.expected_seconds,
            "seconds": round(r.seconds, 3),
            "drill_seconds": round(r.seconds * r.scale(scale), 3),
            "overrun": round(r.overrun, 4), "status": r.status, "detail": r.detail,
            "fault_handled": None if not r.faults else all(f.handled for f in r.faults),
            "started": iso(r.started), "ended": iso(r.ended),
            "offset": None if r.started is None else round(r.started - t0, 3),
            "drill_offset": None if offset is None else round(offset, 3)}


def _rto(run: DrillRun) -> dict[str, Any]:
    f = run.figures
    out: dict[str, Any] = {"measured": F.RTO in f, "seconds": f.get(F.RTO),
                           "outage_started": iso(f.get(F.OUTAGE_STARTED_AT)),
                           "units_ready_at": iso(f.get(F.UNITS_READY_AT)),
                           "units_ready": f.get(F.UNITS_READY), "units_total": f.get(F.UNITS_TOTAL)}
    if not out["measured"]:
        out["why"] = "no step reported both outage_started_at and units_ready_at"
    return out


def _rpo(run: DrillRun) -> dict[str, Any]:
    f = run.figures
    out: dict[str, Any] = {"measured": F.RPO in f, "seconds": f.get(F.RPO),
                           "outage_started": iso(f.get(F.OUTAGE_STARTED_AT))}
    if not out["measured"]:
        out["why"] = "no step reported data_age_at_failure_seconds"
    return out


def _backentry(run: DrillRun) -> dict[str, Any]:
    steps = [r for r in run.steps if r.step.action == "back-entry" and r.started is not None]
    seconds = sum(r.seconds for r in steps)
    return {"steps": [r.step.id for r in steps], "seconds": round(seconds, 3),
            "drill_seconds": round(seconds * run.script.time_scale, 3),
            "entries": run.figures.get(F.BACKENTRY_ENTRIES),
            "pages": run.figures.get(F.BACKENTRY_PAGES)}


def write_report(run: DrillRun, folder: Path, *, pdf: bool = True,
                 paper: str = "Letter") -> list[Path]:
    """report.json and report.pdf in `folder`; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    data = build_report(run)
    written = [folder / "report.json"]
    written[0].write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if pdf:
        from forms.drill_report import render_drill_pdf

        (folder / "report.pdf").write_bytes(render_drill_pdf(data, paper))
        written.append(folder / "report.pdf")
    return written
