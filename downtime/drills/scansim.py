"""Realistic scans of printed forms, as a scanner or multifunction printer makes them (the
drills' `scan` step and the tests: tests/scansim.py re-exports it).

A printed PDF is rasterised (pypdfium2) at the scanner's resolution in grey, then each page is
put through what paper and a scanner do to it: a skew of a degree or two (the sheet fed
crooked), the sheet fed upside down or sideways, a slight optical blur, grain and speckle
(dust, toner dots), black and white thresholding for a scanner set to it, and the file
format's own loss (JPEG). The pages are written as scanners write them: one multi-page PDF
of JPEG images, a multi-page TIFF, or one PNG or JPEG a page.

Pillow only (no numpy): every step is a Pillow operation, seeded, so a test's scans are the
same every run.
"""

from __future__ import annotations

import functools
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
import zxingcpp
from PIL import Image, ImageChops, ImageDraw, ImageFilter


@dataclass(frozen=True)
class Scan:
    """How one sheet goes through the scanner."""

    dpi: int = 200
    skew: float = 0.0  # degrees, counter-clockwise: the sheet fed crooked
    turn: int = 0  # 0, 90, 180, 270: the sheet fed sideways or upside down (counter-clockwise)
    noise: float = 12.0  # grain (sigma, grey levels)
    speckle: float = 0.0015  # share of pixels turned into dust or toner dots
    blur: float = 0.6  # the scanner's optics (Gaussian radius, pixels)
    bw: bool = False  # black and white (1 bit), as a scanner set to "text"
    blackout: bool = False  # the QR code blacked out entirely (marker, a label over it)
    cover: float = 0.0  # a share of the QR code's area blotted out, in its corner without a
    # finder pattern (a tick, a staple, a smudge): within what error correction M recovers
    seed: int = 0


def rasterise(pdf: bytes, dpi: int, pages: int | None = None) -> list[Image.Image]:
    """The first `pages` pages (all by default) of `pdf` in grey at `dpi`."""
    document = pdfium.PdfDocument(pdf)
    try:
        count = len(document) if pages is None else min(pages, len(document))
        return [document[i].render(scale=dpi / 72,
                                   force_bitmap_format=pdfium_raw.FPDFBitmap_Gray
                                   ).to_pil().copy() for i in range(count)]
    finally:
        document.close()


def qr_box(page: Image.Image) -> tuple[int, int, int, int]:
    """The bounding box (left, top, right, bottom) of the page's QR code, found on the clean
    raster, so the code is covered where it really is."""
    codes = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)
    if not codes:
        raise ValueError("no QR code on the clean page to cover")
    p = codes[0].position
    xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
    ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
    return min(xs), min(ys), max(xs), max(ys)


def scan_page(page: Image.Image, how: Scan) -> Image.Image:
    """One clean grey raster (at `how.dpi`) as the scanner gives it back."""
    rng = random.Random(how.seed)
    image = page.copy()
    if how.blackout or how.cover:
        _cover(image, qr_box(page), how)
    if how.skew:
        image = image.rotate(how.skew, resample=Image.Resampling.BILINEAR, expand=True,
                             fillcolor=255)
    if how.turn:
        image = image.rotate(how.turn, expand=True)
    if how.blur:
        image = image.filter(ImageFilter.GaussianBlur(how.blur))
    if how.noise:
        # grain centred on 128, added to the page as its difference from 128, clipped
        image = ImageChops.add(image, _grain(image.size, how.noise, how.seed), offset=-128)
    if how.speckle:
        _speckle(image, how.speckle, rng)
    if how.bw:
        image = image.point(lambda v: 255 if v > 150 else 0).convert("1", dither=None)
    image.info["dpi"] = (how.dpi, how.dpi)
    return image


def _grain(size: tuple[int, int], sigma: float, seed: int) -> Image.Image:
    """Gaussian grain the page's size: a tile of it repeated (Pillow's noise costs 0.3 s for
    a whole page; a tile, shifted by the seed, looks the same to a decoder)."""
    tile = _grain_tile(sigma)
    shift = seed * 37 % TILE
    out = Image.new("L", (size[0] + TILE, size[1] + TILE))
    for x in range(0, out.width, TILE):
        for y in range(0, out.height, TILE):
            out.paste(tile, (x, y))
    return out.crop((shift, shift, shift + size[0], shift + size[1]))


TILE = 509  # a prime: the tile's seams fall nowhere in particular


@functools.cache
def _grain_tile(sigma: float) -> Image.Image:
    return Image.effect_noise((TILE, TILE), sigma)


def _cover(image: Image.Image, box: tuple[int, int, int, int], how: Scan) -> None:
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    if how.blackout:  # the whole code and a margin round it
        pad = (right - left) // 6
        draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=0)
        return
    # a square blot in the corner without a finder pattern
    side = int((right - left) * how.cover ** 0.5)
    draw.rectangle((right - side, bottom - side, right, bottom), fill=0)


def _speckle(image: Image.Image, share: float, rng: random.Random) -> None:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(int(width * height * share / 4)):  # dots of about 2x2 pixels
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle((x, y, x + rng.randint(0, 2), y + rng.randint(0, 2)),
                       fill=0 if rng.random() < 0.5 else 255)


def scan_pages(pdf: bytes, how: Sequence[Scan]) -> list[Image.Image]:
    """The first pages of `pdf`, one for each Scan in `how`, scanned as it says."""
    rasters: dict[int, list[Image.Image]] = {}
    out = []
    for i, h in enumerate(how):
        if h.dpi not in rasters:
            rasters[h.dpi] = rasterise(pdf, h.dpi, len(how))
        if i < len(rasters[h.dpi]):
            out.append(scan_page(rasters[h.dpi][i], h))
    return out


def to_pdf(pages: Sequence[Image.Image], quality: int = 75) -> bytes:
    """One PDF a page image, as a scanner writes it: JPEG (DCT) images for grey, 1-bit ones
    CCITT-compressed, each page sized by its image's resolution."""
    joined = pdfium.PdfDocument.new()
    for page in pages:
        one = io.BytesIO()
        dpi = page.info.get("dpi", (200, 200))[0]
        if page.mode == "1":
            page.save(one, "PDF", resolution=dpi)
        else:
            page.convert("L").save(one, "PDF", resolution=dpi, quality=quality)
        joined.import_pages(pdfium.PdfDocument(one.getvalue()))
    out = io.BytesIO()
    joined.save(out)
    return out.getvalue()


def to_tiff(pages: Sequence[Image.Image]) -> bytes:
    """A multi-page TIFF: Group 4 for black and white pages, JPEG-compressed grey otherwise
    (what multifunction printers write)."""
    out = io.BytesIO()
    first, *rest = pages
    bw = all(p.mode == "1" for p in pages)
    dpi = first.info.get("dpi", (200, 200))
    options = {"compression": "group4"} if bw else {"compression": "jpeg", "quality": 80}
    first.save(out, "TIFF", save_all=True, append_images=rest, dpi=dpi, **options)
    return out.getvalue()


def to_png(page: Image.Image) -> bytes:
    out = io.BytesIO()
    page.save(out, "PNG", dpi=page.info.get("dpi", (200, 200)))
    return out.getvalue()


def to_jpeg(page: Image.Image, quality: int = 70) -> bytes:
    out = io.BytesIO()
    page.convert("L").save(out, "JPEG", quality=quality, dpi=page.info.get("dpi", (200, 200)))
    return out.getvalue()
