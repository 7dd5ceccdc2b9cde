"""A drill's report on paper: the report's plain data (downtime/drills/report.py writes it as
report.json) laid out by WeasyPrint from templates/drill/report.html.j2, with two pictures
drawn here as SVG: the timeline of what happened, and planned against actual per step (a
Gantt chart, in drill time).

Plain data in, no imports of the application: forms sits below downtime. Black and white
like every printed page of the toolkit: the state of a bar is said by its fill pattern and
its label, never by colour alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .compose import TEMPLATES, environment

WIDTH = 1000  # SVG user units across the chart
LABEL = 250  # the step labels' column
ROW = 24


def render_drill_pdf(report: dict[str, Any], paper: str = "Letter") -> bytes:
    from weasyprint import CSS, HTML

    html = environment().get_template("drill/report.html.j2").render(**_context(report, paper))
    css = CSS(filename=str(TEMPLATES / "drill" / "report.css"))
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf(stylesheets=[css])


def _context(report: dict[str, Any], paper: str) -> dict[str, Any]:
    gantt = gantt_geometry(report)
    return {"paper": paper, "r": report, "gantt": gantt,
            "timeline": timeline_geometry(report, gantt["scale"], gantt["span"]),
            "printed": datetime.now(UTC).strftime("%d %b %Y %H:%M UTC"),
            "when": _when, "duration": duration, "number": _number,
            "steps_by_id": {s["id"]: s for s in report["steps"]}}


def planned_starts(steps: list[dict[str, Any]]) -> dict[str, float]:
    """When each main-line step was planned to start (drill seconds from the start): after
    the step before it and after everything it needs, each taking its expected time."""
    ends: dict[str, float] = {}
    starts: dict[str, float] = {}
    previous = 0.0
    for s in steps:
        if s["path"] != "main":
            continue
        start = max([previous] + [ends[n] for n in s["needs"] if n in ends])
        starts[s["id"]] = start
        ends[s["id"]] = previous = start + s["expected_seconds"]
    return starts


def gantt_geometry(report: dict[str, Any]) -> dict[str, Any]:
    steps = report["steps"]
    scale = report["drill"]["time_scale"]
    planned = planned_starts(steps)
    span = max([planned[s["id"]] + s["expected_seconds"] for s in steps if s["id"] in planned]
               + [(s["offset"] or 0) * scale + s["drill_seconds"] for s in steps
                  if s["offset"] is not None] + [report["drill"]["seconds"] * scale, 1.0])
    x = _scaler(span)
    rows = []
    for i, s in enumerate(steps):
        y = 30 + i * ROW
        row: dict[str, Any] = {"y": y, "label": s["id"], "owner": s["owner"],
                               "status": s["status"], "path": s["path"], "planned": None,
                               "actual": None}
        if s["id"] in planned and s["path"] == "main":
            row["planned"] = (x(planned[s["id"]]), max(2.0, x(planned[s["id"]] +
                                                           s["expected_seconds"]) -
                                                     x(planned[s["id"]])))
        if s["offset"] is not None:
            start = s["offset"] * scale
            row["actual"] = (x(start), max(2.0, x(start + s["drill_seconds"]) - x(start)))
        rows.append(row)
    return {"rows": rows, "height": 40 + len(steps) * ROW, "ticks": _ticks(span, x),
            "scale": scale, "span": span, "left": LABEL, "width": WIDTH}


def timeline_geometry(report: dict[str, Any], scale: float, span: float) -> dict[str, Any]:
    x = _scaler(span)
    t0 = _epoch(report["drill"]["started"])
    events = [(0.0, "start")]
    outage = _epoch(report["rto"].get("outage_started"))
    if outage is not None:
        events.append(((outage - t0) * scale, "outage"))
    ready = _epoch(report["rto"].get("units_ready_at"))
    if ready is not None:
        events.append(((ready - t0) * scale, "units ready"))
    by_id = {s["id"]: s for s in report["steps"]}
    for g in report["gates"]:
        s = by_id.get(g["step"])
        if s and s["offset"] is not None:
            events.append(((s["offset"] + s["seconds"]) * scale, f"gate {g['decision']}: "
                                                                f"{g['name']}"))
    for f in report["faults"]:
        s = by_id.get(f["step"])
        if s and s["offset"] is not None:
            mark = "handled" if f["handled"] else "NOT HANDLED"
            events.append(((s["offset"] + s["seconds"]) * scale, f"fault {f['fault']} {mark}"))
    for c in report["criteria"]:
        s = by_id.get(c["tripped_after"] or "")
        if s and s["offset"] is not None:
            events.append(((s["offset"] + s["seconds"]) * scale, f"tripped: {c['name']}"))
    events.append((report["drill"]["seconds"] * scale, report["outcome"]["status"]))
    marks = []
    for i, (at, text) in enumerate(sorted(events, key=lambda e: e[0])):
        marks.append({"x": x(at), "text": text, "level": i % 4,
                      "anchor": "end" if x(at) > WIDTH - 150 else "start"})
    return {"marks": marks, "ticks": _ticks(span, x), "left": LABEL, "width": WIDTH}


def _scaler(span: float):  # noqa: ANN202 - a small closure
    def x(seconds: float) -> float:
        return round(LABEL + (WIDTH - LABEL - 10) * max(0.0, seconds) / span, 2)
    return x


def _ticks(span: float, x) -> list[tuple[float, str]]:  # noqa: ANN001
    steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 21600, 43200, 86400]
    step = next((s for s in steps if span / s <= 8), 86400 * 2)
    return [(x(t), duration(t)) for t in range(0, int(span) + 1, step)]


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 and not seconds.is_integer() \
            else f"{seconds:.0f} s"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min" if hours else f"{m} min {s:02d} s"


def _when(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%d %b %Y %H:%M:%S")


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    if isinstance(value, int | float):
        return f"{int(value):,}"
    return str(value)
