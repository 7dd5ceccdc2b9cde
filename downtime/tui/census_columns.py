"""The census table's columns, fitted to the width there is (no Textual: plain text).

At 120 columns every name, attending, code status and isolation is shown whole; at 80 the
patient's name is kept whole before anything else, then the code status and isolation (what
a nurse must know before going in), then the attending. A cell too narrow for its full text
takes a shorter wording of it ("Contact (MRSA)", "Contact"; "DNR — comfort care", "DNR";
"Dr. Minh Lindqvist", "Lindqvist") before it is cut with "…".
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from snapshots.chart import CODE_STATUS_MISSING, CensusRow

from .formatting import allergy_marker

PADDING = (1, 0)  # one blank before each column: 80 columns have none to spare
SCROLLBAR = 2  # Textual's vertical scroll bar, there once the list is longer than the screen
# titles, long and short, of the columns in their order
TITLES = (("Bed", "Bed"), ("Name", "Name"), ("Age", "Age"), ("MRN", "MRN"),
          ("Attending", "Attend."), ("Alg", "Alg"), ("Code status", "Code"),
          ("Isolation", "Iso"))
# after a title (Dr., Prof.) or before a qualification, a word is not the surname
_NOT_SURNAMES = {"md", "m.d.", "do", "phd", "ph.d.", "jr", "jr.", "sr", "sr.", "ii", "iii",
                 "iv", "np", "pa", "pa-c", "rn", "frcp", "facp", "mbbs", "dr", "dr.", "prof",
                 "prof."}


def surname(attending: str | None) -> str:
    """ "Lindqvist" of "Dr. Minh Lindqvist", "Lindqvist, Minh" or "Minh Lindqvist, MD"."""
    text = (attending or "").strip()
    head, _, tail = text.partition(",")
    if tail.strip() and not all(w.lower() in _NOT_SURNAMES for w in tail.split()):
        return head.strip()  # "Surname, Given" ("van der Berg, Anna" keeps its particles)
    words = [w for w in head.split() if w.lower() not in _NOT_SURNAMES]
    return words[-1] if words else head.strip()


def attending_texts(attending: str | None) -> tuple[str, ...]:
    if not attending:
        return ("—",)
    return (attending, surname(attending))


def code_texts(code_status: str | None) -> tuple[str, ...]:
    """The code status and its short forms ("DNR — comfort care", "DNR"); the one wording
    of a missing code status, never shortened to something else."""
    if not code_status:
        return (CODE_STATUS_MISSING,)
    short = code_status.split(" — ")[0].split(" (")[0].replace("Full code", "Full")
    return (code_status, short)


def isolation_texts(isolation: str | None) -> tuple[str, ...]:
    """ "Contact isolation (MRSA)", "Contact (MRSA)", "Contact" (each of several)."""
    if not isolation:
        return ("",)
    parts = [p.strip() for p in isolation.split(";") if p.strip()]
    mid = [p.replace(" isolation", "").replace(" precautions", "") for p in parts]
    word = [m.split(" (")[0] for m in mid]
    return tuple(dict.fromkeys(("; ".join(parts), "; ".join(mid), "; ".join(word))))


def fitted(texts: Sequence[str], width: int) -> str:
    """The first wording that fits `width`, else the shortest (cut by the table)."""
    return next((t for t in texts if len(t) <= width), texts[-1])


def _longest(rows: Sequence[CensusRow], texts, pick: int) -> int:
    """The longest `pick`-th wording (or the last, for texts with fewer) among `rows`."""
    return max((len(ts[min(pick, len(ts) - 1)]) for ts in map(texts, rows)), default=0)


def census_columns(width: int, rows: Sequence[CensusRow]) -> list[tuple[str, int]]:
    """The census columns (title, width) for a screen `width` wide showing `rows`."""
    avail = width - SCROLLBAR - len(TITLES) * sum(PADDING)
    bed = max([3, *(len(r.bed or "—") for r in rows)])
    age = max([3, *(len(f"{r.age} {r.sex}") for r in rows)])
    mrn = max([3, *(len(r.mrn) for r in rows)])
    alg = max([3, *(len(r.allergy.marker) for r in rows)])  # ALG, NKDA, NKDA! (five at most)
    name_need = max([4, *(len(r.name) + r.name_alert for r in rows)])
    missing = any(not r.code_status for r in rows)
    # the name first: whole if the other columns can shrink to their floors for it
    w = {"name": 0, "attending": 3, "code": 4, "isolation": 3}
    left = avail - bed - age - mrn - alg - sum(w.values())
    w["name"] = max(4, min(name_need, left))
    left -= w["name"]

    def grow(column: str, target: int) -> None:
        nonlocal left
        add = max(0, min(left, target - w[column]))
        w[column] += add
        left -= add

    codes = lambda r: code_texts(r.code_status)  # noqa: E731 - one line each, read as a table
    isos = lambda r: isolation_texts(r.isolation)  # noqa: E731
    atts = lambda r: attending_texts(r.attending)  # noqa: E731
    grow("code", len(CODE_STATUS_MISSING) if missing else 0)  # the one wording, whole
    grow("attending", 5)
    grow("code", _longest(rows, codes, 1))
    grow("isolation", _longest(rows, isos, 2))
    grow("attending", _longest(rows, atts, 1))
    grow("isolation", _longest(rows, isos, 1))
    grow("code", _longest(rows, codes, 0))
    grow("attending", _longest(rows, atts, 0))
    grow("isolation", _longest(rows, isos, 0))
    for column, (title, _) in (("attending", TITLES[4]), ("code", TITLES[6]),
                               ("isolation", TITLES[7])):
        grow(column, len(title))  # room left: the full titles
    widths = (bed, w["name"], age, mrn, w["attending"], alg, w["code"], w["isolation"])
    return [(full if len(full) <= each else short, each)
            for (full, short), each in zip(TITLES, widths, strict=True)]


def census_cells(r: CensusRow, widths: Sequence[int]) -> list[str | Text]:
    """One census row as the table shows it, each cell in the wording its column fits (Text,
    never markup: names are shown as typed)."""
    name = Text(r.name)
    if r.name_alert:
        name = Text.assemble(("⚠", "bold black on yellow"), r.name)
    code = fitted(code_texts(r.code_status), widths[6])
    code_cell = Text(code, style="bold red" if code.upper().startswith("DNR") else
                     ("bold black on yellow" if not r.code_status else ""))
    isolation = fitted(isolation_texts(r.isolation), widths[7])
    return [r.bed or "—", name, f"{r.age} {r.sex}", r.mrn,
            fitted(attending_texts(r.attending), widths[4]), allergy_marker(r.allergy, widths[5]),
            code_cell, Text(isolation, style="bold yellow") if isolation else ""]
