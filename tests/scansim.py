"""The scan simulator, shipped with the drills (downtime/drills/scansim.py: the drills' `scan`
step scans the pages they print); re-exported here for the tests and benchmarks."""

from downtime.drills.scansim import (
    Scan,
    qr_box,
    rasterise,
    scan_page,
    scan_pages,
    to_jpeg,
    to_pdf,
    to_png,
    to_tiff,
)

__all__ = ["Scan", "qr_box", "rasterise", "scan_page", "scan_pages", "to_jpeg", "to_pdf",
           "to_png", "to_tiff"]
