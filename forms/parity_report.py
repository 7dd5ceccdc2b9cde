"""The parity check's report on paper: a PDF laid out by WeasyPrint from one template
(templates/parity/report.html.j2 and report.css), for the migration's sign-off and the
auditors. It names patients: written, like any saved form, readable by its owner only.

A report, not a form: no QR code, no registry, and WeasyPrint's own HTML stylesheet (its
templates live in their own folder, apart from the forms' trimmed user-agent stylesheet)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from snapshots.parity import FIGURES, ParityResult

from .compose import TEMPLATES, environment
from .delivery import write_private

MAX_LISTED = 1500  # differences listed on paper; every one of them is in the JSON report


def render_parity_pdf(result: ParityResult, paper: str = "Letter") -> bytes:
    from weasyprint import CSS, HTML

    html = environment().get_template("parity/report.html.j2").render(**_context(result, paper))
    css = CSS(filename=str(TEMPLATES / "parity" / "report.css"))
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf(stylesheets=[css])


def save_parity_pdf(result: ParityResult, path: Path, paper: str = "Letter") -> None:
    write_private(path, render_parity_pdf(result, paper))


def _context(result: ParityResult, paper: str) -> dict:
    listed = result.differences[:MAX_LISTED]
    by_section: dict[str, list] = defaultdict(list)
    for d in listed:
        by_section[d.section].append(d)
    counts = sorted(set(result.legacy.records) | set(result.target.records))
    return {
        "paper": paper, "r": result, "passed": result.passed,
        "printed": datetime.now(UTC).astimezone().strftime("%d %b %Y %H:%M"),
        "as_of": datetime.fromisoformat(result.as_of.replace("Z", "+00:00")).astimezone()
        .strftime("%d %b %Y %H:%M"),
        "criteria": [(c, FIGURES.get(c.figure.split(".")[0], "")) for c in result.criteria],
        "counts": [(t, result.legacy.records.get(t, 0), result.target.records.get(t, 0))
                   for t in counts],
        "sections": list(by_section.items()),
        "unlisted": len(result.differences) - len(listed),
        "number": _number,
    }


def _number(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.2%}" if value <= 1 else f"{value:,.2f}"
    return f"{int(value):,}"
