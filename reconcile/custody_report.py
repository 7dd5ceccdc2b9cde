"""The chain-of-custody report as a PDF: a summary page (totals, workstations collected and
missing, the indexing queue, files set aside), then one section per unit (per patient: forms,
pages back, pages missing by form and page; what is flagged), with the episode, its window,
the data's time and "Page x of y" on every page. Laid out by WeasyPrint with the forms'
print.css (black and white, nothing that a photocopy loses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

import forms
from snapshots.errors import IoError

from .localtime import local_text

TEMPLATES = Path(__file__).parent / "templates"
PRINT_CSS = Path(forms.__file__).parent / "templates" / "print.css"


def _local(text: str | None) -> str:
    return local_text(text, year=True)


def report_html(c: dict[str, Any], paper: str) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    w = c["window"]
    window = f"{_local(w['start'])} to {_local(w['end']) if w['end'] else 'open end'}"
    flags: dict[str, list] = {}
    for row in c["flagged"]:
        flags.setdefault(row["unit"] or "not in registry", []).append(row)
    return env.get_template("custody.html.j2").render(
        c=c, t=c["totals"], paper=paper, print_css=PRINT_CSS.read_text(), window=window,
        data_as_of=_local(c["data_as_of"]),
        made=_local(c["generated_at"]), opened=_local(c["opened_at"]), flags=flags,
        when=local_text,
        units=sorted(c["units"].items()))


def write_report(c: dict[str, Any], out: Path, paper: str = "Letter") -> int:
    """Write the PDF; its page count."""
    import weasyprint

    document = weasyprint.HTML(string=report_html(c, paper)).render()
    try:
        document.write_pdf(out)
    except OSError as e:
        raise IoError.from_oserror(e, "cannot write the report", out) from None
    return len(document.pages)
