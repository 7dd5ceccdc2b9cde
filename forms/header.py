"""The patient header printed on every page, fitted to its fixed boxes (see forms.fit).

Widths here must agree with print.css (.formhead): page width minus the side margins, the
allergy box and the id box (QR code)."""

from __future__ import annotations

from dataclasses import dataclass

from snapshots import lost_records
from snapshots.chart import Allergy, Header

from .fit import fit_list, fit_text, line_count, name_size, text_width_mm

PAGE_WIDTH_MM = {"Letter": 215.9, "A4": 210.0}
SIDE_MARGINS_MM = 22.0
ALLERGY_INNER_MM = 64.0  # .alg width in print.css (content box)
ALLERGY_BOX_MM = ALLERGY_INNER_MM + 2 * 1.5 + 2 * 0.8  # and its padding and border
ID_BOX_MM = 46.0 + 2.0  # .idbox width and padding-left
CELL_GAP_MM = 2.0  # .who padding-right
ALLERGY_LINES = 6  # at 8 pt: what the allergy box's max-height holds
ALLERGY_PT = 8.0
LABEL_WIDTH_MM = 58.0  # inner width of one label (print.css .label)


@dataclass(frozen=True)
class FittedHeader:
    name_pt: float
    allergy_label: str
    allergy_text: str
    allergies_left_out: int
    status_text: str  # isolation and name alert, shortened to their line budget
    also_text: str  # other facilities' MRNs, on one line, "…" when cut
    ids_pt: float = 8.0  # the MRN/DOB and bed/code-status lines, set smaller to fit whole
    bed_unit: str = ""  # " (4W)" after the bed, unless the bed's name starts with the unit
    # what the source had that this copy lacks, last in the allergy box (never cut): "⚠ NOT
    # IN THIS COPY: 1 medication order (active) — see the source"
    missing_text: str = ""
    open_text: str = ""  # what the no-known statements leave open, fitted to its lines


def allergy_items(items: tuple[Allergy, ...]) -> list[str]:
    """Each allergy as printed: substance, and the reaction in brackets; "⚠" where the record
    could not all be read (the face sheet says what)."""
    return [a.substance + (f" ({a.reaction})" if a.reaction else "") + (" ⚠" if a.warning
                                                                         else "")
            for a in items if not a.no_known]


def missing_text(header: Header) -> str:
    """ "⚠ NOT IN THIS COPY: 1 allergy record, 2 medication orders (active) — see the
    source", or "" when the snapshot holds everything the source had for the patient."""
    parts = []
    for n in header.not_loaded:
        active = " (active)" if n.active and n.active == n.count else \
            (f" ({n.active} active)" if n.active else "")
        parts.append(f"{n.count} {lost_records.noun(n.resource_type, n.count)}{active}")
    return f"⚠ NOT IN THIS COPY: {', '.join(parts)} — see the source" if parts else ""


def who_width_mm(paper: str) -> float:
    content = PAGE_WIDTH_MM.get(paper, 210.0) - SIDE_MARGINS_MM
    return content - ALLERGY_BOX_MM - ID_BOX_MM - CELL_GAP_MM


def fit_header(header: Header, paper: str) -> FittedHeader:
    width = who_width_mm(paper)
    allergy = header.allergy
    items = allergy_items(allergy.items)
    label = f"ALLERGIES ({len(items)}):" if len(items) > 1 else "ALLERGIES:"
    missing = missing_text(header)
    missing = fit_text(missing, ALLERGY_INNER_MM, 3, ALLERGY_PT, bold=True) if missing else ""
    lines = ALLERGY_LINES - (line_count(missing, ALLERGY_INNER_MM, ALLERGY_PT, True)
                             if missing else 0)
    text, left_out, open_text = "", 0, ""
    if allergy.kind == "allergies":
        if allergy.no_known_text:  # a statement the allergies leave standing, listed last
            items = [*items, allergy.no_known_text]
        text, left_out = fit_list(items, ALLERGY_INNER_MM, lines, ALLERGY_PT,
                                  first_line_used_mm=text_width_mm(label + " ", 8.5, True))
    elif allergy.kind == "nka" and allergy.open_text:
        used = line_count(allergy.no_known_text.upper() + " (recorded) —", ALLERGY_INNER_MM,
                          ALLERGY_PT, True)
        open_text = fit_text(allergy.open_text, ALLERGY_INNER_MM, max(1, lines - used),
                             ALLERGY_PT)
    status = " · ".join(s for s in (header.isolation, "NAME ALERT: " + ", ".join(
        header.name_alert_with) if header.name_alert else "") if s)
    also = "also MRN " + ", ".join(header.other_mrns) if header.other_mrns else ""
    return FittedHeader(name_size(header.name, width), label, text, left_out,
                        fit_text(status, width, 2, 8.5, bold=True) if status else "",
                        fit_text(also, width, 1, 8.0) if also else "",
                        ids_size(header, width), ids_unit(header), missing, open_text)


IDS_SIZES_PT = (8.0, 7.5, 7.0, 6.5)


def ids_lines(header: Header) -> tuple[tuple[tuple[str, bool], ...], ...]:
    """The two identification lines as head.html.j2 prints them, as (text, bold) pieces."""
    unit = f" ({header.unit})" if header.unit and not (header.bed or "").startswith(
        header.unit) else ""  # "4W-401-A (4W)" says the unit twice
    return ((("MRN ", False), (header.mrn, True), (" · DOB ", False),
             (header.birth_date or "?", True), (f" ({header.age} {header.sex})", False)),
            (("Bed ", False), (header.bed or "—", True), (f"{unit} · Code status: ", False),
             (header.code_status_text, True)))


def ids_unit(header: Header) -> str:
    """The unit after the bed, unless the bed's name already starts with it."""
    return ids_lines(header)[1][2][0].split(" · ")[0]


def line_width_mm(pieces: tuple[tuple[str, bool], ...], size_pt: float) -> float:
    return sum(text_width_mm(text, size_pt, bold) for text, bold in pieces)


def ids_size(header: Header, width_mm: float) -> float:
    """The largest size at which both lines fit on one line each: MRN, DOB and age must never
    be cut. The smallest size is a floor; past it a line's end is clipped (an MRN or code
    status that long is not met in practice)."""
    lines = ids_lines(header)
    return next((pt for pt in IDS_SIZES_PT
                 if all(line_width_mm(line, pt) <= width_mm for line in lines)),
                IDS_SIZES_PT[-1])


def label_name_style(name: str) -> str:
    """A label's name on one line, set smaller rather than cut; a name too long even for
    that wraps to a second line (the label has room for it)."""
    size = next((size for size in (9.0, 8.0, 7.0)
                 if line_count(name, LABEL_WIDTH_MM, size, bold=True) == 1), None)
    return f"font-size: {size}pt" if size else "font-size: 6.5pt; white-space: normal"


def label_allergies(header: Header) -> str:
    """The allergy line of a patient label: two lines at most, "…+N" when cut; for no-known
    statements their abbreviation (NKDA is not NKA), "!" when an allergy did not load."""
    if header.allergy.kind == "nka":
        return header.allergy.marker
    if header.allergy.kind != "allergies":
        return ""
    text, _ = fit_list(allergy_items(header.allergy.items), LABEL_WIDTH_MM, 2, 8.0,
                       more=" …+{n}", bold=True,
                       first_line_used_mm=text_width_mm("ALG: ", 8.0, True))
    return text
