"""Scanned files in: a real printed unit packet scanned as scanners do (grey and black and
white, 150 to 600 dpi, crooked, upside down, sideways, noisy, JPEG; multi-page PDF and TIFF,
PNG, JPEG), every readable page's code read as the right page of the right form, the
blacked-out one None, and each kind of bad input one clear error."""

from __future__ import annotations

import io
from datetime import timedelta

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry
from reconcile import scan_input
from reconcile.scan_input import ScanInputError, read_scan, read_scans, start_readers
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot
from tests.scansim import Scan, scan_pages, to_jpeg, to_pdf, to_png, to_tiff

NOW = AS_OF + timedelta(minutes=38)


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """The 4W packet and the unit's two-page medication list, as printed, with what each
    page is: (form id, page, pages)."""
    root = tmp_path_factory.mktemp("scan")
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(root, keys), keys.trusted, [keys.unit])
    registry = FormRegistry(root / "registry", [keys.escrow.recipient])
    out = {}
    for kind in ("packet", "medlist"):
        pdf = root / f"{kind}.pdf"
        result = run_print_job(snap, PrintRequest(kind, "4W", pdf_path=pdf, printed_by="rn"),
                               registry, now=NOW)
        out[kind] = (pdf.read_bytes(), [(f.form_id, i, f.pages) for f in result.forms
                                        for i in range(1, f.pages + 1)])
    return root, out


def check(pages, expected, turns, unreadable=()):
    assert [p.index for p in pages] == list(range(1, len(expected) + 1))
    for page, want, turn in zip(pages, expected, turns, strict=True):
        assert page.count == len(expected)
        if page.index in unreadable:
            assert (page.qr_text, page.payload, page.rotation) == (None, None, 0)
            continue
        assert page.payload is not None, f"page {page.index}: no code read"
        assert (page.payload.form_id, page.payload.page, page.payload.pages) == want, \
            page.index
        assert page.rotation == turn, page.index
        assert page.qr_text == page.payload.text()


def test_multipage_pdf_grey_jpeg_crooked_turned_and_one_blacked_out(printed, tmp_path):
    root, out = printed
    pdf, expected = out["packet"]
    # as a sheet feeder gives them: each a degree or two crooked, one upside down, one
    # sideways each way, one with its code blacked out, one partly covered, noise throughout
    turns = [0, 180, 90, 0, 270, 0] + [0] * (len(expected) - 6)
    hows = [Scan(dpi=200, skew=(-1) ** i * (1 + i % 2 * 0.8), turn=turns[i], seed=i,
                 blackout=i == 3, cover=0.06 if i == 5 else 0.0, speckle=0.003)
            for i in range(len(expected))]
    path = tmp_path / "feeder.pdf"
    path.write_bytes(to_pdf(scan_pages(pdf, hows), quality=60))
    pages = read_scan(path)
    check(pages, expected, turns, unreadable={4})
    for page in pages:  # each page as it came: a one-page PDF of the scanned image
        assert page.media_type == "application/pdf" and page.source == "feeder.pdf"
        with pikepdf.open(io.BytesIO(page.original)) as one:
            assert len(one.pages) == 1
    assert len({p.file_sha256 for p in pages}) == 1


def test_multipage_tiff_black_and_white_300_dpi(printed, tmp_path):
    _, out = printed
    pdf, expected = out["packet"]
    expected = expected[:8]
    turns = [0, 0, 180, 0, 90, 0, 0, 270]
    hows = [Scan(dpi=300, bw=True, skew=(-1) ** i * 1.5, turn=t, seed=10 + i)
            for i, t in enumerate(turns)]
    images = scan_pages(pdf, hows)[:8]
    path = tmp_path / "mfp.tif"
    path.write_bytes(to_tiff(images))
    pages = read_scan(path)
    check(pages, expected, turns)
    for page, image in zip(pages, images, strict=True):  # each frame, lossless, on its own
        with Image.open(io.BytesIO(page.original)) as frame:
            assert getattr(frame, "n_frames", 1) == 1 and frame.size == image.size
            assert frame.convert("1").tobytes() == image.tobytes()


def test_grey_tiff_png_and_jpeg_from_150_to_600_dpi(printed, tmp_path):
    _, out = printed
    pdf, expected = out["medlist"]  # a form of two pages
    grey = scan_pages(pdf, [Scan(dpi=250, skew=-2, seed=21), Scan(dpi=250, turn=180,
                                                                   skew=1, seed=22)])
    (tmp_path / "grey.tif").write_bytes(to_tiff(grey))
    check(read_scan(tmp_path / "grey.tif"), expected, [0, 180])
    low = scan_pages(pdf, [Scan(dpi=150, skew=1.5, seed=23)] * 2)[1]
    (tmp_path / "p2.png").write_bytes(to_png(low))
    [png] = read_scan(tmp_path / "p2.png")
    assert (png.payload.form_id, png.payload.page, png.payload.pages) == expected[1]
    assert png.original == (tmp_path / "p2.png").read_bytes() and png.media_type == "image/png"
    high = scan_pages(pdf, [Scan(dpi=600, turn=90, skew=-1, seed=24, noise=20)])[0]
    (tmp_path / "p1.jpg").write_bytes(to_jpeg(high, quality=50))
    [jpeg] = read_scan(tmp_path / "p1.jpg")
    assert (jpeg.payload.form_id, jpeg.payload.page, jpeg.rotation) == \
        (expected[0][0], 1, 90)
    assert jpeg.media_type == "image/jpeg" and jpeg.count == 1 and jpeg.index == 1


def test_a_code_that_is_not_ours_is_read_but_not_parsed(tmp_path):
    import segno

    page = Image.new("L", (1700, 2200), 255)
    code = segno.make_qr("https://example.org/not-a-form", error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=12, border=4)
    page.paste(Image.open(buffer).convert("L"), (1200, 60))
    page.info["dpi"] = (200, 200)
    (tmp_path / "other.png").write_bytes(to_png(page))
    [scanned] = read_scan(tmp_path / "other.png")
    assert scanned.qr_text == "https://example.org/not-a-form" and scanned.payload is None


def test_read_scans_on_both_cores_keeps_the_order_and_the_errors(printed, tmp_path):
    _, out = printed
    pdf, expected = out["packet"]
    images = scan_pages(pdf, [Scan(dpi=200, seed=30 + i) for i in range(9)])[:9]
    files = [tmp_path / "a.pdf", tmp_path / "bad.pdf", tmp_path / "b.tif", tmp_path / "c.png"]
    files[0].write_bytes(to_pdf(images[:5]))
    files[1].write_bytes(b"%PDF-1.7\nnot really\n")
    files[2].write_bytes(to_tiff(images[5:8]))
    files[3].write_bytes(to_png(images[8]))
    one = list(read_scans(files, 1))
    two = list(read_scans(files, 2))
    pool = start_readers(2)  # a warm pool, as the watcher keeps one: the same, call after call
    try:
        warm = [list(read_scans(files, 2, pool)) for _ in range(2)]
    finally:
        pool.shutdown()
    for again in warm:
        assert [(p, str(r)) if isinstance(r, ScanInputError) else
                (p, [(x.index, x.qr_text, x.original) for x in r]) for p, r in again] == \
            [(p, str(r)) if isinstance(r, ScanInputError) else
             (p, [(x.index, x.qr_text, x.original) for x in r]) for p, r in two]
    assert [p for p, _ in two] == files
    assert isinstance(two[1][1], ScanInputError) and "bad.pdf" in str(two[1][1])
    for (_, a), (_, b) in zip(one, two, strict=True):
        if isinstance(a, ScanInputError):
            assert str(a) == str(b)
            continue
        assert [(p.index, p.qr_text, p.original) for p in a] == \
            [(p.index, p.qr_text, p.original) for p in b]
    read = [p.payload.form_id for _, r in two if isinstance(r, list) for p in r]
    assert read == [e[0] for e in expected[:9]]


def _bad_inputs(tmp_path):
    tiny = io.BytesIO()
    Image.new("L", (64, 64), 200).save(tiny, "PNG")
    good_png = io.BytesIO()
    Image.new("L", (1700, 2200), 255).save(good_png, "PNG")
    good_jpeg = io.BytesIO()
    Image.new("L", (1700, 2200), 255).save(good_jpeg, "JPEG")
    return {
        "empty.pdf": (b"", "the file is empty"),
        "corrupt.pdf": (b"%PDF-1.4\n1 0 obj garbage\n" + bytes(range(256)) * 8,
                        "a damaged PDF"),
        "notes.txt": (b"shift handover notes\n", "not a scan: neither a PDF nor"),
        "renamed.pdf": (b"PK\x03\x04 a zip file", "not a scan: neither a PDF nor"),
        "icon.png": (tiny.getvalue(), "too small to be a scanned page"),
        "cut.png": (good_png.getvalue()[:200], "a damaged image"),
        "cut.jpg": (good_jpeg.getvalue()[:300], "a damaged image"),
    }


def test_each_bad_input_is_one_clear_error(tmp_path):
    for name, (data, words) in _bad_inputs(tmp_path).items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ScanInputError) as raised:
            read_scan(path)
        message = str(raised.value)
        assert message.startswith(f"{name}: ") and words in message, message
        assert "\n" not in message and raised.value.reason == "scan-input"
        assert path.read_bytes() == data  # nothing lost
    missing = tmp_path / "gone.pdf"
    with pytest.raises(ScanInputError, match="gone.pdf"):
        read_scan(missing)


def test_a_huge_file_or_too_many_pages_is_refused_before_reading(tmp_path, monkeypatch):
    huge = tmp_path / "huge.pdf"
    with open(huge, "wb") as f:  # sparse: nothing written but the header
        f.write(b"%PDF-1.4\n")
        f.truncate(scan_input.MAX_SCAN_BYTES + 1)
    with pytest.raises(ScanInputError, match=r"huge.pdf: .* MB is more than a scan"):
        read_scan(huge)
    document = pdfium.PdfDocument.new()
    for _ in range(3):
        document.new_page(612, 792)
    buffer = io.BytesIO()
    document.save(buffer)
    (tmp_path / "long.pdf").write_bytes(buffer.getvalue())
    monkeypatch.setattr(scan_input, "MAX_PAGES", 2)
    with pytest.raises(ScanInputError, match="long.pdf: 3 pages is more than a scan"):
        read_scan(tmp_path / "long.pdf")
    poster = pdfium.PdfDocument.new()
    poster.new_page(72 * 48, 72 * 36)
    buffer = io.BytesIO()
    poster.save(buffer)
    (tmp_path / "poster.pdf").write_bytes(buffer.getvalue())
    with pytest.raises(ScanInputError, match="poster.pdf: page 1 is 48 x 36 inches"):
        read_scan(tmp_path / "poster.pdf")
