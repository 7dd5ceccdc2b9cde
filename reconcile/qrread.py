"""Reading a form's QR code off a scanned page (zxing-cpp), robust to what scanners do.

Scans come at 150 to 600 dpi, grey or black and white, a few degrees crooked, upside down or
sideways, with speckle and JPEG noise, sometimes with a code partly covered. The forms print a
21 mm code (forms/templates/print.css) of about 37 modules with its quiet zone, 0.57 mm a
module: at 200 dpi that is about 4.5 pixels a module, enough for zxing-cpp's detector, which
finds a code in any of the four orientations (try_rotate) and at some skew on its own.

So the first attempt is cheap: the page in grey at 200 dpi (a PDF page rendered at that
resolution by pypdfium2; a scanner's JPEG, in a PDF or on its own, decoded already reduced by
a whole factor, to about 200 dpi; other images reduced so), QR codes only, no inverted
search. Most pages are read there (a few tens of milliseconds). Only when it finds
no code do the costlier attempts run, in order, each stopping at the first code found: other
binarizers on the same raster, the page at 300 dpi (small or blurred modules; a coarser scan
enlarged to it), and each corner of the page on its own (the code is in the top right corner
of an upright page, so in one of the four corners whichever way the sheet went in), cleaned
of speckle, straight and straightened by a few degrees either way. A blank page
(the back of a sheet scanned duplex) stops after the first attempt. A page with no readable
code after all of them gives None: the caller queues it for indexing by hand; "no code" is
never an exception.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import zxingcpp
from PIL import Image, ImageFilter

from forms.qr import QrPayload

if TYPE_CHECKING:
    import pypdfium2 as pdfium

FIRST_DPI = 200  # the first attempt's resolution (see the module's docstring)
FALLBACK_DPI = 300
BLANK_INK = 0.001  # a page with less dark than this share of its area is blank (a code
# alone on a page is about 0.3%)
MAX_RASTER_PIXELS = 60_000_000  # a page image beyond this is reduced before reading
_QR = zxingcpp.BarcodeFormat.QRCode


@dataclass(frozen=True)
class QrRead:
    """A code read off a page."""

    text: str
    rotation: int  # degrees clockwise to turn the page, as stored, to read it upright
    attempt: str  # which attempt found it ("first", "300dpi", ...): how hard it was


class Raster:
    """One page, as grey images at the resolutions the attempts ask for (each made once)."""

    def __init__(self, make: Callable[[int], Image.Image]):
        self._make = make
        self._made: dict[int, Image.Image] = {}

    def at(self, dpi: int) -> Image.Image:
        if dpi not in self._made:
            self._made[dpi] = self._make(dpi)
        return self._made[dpi]


def read_pdf_page(page: pdfium.PdfPage) -> QrRead | None:
    """The code of a PDF page. A scanner's page (one JPEG image over the whole page, upright)
    is read from its image itself, decoded already reduced: a third of the time of rendering
    the page. Should that find nothing, the page as pdfium draws it is tried once (what is
    drawn can differ from the image's bytes: a Decode array, an inverted CMYK JPEG). Any
    other page is rendered by pdfium."""
    scanned = _scanner_jpeg(page)
    if scanned is None:
        return read_qr(pdf_raster(page))
    found = read_qr(image_raster(*scanned))
    if found is not None:
        return found
    drawn = _decode(pdf_raster(page).at(FIRST_DPI))
    return QrRead(drawn[0], drawn[1], "rendered") if drawn else None


def pdf_raster(page: pdfium.PdfPage) -> Raster:
    """A PDF page rendered in grey by pdfium at each resolution asked for."""
    import pypdfium2.raw as raw

    def make(dpi: int) -> Image.Image:
        width, height = page.get_size()
        scale = min(dpi / 72, (MAX_RASTER_PIXELS / max(1.0, width * height)) ** 0.5)
        bitmap = page.render(scale=scale, force_bitmap_format=raw.FPDFBitmap_Gray,
                             no_smoothtext=True)
        return bitmap.to_pil()

    return Raster(make)


def _scanner_jpeg(page: pdfium.PdfPage) -> tuple[bytes, float] | None:
    """(the JPEG, its resolution) when the page is nothing but one JPEG image drawn upright
    over (nearly) all of it, as scanners write a page; else None."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    if page.get_rotation():
        return None
    try:
        objects = list(page.get_objects(max_depth=1))
        if len(objects) != 1 or objects[0].type != raw.FPDF_PAGEOBJ_IMAGE:
            return None
        image = objects[0]
        if image.get_filters() != ["DCTDecode"]:
            return None
        m = image.get_matrix()
        width, height = page.get_size()
        pixels_x, pixels_y = image.get_px_size()
    except pdfium.PdfiumError:
        return None
    upright = m.b == 0 and m.c == 0 and m.a > 0 and m.d > 0
    if not upright or m.a * m.d < 0.9 * width * height or pixels_x * pixels_y > \
            MAX_RASTER_PIXELS or pixels_x < 1:
        return None
    return bytes(image.get_data(decode_simple=False)), pixels_x / (m.a / 72)


def image_raster(image: Image.Image | bytes, dpi: float | None = None) -> Raster:
    """A page image (a PNG, a JPEG, a TIFF frame: as an Image or as the file's bytes) at the
    resolution it was scanned at (`dpi`, else the image's own, else guessed from its size as
    a Letter or A4 sheet), reduced by whole factors to what each attempt asks for. JPEG bytes
    are decoded already reduced (libjpeg's DCT scaling): much faster than decoding it whole."""

    def native() -> Image.Image:
        return Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image

    first = native()
    scanned = dpi or _image_dpi(first)

    def make(target: int) -> Image.Image:
        picture = native()
        if isinstance(image, bytes) and picture.format == "JPEG":
            reduce = _factor(scanned, target)
            if reduce > 1:  # decoded at 1/2, 1/4 or 1/8 of its size, the nearest above this
                picture.draft("L", (first.width // reduce, first.height // reduce))
        have = scanned * picture.width / max(1, first.width)
        factor = _factor(have, target)
        grey = picture if picture.mode == "L" else picture.convert("L")
        if have < target * 0.75:  # a coarse scan enlarged: small modules read better so
            scale = target / have
            return grey.resize((int(grey.width * scale), int(grey.height * scale)),
                               Image.Resampling.BICUBIC)
        while grey.width * grey.height / (factor * factor) > MAX_RASTER_PIXELS:
            factor += 1
        return grey.reduce(factor) if factor > 1 else grey

    return Raster(make)


def _factor(have: float, target: int) -> int:
    """The whole factor to reduce an image by for about `target` dpi: 600 -> 300 is 2, 300
    -> 200 is 1 (read at 300: at 150 one page in thirty fails the first attempt), 250 -> 200
    is 1."""
    return max(1, int(have / target + 0.25))


def _image_dpi(image: Image.Image) -> float:
    """The image's own resolution, or its short side taken as a Letter or A4 sheet's."""
    found = image.info.get("dpi")
    if found:
        try:
            value = float(found[0])
        except (TypeError, ValueError, IndexError):
            value = 0.0
        if 50 <= value <= 2400:
            return value
    return min(image.size) / 8.4  # Letter is 8.5 in wide, A4 8.27 in


def read_qr(raster: Raster) -> QrRead | None:
    """The page's code (ours in preference to any other one on the page), or None."""
    for name, attempt in _attempts():
        try:
            found = attempt(raster)
        except _Blank:
            return None
        if found is not None:
            text, rotation = found
            return QrRead(text, rotation, name)
    return None


Attempt = Callable[[Raster], "tuple[str, int] | None"]


def _attempts() -> Iterator[tuple[str, Attempt]]:
    yield "first", lambda r: _decode(r.at(FIRST_DPI))
    yield "blank", _blank  # a blank page (a duplex scan's back): nothing more to try
    yield "global-histogram", lambda r: _decode(r.at(FIRST_DPI),
                                                zxingcpp.Binarizer.GlobalHistogram)
    yield "300dpi", lambda r: _decode(r.at(FALLBACK_DPI))
    yield "300dpi-threshold", lambda r: _decode(r.at(FALLBACK_DPI),
                                                zxingcpp.Binarizer.FixedThreshold)
    yield "corners", _corners


class _Blank(Exception):
    """The page has (next to) no ink: nothing more to try."""


def _blank(raster: Raster) -> None:
    # averaged over 4 x 4 pixels, speckle and grain fade to light grey; text and rules stay
    small = raster.at(FIRST_DPI).reduce(4)
    dark = sum(small.histogram()[:160])
    if dark < BLANK_INK * small.width * small.height:
        raise _Blank
    return None


def _decode(image: Image.Image, binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage,
            *, downscale: bool = True) -> tuple[str, int] | None:
    codes = zxingcpp.read_barcodes(image, formats=_QR, try_rotate=True,
                                   try_downscale=downscale, try_invert=False,
                                   binarizer=binarizer)
    if not codes:
        return None
    best = next((c for c in codes if _ours(c.text)), codes[0])
    return best.text, _upright(best.orientation)


def _ours(text: str) -> bool:
    try:
        QrPayload.parse(text)
    except ValueError:
        return False
    return True


def _upright(orientation: int) -> int:
    """zxing-cpp gives the code's orientation in degrees clockwise (-180..180): the page is
    turned back by as much, to the nearest quarter turn."""
    return (-round(orientation / 90) * 90) % 360


def _median(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.MedianFilter(3))


def _corners(raster: Raster) -> tuple[str, int] | None:
    """Each corner on its own (two fifths of the width and height: where the code is on an
    upright, a turned or a reversed sheet), cleaned of speckle (a median filter), straight
    and then turned by a few degrees either way (a sheet fed more crooked than the detector
    takes). The corners are two thirds of the page, filtered once: about half a second at
    300 dpi, what a page that cannot be read costs."""
    page = raster.at(FALLBACK_DPI)
    width, height = page.size
    w, h = width * 2 // 5, height * 2 // 5
    boxes = [(width - w, 0, width, h), (0, height - h, w, height), (0, 0, w, h),
             (width - w, height - h, width, height)]
    corners = [_median(page.crop(box)) for box in boxes]
    for angle in (0, 4, -4):
        for corner in corners:
            image = corner.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True,
                                  fillcolor=255) if angle else corner
            found = _decode(image, downscale=False)
            if found:
                return found
    return None
