"""Who printed a pre-rendered packet, and when, on every one of its pages.

A packet is rendered ahead of time (forms.prerender), before anyone has asked for it, so its
footer can say when it was rendered but not who printed it. When it is handed over to print,
one line, "Printed 04 Dec 2026 05:12 by RN Kim", is drawn on every page, between the footer
and the body, as a page laid out live carries it in its footer.

The line is drawn once, on a page of its own (pypdfium2: a text object in the standard
Helvetica when the text is Latin, else in DejaVu Sans, embedded, or the font fontconfig finds
for letters DejaVu lacks), and
that page becomes one form XObject which every page of the packet draws after its own content
(pikepdf: two small streams shared by all pages; qpdf writes the packet again, about 0.1 s
for 186 pages). Nothing of the packet's own content is parsed or regenerated, so its pages
stay as they were laid out.
"""

from __future__ import annotations

import ctypes
import io
import subprocess
from functools import cache

from .errors import FormError

FONT_SIZE_PT = 7.5
LEFT_MM = 11  # the page margin (print.css @page)
BASELINE_MM = 12.5  # above the footer's two lines (bottom 5 mm), below the body (16 mm)
_PT_PER_MM = 72 / 25.4


def stamp_printed(pdf: bytes, text: str) -> bytes:
    """`pdf` with `text` drawn in the bottom margin of every page."""
    import pikepdf

    try:
        packet = pikepdf.open(io.BytesIO(pdf))
        box = [float(v) for v in packet.pages[0].mediabox]
        line = pikepdf.open(io.BytesIO(_line_page(box[2] - box[0], box[3] - box[1], text)))
        drawing = packet.copy_foreign(line.pages[0].as_form_xobject())
        # one pair of streams for every page: the page's own drawing kept in its own graphics
        # state, then the line, placed at the page's origin
        before = packet.make_indirect(pikepdf.Stream(packet, b"q\n"))
        after = packet.make_indirect(pikepdf.Stream(
            packet, f"\nQ q 1 0 0 1 {box[0]:g} {box[1]:g} cm /DtPrinted Do Q\n".encode()))
        for page in packet.pages:
            page.add_resource(drawing, pikepdf.Name.XObject, pikepdf.Name("/DtPrinted"))
            contents = page.obj.get("/Contents")
            parts = list(contents) if isinstance(contents, pikepdf.Array) else \
                [contents] if contents is not None else []
            page.obj.Contents = pikepdf.Array([before, *parts, after])
        out = io.BytesIO()
        packet.save(out)
    except pikepdf.PdfError as e:  # a packet damaged since it was rendered
        raise FormError(f"the pre-rendered packet cannot be stamped with who printed it: "
                        f"{e}") from None
    return out.getvalue()


def _line_page(width_pt: float, height_pt: float, text: str) -> bytes:
    """A one-page PDF of the page's size holding only `text`, where the stamp goes."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    doc = pdfium.PdfDocument.new()
    page = doc.new_page(width_pt, height_pt)
    if _latin(text):
        obj = raw.FPDFPageObj_NewTextObj(doc.raw, b"Helvetica-Bold",
                                         ctypes.c_float(FONT_SIZE_PT))
    else:
        data = _font_for(frozenset(ord(c) for c in text if ord(c) > 0x7F))
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        font = raw.FPDFText_LoadFont(doc.raw, buffer, len(data), raw.FPDF_FONT_TRUETYPE, True)
        obj = raw.FPDFPageObj_CreateTextObj(doc.raw, font, ctypes.c_float(FONT_SIZE_PT))
    wide = ctypes.create_string_buffer((text + "\0").encode("utf-16-le"))
    raw.FPDFText_SetText(obj, ctypes.cast(wide, ctypes.POINTER(raw.FPDF_WCHAR)))
    raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, LEFT_MM * _PT_PER_MM, BASELINE_MM * _PT_PER_MM)
    raw.FPDFPage_InsertObject(page.raw, obj)
    if not raw.FPDFPage_GenerateContent(page.raw):
        raise FormError("cannot draw the 'printed by' line of the pre-rendered packet")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _latin(text: str) -> bool:
    """The standard PDF fonts draw Windows-1252 text (most European names), nothing else."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@cache
def _font_for(codepoints: frozenset[int]) -> bytes:
    """The forms' own font (DejaVu Sans Bold), or, for letters it lacks (Chinese, say), the
    font fontconfig finds for them: as WeasyPrint falls back for a name laid out live."""
    charset = " ".join(f"{c:x}" for c in sorted(codepoints))
    try:
        found = subprocess.run(["fc-match", "-f", "%{file}",
                                f"DejaVu Sans:bold:charset={charset}"],
                               capture_output=True, text=True, timeout=10)
        with open(found.stdout.strip(), "rb") as f:
            return f.read()
    except (OSError, subprocess.SubprocessError) as e:
        raise FormError(f"no font to write the printer's name with ({e})") from None
