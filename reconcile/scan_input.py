"""Scanned files in: every page of a PDF, TIFF, PNG or JPEG, as it came, with its QR code read.

What scanners and multifunction printers write: multi-page PDFs (each page a JPEG or CCITT
image), multi-page TIFFs (Group 4 or JPEG), one PNG or JPEG a page. Each page becomes a
`ScannedPage`: the page as it came (a one-page PDF cut from the file with pikepdf, nothing of it
re-rendered; or the image: a PNG or JPEG file as it is, a TIFF frame as a one-frame TIFF), and
what its code said (reconcile.qrread). A file that cannot be read as a scan raises
ScanInputError with a one-line reason (empty, damaged, not a PDF or image, too big, too many
pages) and nothing of it is read.

The limits are those of a scanner's output, with room: MAX_SCAN_BYTES a file (a 300 dpi grey
PDF is about 0.5 MB a page), MAX_PAGES a file, MAX_PAGE_PIXELS a page (17 x 14 inches at 600
dpi); beyond them a file is refused as not a scan, before anything is decoded.

`read_scans` reads many files on every core: the pages of all the files are read in chunks by a
process pool (forkserver, never fork: the caller may have threads), and each file's pages come
back in order, the files in the order given.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from forms.qr import QrPayload
from snapshots.errors import ToolkitError, oserror_text

from .qrread import QrRead, image_raster, read_pdf_page, read_qr

MAX_SCAN_BYTES = 512 * 1024 * 1024
MAX_PAGES = 1000
MAX_PAGE_PIXELS = 17 * 14 * 600 * 600  # about 86 million
MAX_PAGE_INCHES = 36  # a PDF page's longer side (a scanner's glass is 17 inches at most)
MIN_PAGE_SIDE = 400  # pixels: an icon or a thumbnail is not a scanned page
CHUNK_PAGES = 4  # pages a task in read_scans: small enough to share a long file's pages out

_SIGNATURES = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
               (b"\xff\xd8\xff", "image/jpeg"), (b"II*\x00", "image/tiff"),
               (b"MM\x00*", "image/tiff"))


class ScanInputError(ToolkitError):
    """The file cannot be read as a scan."""

    reason = "scan-input"
    # worth trying again (a file still being written, a share that hiccuped)
    retry = True


class NotAScanError(ScanInputError):
    """The file is beyond what a scanner writes (too big, too many pages, a page larger
    than a scanner's glass): trying again cannot help, it is set aside at once."""

    retry = False


@dataclass(frozen=True)
class ScannedPage:
    source: str  # the input file's name (not its path)
    file_sha256: str  # of the whole input file's bytes (the same file dropped twice)
    index: int  # 1-based page number within the input file
    count: int  # pages in the input file
    original: bytes  # this page as it came: a one-page PDF, or the image
    media_type: str  # "application/pdf" | "image/png" | "image/jpeg" | "image/tiff"
    qr_text: str | None  # raw text of the code read (None: no code could be read)
    payload: QrPayload | None  # parsed when qr_text is one of ours, else None
    rotation: int  # degrees clockwise to turn the page as stored to read it upright


def read_scan(path: Path) -> list[ScannedPage]:
    """Every page of the file, in order, its code read. ScanInputError if it is not a scan."""
    data = _read(Path(path))
    scan = _open(Path(path).name, data)
    return scan.pages(1, scan.count)


def read_scans(paths: Sequence[Path], workers: int, pool: Executor | None = None
               ) -> Iterator[tuple[Path, list[ScannedPage] | ScanInputError]]:
    """(path, its pages or why it cannot be read) for each file, in the order given. With
    `workers` > 1 the pages are read by that many processes, a few pages a task: on `pool`
    when given (started and warmed once by the caller, as the watcher keeps one: starting
    one costs 0.5-1 s), else on a pool started for this call."""
    paths = [Path(p) for p in paths]
    if pool is None and (workers <= 1 or not paths):
        for path in paths:
            try:
                yield path, read_scan(path)
            except ScanInputError as e:
                yield path, e
        return
    checked: list[tuple[Path, _Stamp, int] | ScanInputError] = []
    for path in paths:  # the file checked here, once: a bad one costs no worker a task
        try:
            data = _read(path)
            stamp = _Stamp(_sha256(data), *_stat(path))
            checked.append((path, stamp, _open(path.name, data, stamp.sha256).count))
        except ScanInputError as e:
            checked.append(e)
    total = sum(c for item in checked if not isinstance(item, ScanInputError)
                for c in [item[2]])
    # a few tasks a worker for the pages of all the files, so that none waits long at the end
    chunk = max(CHUNK_PAGES, -(-total // (max(1, workers) * 3)))
    if pool is not None:
        yield from _read_on(pool, paths, checked, chunk)
        return
    with ProcessPoolExecutor(max(1, min(workers, total or 1)), mp_context=_context()) as own:
        yield from _read_on(own, paths, checked, chunk)


def _read_on(pool: Executor, paths: list[Path],
             checked: list[tuple[Path, _Stamp, int] | ScanInputError], chunk: int
             ) -> Iterator[tuple[Path, list[ScannedPage] | ScanInputError]]:
    futures: list[list[Future] | ScanInputError] = [
        item if isinstance(item, ScanInputError) else
        [pool.submit(_read_chunk, str(item[0]), item[1], first,
                     min(item[2], first + chunk - 1))
         for first in range(1, item[2] + 1, chunk)]
        for item in checked]
    try:
        for path, item in zip(paths, futures, strict=True):
            if isinstance(item, ScanInputError):
                yield path, item
                continue
            try:
                yield path, [page for future in item for page in future.result()]
            except ScanInputError as e:
                yield path, e
    finally:  # the caller stopped early: a shared pool is not left busy with the rest
        for item in futures:
            for future in item if isinstance(item, list) else ():
                future.cancel()


@dataclass(frozen=True)
class _Stamp:
    """What the parent saw of a file: a worker reads it only if it is still so."""

    sha256: str
    size: int
    mtime_ns: int


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError as e:
        raise ScanInputError(oserror_text(e, "cannot read the scan", path)) from None
    return st.st_size, st.st_mtime_ns


def _read_chunk(path: str, stamp: _Stamp, first: int, last: int) -> list[ScannedPage]:
    """Pages first..last of a file the parent checked (its hash computed there once: each
    task hashing the whole file again cost as much as reading its pages)."""
    data = _read(Path(path))
    if (len(data), _stat(Path(path))[1]) != (stamp.size, stamp.mtime_ns):
        raise ScanInputError(f"{Path(path).name}: the file changed while it was being read")
    return _open(Path(path).name, data, stamp.sha256).pages(first, last)


def start_readers(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes for `read_scans(..., pool=)`, started now and each worker
    warmed (pdfium, Pillow and zxing-cpp imported): what a long-running caller keeps, so no
    file waits for workers to start. The caller shuts it down."""
    pool = ProcessPoolExecutor(max(1, workers), mp_context=_context())
    for future in [pool.submit(os.getpid) for _ in range(max(1, workers))]:
        future.result()
    return pool


def _context() -> multiprocessing.context.BaseContext:
    """forkserver (never fork: the caller may have threads), its server importing this
    module once, so each worker starts with pdfium, Pillow and zxing-cpp loaded."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _read(path: Path) -> bytes:
    name = path.name
    try:
        size = path.stat().st_size
        if size == 0:
            raise ScanInputError(f"{name}: the file is empty")
        if size > MAX_SCAN_BYTES:
            raise NotAScanError(f"{name}: {size / 2**20:,.0f} MB is more than a scan "
                                 f"({MAX_SCAN_BYTES // 2**20} MB at most)")
        return path.read_bytes()
    except OSError as e:
        raise ScanInputError(oserror_text(e, "cannot read the scan", path)) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _media_type(name: str, data: bytes) -> str:
    head = data[:1024]
    for signature, media in _SIGNATURES:
        if head.startswith(signature):
            return media
    if b"%PDF-" in head:  # some writers put a few bytes before the header
        return "application/pdf"
    raise ScanInputError(f"{name}: not a scan: neither a PDF nor a PNG, JPEG or TIFF image")


class _Scan:
    """One input file, opened: its pages read on demand."""

    def __init__(self, name: str, data: bytes, media_type: str, count: int,
                 sha256: str | None = None):
        self.name, self.data, self.media_type, self.count = name, data, media_type, count
        self.sha256 = sha256 or _sha256(data)

    def pages(self, first: int, last: int) -> list[ScannedPage]:
        raise NotImplementedError

    def _page(self, index: int, original: bytes, media_type: str,
              read: QrRead | None) -> ScannedPage:
        payload = None
        if read is not None:
            try:
                payload = QrPayload.parse(read.text)
            except ValueError:
                payload = None  # a code that is not ours: the caller flags it
        return ScannedPage(self.name, self.sha256, index, self.count, original, media_type,
                           read.text if read else None, payload, read.rotation if read else 0)


def _open(name: str, data: bytes, sha256: str | None = None) -> _Scan:
    media = _media_type(name, data)
    return _PdfScan(name, data, sha256) if media == "application/pdf" else \
        _ImageScan(name, data, media, sha256)


class _PdfScan(_Scan):
    def __init__(self, name: str, data: bytes, sha256: str | None = None):
        import pypdfium2 as pdfium

        try:
            self.document = pdfium.PdfDocument(data)
            count = len(self.document)
        except pdfium.PdfiumError as e:
            raise ScanInputError(f"{name}: a damaged PDF, cannot be read ({_reason(e)})") \
                from None
        _check_count(name, count)
        super().__init__(name, data, "application/pdf", count, sha256)

    def pages(self, first: int, last: int) -> list[ScannedPage]:
        import pikepdf

        try:
            source = pikepdf.open(io.BytesIO(self.data))
        except pikepdf.PdfError as e:
            raise ScanInputError(f"{self.name}: a damaged PDF, its pages cannot be cut out "
                                 f"({_reason(e)})") from None
        out = []
        with source:
            for index in range(first, last + 1):
                width, height = self.document[index - 1].get_size()
                if max(width, height) > MAX_PAGE_INCHES * 72:  # bigger than a scanner's glass
                    raise NotAScanError(f"{self.name}: page {index} is {width / 72:.0f} x "
                                         f"{height / 72:.0f} inches: not a scanned page")
                one = pikepdf.new()
                one.pages.append(source.pages[index - 1])
                buffer = io.BytesIO()
                one.save(buffer, deterministic_id=True)  # the same page, the same bytes
                out.append(self._page(index, buffer.getvalue(), self.media_type,
                                      read_pdf_page(self.document[index - 1])))
        return out


class _ImageScan(_Scan):
    def __init__(self, name: str, data: bytes, media_type: str, sha256: str | None = None):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                count = getattr(image, "n_frames", 1)
                _check_count(name, count)
                for frame in range(count):
                    image.seek(frame)
                    _check_size(name, frame + 1, image.size)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
                EOFError) as e:
            raise ScanInputError(f"{name}: a damaged image, cannot be read ({_reason(e)})") \
                from None
        if not _complete(data, media_type):
            raise ScanInputError(f"{name}: a damaged image, cut short (no end marker)")
        super().__init__(name, data, media_type, count, sha256)

    def pages(self, first: int, last: int) -> list[ScannedPage]:
        from PIL import Image

        out = []
        try:
            if self.count == 1:  # the file itself is the page
                raster = image_raster(self.data) if self.media_type == "image/jpeg" else \
                    image_raster(_loaded(Image.open(io.BytesIO(self.data))))
                return [self._page(1, self.data, self.media_type, read_qr(raster))]
            with Image.open(io.BytesIO(self.data)) as image:
                for index in range(first, last + 1):
                    image.seek(index - 1)
                    frame = _loaded(image)
                    out.append(self._page(index, _frame_tiff(image, frame), self.media_type,
                                          read_qr(image_raster(frame, _dpi(image)))))
        except (Image.DecompressionBombError, OSError, ValueError, EOFError) as e:
            raise ScanInputError(f"{self.name}: a damaged image, cannot be read "
                                 f"({_reason(e)})") from None
        return out


def _complete(data: bytes, media_type: str) -> bool:
    """Whether a PNG or JPEG file runs to its end marker. Checked here, not left to Pillow:
    WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES for the whole process, and a file cut
    short (a copy interrupted) then decodes as a page with its lower part grey."""
    tail = data[-64:]
    if media_type == "image/png":
        return b"IEND" in tail
    if media_type == "image/jpeg":
        return b"\xff\xd9" in tail
    return True


def _loaded(image):
    """A copy of the current frame with its pixels decoded (and its resolution kept)."""
    frame = image.copy()
    frame.info.setdefault("dpi", image.info.get("dpi"))
    return frame


def _dpi(image) -> float | None:
    found = image.info.get("dpi")
    try:
        return float(found[0]) if found else None
    except (TypeError, ValueError, IndexError):
        return None


def _frame_tiff(image, frame) -> bytes:
    """One frame of a multi-page TIFF as a TIFF of its own: Group 4 stays Group 4 (lossless
    for black and white); other frames are kept lossless (LZW: a third of deflate's time on
    grainy scans), never JPEG-compressed again."""
    out = io.BytesIO()
    compression = "group4" if frame.mode == "1" else "tiff_lzw"
    dpi = image.info.get("dpi")
    frame.save(out, "TIFF", compression=compression, **({"dpi": dpi} if dpi else {}))
    return out.getvalue()


def _check_count(name: str, count: int) -> None:
    if count < 1:
        raise ScanInputError(f"{name}: holds no page")
    if count > MAX_PAGES:
        raise NotAScanError(f"{name}: {count} pages is more than a scan ({MAX_PAGES} at most "
                             "a file): split it")


def _check_size(name: str, page: int, size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PAGE_PIXELS:
        raise ScanInputError(f"{name}: page {page} is {width} x {height} pixels: larger than "
                             "any scanned page")
    if min(width, height) < MIN_PAGE_SIDE:
        raise ScanInputError(f"{name}: page {page} is {width} x {height} pixels: too small "
                             "to be a scanned page")


def _reason(error: BaseException) -> str:
    """The library's own words, on one line and short (they name no patient data: a file's
    structure)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:120]


def cpu_workers() -> int:
    """Both cores (every core) of this machine: what `read_scans` is given by default."""
    return max(1, os.cpu_count() or 1)
