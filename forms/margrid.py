"""The MAR's 24-hour grid, and when each scheduled dose is due (and the blank forms' ruling).

Each order's row is one small 1-bit PNG (hour lines, and a bold box with the due time written
at its top, e.g. "0930", at each scheduled time), drawn as the grid cell's background. One
image per distinct schedule, cached and shared by every row and page that uses it: WeasyPrint
then lays out one cell instead of 24 and the PDF holds each image once.

Orders that give only a period ("Q8H", "BID") without clock times get the unit's default
times, and the row says so ("default times for Q8H"), so a nurse still sees when a dose is due;
orders with neither (continuous infusions, unusual codes) say "times per order".
"""

from __future__ import annotations

import base64
import io
import re
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from .fit import condensed_bold, dejavu

WIDTH, HEIGHT, HOURS_HEIGHT = 1632, 200, 48  # ~300 dpi for a 138 x 17 mm cell (4-line row)
CELL = WIDTH / 24

# Default administration times by frequency code, the way most units schedule them. Printed
# as defaults, never as if the order had said so.
DEFAULT_TIMES = {
    "QD": ("09:00",), "DAILY": ("09:00",), "QAM": ("09:00",), "QPM": ("17:00",),
    "QHS": ("21:00",), "HS": ("21:00",), "BID": ("09:00", "21:00"),
    "TID": ("09:00", "14:00", "21:00"), "QID": ("09:00", "13:00", "17:00", "21:00"),
}
_EVERY = re.compile(r"^Q(\d{1,2})H$")


def parse_times(times: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """("09:30", "21:00") -> ((9, 30), (21, 0)); anything unreadable is left out."""
    out = []
    for t in times:
        m = re.match(r"^(\d{1,2}):(\d{2})", t.strip())
        if m and int(m[1]) < 24 and int(m[2]) < 60:
            out.append((int(m[1]), int(m[2])))
    return tuple(sorted(set(out)))


def schedule(times: tuple[str, ...], frequency: str | None,
             interval_hours: float | None) -> tuple[tuple[tuple[int, int], ...], str]:
    """The due times to box and how to say where they came from: "" when the order gave
    them, "default times for BID" when they are the unit's defaults, "times per order" when
    there is nothing to go on."""
    given = parse_times(times)
    if given:
        return given, ""
    code = re.sub(r"[^A-Z0-9]", "", (frequency or "").upper())
    if code in DEFAULT_TIMES:
        return parse_times(DEFAULT_TIMES[code]), f"default times for {frequency}"
    every = _EVERY.match(code)
    hours = int(every[1]) if every else (int(interval_hours) if interval_hours and
                                          float(interval_hours).is_integer() else 0)
    if hours and 24 % hours == 0 and hours >= 2:
        start = {24: 9, 12: 9, 8: 6, 6: 0, 4: 2, 3: 0, 2: 0}.get(hours, 0)
        slots = tuple(((start + k * hours) % 24, 0) for k in range(24 // hours))
        return tuple(sorted(slots)), f"default times for {frequency or f'every {hours} h'}"
    return (), "times per order"


def times_text(slots: tuple[tuple[int, int], ...]) -> str:
    return " · ".join(f"{h:02d}:{m:02d}" for h, m in slots)


def _png_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@cache
def _label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    font = dejavu(True)
    return font.font_variant(size=size) if font else ImageFont.load_default()


BOX_LINE = 5
BOX_INSIDE = CELL - 2 * (3 + BOX_LINE) - 2  # a box's inner width less a pixel of air each side


@cache
def _time_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest bold size at which a four-digit time ("0000", the widest) fits inside its
    box, condensed where the machine has it: at 24 px of the regular bold the label ran over
    both sides of the box and read as "000" on paper."""
    font = condensed_bold() or dejavu(True) or ImageFont.load_default()
    if not isinstance(font, ImageFont.FreeTypeFont):
        return font
    for size in range(24, 10, -1):
        sized = font.font_variant(size=size)
        if sized.getlength("0000") <= BOX_INSIDE:
            return sized
    return font.font_variant(size=10)


@cache
def grid_image(slots: tuple[tuple[int, int], ...]) -> str:
    """One row's grid as a PNG data URI: thin hour lines; a bold box with the due time (e.g.
    "0930") at the top of the hour cell of each scheduled time."""
    image = Image.new("1", (WIDTH, HEIGHT), 1)
    draw = ImageDraw.Draw(image)
    for h in range(1, 24):
        x = round(h * CELL)
        draw.line([(x, 0), (x, HEIGHT)], fill=0, width=2)
    font = _time_font()
    for h, m in slots:
        x0 = round(h * CELL)
        draw.rectangle([x0 + 3, 3, round(x0 + CELL) - 3, HEIGHT - 4], outline=0,
                       width=BOX_LINE)
        label = f"{h:02d}{m:02d}"
        draw.text((x0 + CELL / 2, 12), label, fill=0, font=font, anchor="mt")
    return _png_uri(image)


@cache
def hours_image() -> str:
    """The grid's column heads, 00 to 23, as one image matching grid_image's columns."""
    image = Image.new("1", (WIDTH, HOURS_HEIGHT), 1)
    draw = ImageDraw.Draw(image)
    font = _label_font(34)
    for h in range(24):
        x = round(h * CELL)
        if h:
            draw.line([(x, 0), (x, HOURS_HEIGHT)], fill=0, width=2)
        draw.text((x + CELL / 2, HOURS_HEIGHT / 2), f"{h:02d}", fill=0, font=font,
                  anchor="mm")
    return _png_uri(image)


@cache
def ruled_image(rows: int) -> str:
    """`rows` writing lines (a rule under each) as one image, for the blank forms: one box
    to lay out and one image to draw instead of a cell or a line box per row."""
    height = rows * 60
    image = Image.new("1", (8, height), 1)
    draw = ImageDraw.Draw(image)
    for r in range(1, rows + 1):
        draw.line([(0, r * 60 - 2), (8, r * 60 - 2)], fill=0, width=2)
    return _png_uri(image)
