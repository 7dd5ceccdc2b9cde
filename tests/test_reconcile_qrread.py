"""Reading the code off a scanned page: every resolution from 150 to 600 dpi, grey and black
and white, crooked, in all four orientations, noisy, partly covered; the rotation reported is
what turns the page upright; a page without a code (blacked out, blank) gives None."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import segno
from PIL import Image

from forms.jobs import PrintRequest, run_print_job
from forms.qr import QrPayload
from forms.registry import FormRegistry
from reconcile.qrread import image_raster, read_pdf_page, read_qr
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot
from tests.scansim import Scan, rasterise, scan_page, to_jpeg, to_pdf


@pytest.fixture(scope="module")
def face_sheet(tmp_path_factory):
    """A printed MAR page (dense: grid and text round the code) at each resolution, and
    what its code says."""
    root = tmp_path_factory.mktemp("qrread")
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(root, keys), keys.trusted, [keys.unit])
    pdf = root / "mar.pdf"
    result = run_print_job(snap, PrintRequest("mar", "4W", patient_id="p1", pdf_path=pdf),
                           FormRegistry(root / "registry", [keys.escrow.recipient]),
                           now=AS_OF + timedelta(minutes=38))
    form = result.forms[0]
    expected = QrPayload(form.form_id, "mar", form.patient_id, form.encounter_id, 1, 1)
    data = pdf.read_bytes()
    return {dpi: rasterise(data, dpi, 1)[0] for dpi in (150, 200, 300, 600)}, expected


CASES = [  # (dpi, black and white, turn, skew, cover)
    (150, False, 0, 1.5, 0.0), (150, False, 180, -1.0, 0.0), (200, False, 90, 2.0, 0.0),
    (200, True, 270, -2.5, 0.0), (200, False, 0, 3.5, 0.04), (300, True, 0, -1.0, 0.0),
    (300, False, 180, 1.5, 0.06), (300, True, 90, 0.5, 0.0), (600, False, 270, -1.5, 0.0),
    (600, True, 180, 2.0, 0.04), (150, True, 90, 1.0, 0.0), (300, False, 0, -4.0, 0.0),
]


@pytest.mark.parametrize("dpi,bw,turn,skew,cover", CASES)
def test_the_code_is_read_whatever_the_scanner_did(face_sheet, dpi, bw, turn, skew, cover):
    rasters, expected = face_sheet
    how = Scan(dpi=dpi, bw=bw, turn=turn, skew=skew, cover=cover, seed=dpi + turn,
               speckle=0.003)
    page = scan_page(rasters[dpi], how)
    for read in (read_qr(image_raster(to_jpeg(page, 60) if not bw else page)),
                 read_pdf_page(_pdf_page(page))):
        assert read is not None, how
        assert QrPayload.parse(read.text) == expected
        assert read.rotation == turn  # turning the page clockwise by this puts it upright
        upright = page.rotate(-read.rotation, expand=True)
        assert upright.width < upright.height


def _pdf_page(page: Image.Image):
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(to_pdf([page]))[0]


def test_a_page_whose_code_is_blacked_out_or_a_blank_page_gives_none(face_sheet):
    rasters, _ = face_sheet
    out = scan_page(rasters[200], Scan(dpi=200, blackout=True, skew=1))
    assert read_qr(image_raster(to_jpeg(out))) is None
    assert read_pdf_page(_pdf_page(out)) is None
    blank = scan_page(Image.new("L", rasters[200].size, 250), Scan(dpi=200, speckle=0.004))
    assert read_qr(image_raster(blank)) is None


def test_ours_is_chosen_over_another_code_on_the_page(face_sheet):
    rasters, expected = face_sheet
    page = rasters[200].copy()
    other = io.BytesIO()
    segno.make_qr("https://example.org/label", error="m").save(other, kind="png", scale=8)
    page.paste(Image.open(other).convert("L"), (100, 1500))
    read = read_qr(image_raster(page, 200))
    assert read is not None and QrPayload.parse(read.text) == expected


def test_an_old_dtf1_code_is_read():
    page = Image.new("L", (1700, 2200), 255)
    code = io.BytesIO()
    segno.make_qr("DTF1|DT-ABCDEFGHJK|census||", error="m").save(code, kind="png", scale=5)
    page.paste(Image.open(code).convert("L"), (1300, 60))
    read = read_qr(image_raster(page, 200))
    assert read is not None and read.attempt == "first"
    assert QrPayload.parse(read.text).page is None


def test_a_pdf_page_whose_image_is_drawn_inverted_is_read_as_drawn(face_sheet):
    """A JPEG stored as a negative with a Decode array that draws it positive: its bytes
    alone hold no readable code, the page as drawn does."""
    import pikepdf
    import pypdfium2 as pdfium
    from PIL import ImageOps

    rasters, expected = face_sheet
    page = scan_page(rasters[200], Scan(dpi=200, skew=1))
    pdf = pikepdf.open(io.BytesIO(to_pdf([ImageOps.invert(page)])))
    [image] = [pdf.get_object(ref.objgen) for ref in
               pdf.pages[0].Resources.XObject.as_dict().values()]
    image.Decode = pikepdf.Array([1, 0])
    out = io.BytesIO()
    pdf.save(out)
    read = read_pdf_page(pdfium.PdfDocument(out.getvalue())[0])
    assert read is not None and read.attempt == "rendered"
    assert QrPayload.parse(read.text) == expected
