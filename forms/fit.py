"""Fitting header text into bounded boxes.

The page header lives in a fixed-height page margin: anything that grows it (a long name, a
dozen allergies) would push the name, the allergy label or the QR code off the paper. So the
variable texts are fitted *before* layout, by measuring them with the same font WeasyPrint
uses (DejaVu Sans via fontconfig, measured with Pillow), and the CSS also clips each box, so a
wrong estimate can only shorten a box's last line, never move anything else.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache

from PIL import ImageFont

PT_PER_MM = 72 / 25.4
# Measuring at 100 px and scaling keeps Pillow's integer hinting error below 1 %.
_MEASURE_SIZE = 100
# What we draw with is not exactly what we measure with (kerning, hinting): keep a margin.
_SAFETY = 0.92


@cache
def dejavu(bold: bool) -> ImageFont.FreeTypeFont | None:
    """DejaVu Sans (bold), found the way WeasyPrint finds it: through fontconfig."""
    return _fc_font("DejaVu Sans:bold" if bold else "DejaVu Sans")


def _fc_font(pattern: str) -> ImageFont.FreeTypeFont | None:
    if not shutil.which("fc-match"):
        return None
    found = subprocess.run(["fc-match", "-f", "%{file}", pattern],
                           capture_output=True, text=True, timeout=10)
    try:
        return ImageFont.truetype(found.stdout.strip(), _MEASURE_SIZE)
    except OSError:
        return None


@cache
def condensed_bold() -> ImageFont.FreeTypeFont | None:
    """DejaVu Sans Condensed Bold, for a label that must fit a narrow box (the MAR's times)."""
    return _fc_font("DejaVu Sans Condensed:bold")


def text_width_mm(text: str, size_pt: float, bold: bool = False) -> float:
    """The printed width of `text` in millimetres at `size_pt`."""
    font = dejavu(bold)
    if font is None:  # no font to measure with: a wide average glyph, on the safe side
        return len(text) * size_pt * 0.68 / PT_PER_MM
    return font.getlength(text) / _MEASURE_SIZE * size_pt / PT_PER_MM


def _pieces(text: str) -> list[tuple[str, bool]]:
    """Where a line may break: at spaces, and after hyphens (as browsers do). Each piece
    says whether a space comes before it."""
    out = []
    for word in text.split():
        parts = re.split(r"(?<=-)", word)
        out += [(p, i == 0) for i, p in enumerate(parts) if p]
    return out


def line_count(text: str, width_mm: float, size_pt: float, bold: bool = False,
               first_line_used_mm: float = 0.0) -> int:
    """How many lines `text` wraps to (greedy, at spaces and hyphens) in a box `width_mm`
    wide, the first line already holding `first_line_used_mm`."""
    usable = width_mm * _SAFETY
    space = text_width_mm(" ", size_pt, bold)
    lines, used = 1, first_line_used_mm
    for piece, spaced in _pieces(text):
        gap = space if (used and spaced) else 0.0
        w = text_width_mm(piece, size_pt, bold)
        if used and used + gap + w > usable:
            lines += 1
            used, gap = 0.0, 0.0
        used += gap + w
        while used > usable:  # one piece wider than the box: it breaks anywhere
            lines += 1
            used -= usable
    return lines


def fit_list(items: Sequence[str], width_mm: float, max_lines: int, size_pt: float,
             more: str = " +{n} more — see face sheet", bold: bool = False,
             first_line_used_mm: float = 0.0) -> tuple[str, int]:
    """As many leading items as fit in `max_lines`, joined with commas, and if some had to
    be left out a marker saying how many ("+3 more — see face sheet"). Returns the text and
    how many items were left out."""
    total = len(items)
    for shown in range(total, -1, -1):
        text = ", ".join(items[:shown])
        if shown < total:
            text = (text + more.format(n=total - shown)).strip()
        if line_count(text, width_mm, size_pt, bold, first_line_used_mm) <= max_lines:
            return text, total - shown
    return more.format(n=total).strip(), total


def fit_text(text: str, width_mm: float, max_lines: int, size_pt: float,
             bold: bool = False) -> str:
    """`text` cut at a word with "…" if it wraps to more than `max_lines`."""
    if line_count(text, width_mm, size_pt, bold) <= max_lines:
        return text
    words = text.split()
    while words and line_count(" ".join(words) + " …", width_mm, size_pt, bold) > max_lines:
        words.pop()
    return (" ".join(words) + " …") if words else "…"


def name_size(name: str, width_mm: float, sizes: Sequence[float] = (13, 11, 9.5, 8.5),
              max_lines: int = 2) -> float:
    """The largest font size at which the patient name fits its lines; the name is never
    cut, only set smaller."""
    for size in sizes:
        if line_count(name, width_mm, size, bold=True) <= (1 if size == sizes[0] else
                                                           max_lines):
            return size
    return sizes[-1]
