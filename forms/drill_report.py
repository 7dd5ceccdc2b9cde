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
LABEL_CHAR = 5.6  # about how wide a label's character is at the timeline's type size
MARK_ROW = 15  # the timeline's rows of labelled moments
ROW = 24


def render_drill_pdf(report: dict[str, Any], paper: str = "Letter") -> bytes:
    from weasyprint import CSS, HTML

    html = environment().get_template("drill/report.html.j2").render(**_context(report, paper))
    css = CSS(filename=str(TEMPLATES / "drill" / "report.css"))
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf(stylesheets=[css])


def _context(report: dict[str, Any], paper: str) -> dict[str, Any]:
    gantt = gantt_geometry(report)
    return {"paper": paper, "r": report, "gantt": gantt,
            "timeline": timeline_geometry(report, _actual_span(report) or gantt["span"]),
            "printed": datetime.now(UTC).strftime("%d %b %Y %H:%M UTC"),
            "when": _when, "duration": duration, "number": _number, "figure": _figure,
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
    planned = planned_starts(steps)
    span = max([planned[s["id"]] + s["expected_seconds"] for s in steps if s["id"] in planned]
               + [s["drill_offset"] + s["drill_seconds"] for s in steps
                  if s["drill_offset"] is not None] + [1.0])
    x = _scaler(span)
    rows = []
    for i, s in enumerate(steps):
        y = 30 + i * ROW
        failed = s["status"] == "failed" or s["fault_handled"] is False
        row: dict[str, Any] = {"y": y, "label": s["id"], "owner": s["owner"],
                               "status": "failed" if failed else s["status"],
                               "path": s["path"], "planned": None, "actual": None}
        if s["id"] in planned and s["path"] == "main":
            start = planned[s["id"]]
            row["planned"] = (x(start), max(2.0, x(start + s["expected_seconds"]) - x(start)))
        if s["drill_offset"] is not None:
            start = s["drill_offset"]
            row["actual"] = (x(start), max(2.0, x(start + s["drill_seconds"]) - x(start)))
        rows.append(row)
    return {"rows": rows, "height": 40 + len(steps) * ROW, "ticks": _ticks(span, x),
            "span": span, "left": LABEL, "width": WIDTH}


def _actual_span(report: dict[str, Any]) -> float:
    """How long the drill ran (drill time): the timeline's own scale, so that a compressed
    drill's moments are not crowded into the first hour of a 96-hour planned axis."""
    ends = [m["at"] for m in report["timeline"]] + [
        s["drill_offset"] + s["drill_seconds"] for s in report["steps"]
        if s.get("drill_offset") is not None and s.get("drill_seconds") is not None]
    return max(ends, default=0.0) * 1.05


def timeline_geometry(report: dict[str, Any], span: float) -> dict[str, Any]:
    x = _scaler(span)
    marks = []
    n = len(report["timeline"])
    # each mark its own row, the first lowest: a later mark's line stops above the rows of
    # the earlier ones, so no label is crossed or overlapped however close the moments
    for i, m in enumerate(report["timeline"]):
        marks.append({"x": x(m["at"]), "text": m["what"], "level": n - 1 - i,
                      "anchor": "end" if x(m["at"]) + LABEL_CHAR * len(m["what"]) > WIDTH
                      else "start"})
    return {"marks": marks, "ticks": _ticks(span, x), "left": LABEL, "width": WIDTH,
            "height": 44 + n * MARK_ROW, "row": MARK_ROW}


def _scaler(span: float):  # noqa: ANN202 - a small closure
    def x(seconds: float) -> float:
        return round(LABEL + (WIDTH - LABEL - 10) * max(0.0, seconds) / span, 2)
    return x


def _ticks(span: float, x) -> list[tuple[float, str]]:  # noqa: ANN001
    steps = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 21600, 43200, 86400]
    step = next((s for s in steps if span / s <= 8), 86400 * 2)
    return [(x(t), duration(t)) for t in range(0, int(span) + 1, step)]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 and not seconds.is_integer() \
            else f"{seconds:.0f} s"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    if hours:
        return f"{hours} h {m:02d} min"
    return f"{m} min {s:02d} s" if s else f"{m} min"


def _when(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%d %b %Y %H:%M:%S")


def _figure(name: str, value: Any) -> str:
    """A figure as read: a moment (`..._at`, epoch seconds) as its UTC time, else a number."""
    if name.endswith("_at") and isinstance(value, int | float) and value > 1e8:
        return datetime.fromtimestamp(value, UTC).strftime("%H:%M:%S UTC")
    return _number(value)


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    if isinstance(value, int | float):
        return f"{int(value):,}"
    return str(value)
