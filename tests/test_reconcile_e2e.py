"""End to end with real parts: forms printed to PDF (registered), scanned as a scanner would
(tests/scansim.py: grey, skew, noise, JPEG; one page upside down, one code blacked out, a
multi-page PDF and a multi-page TIFF), collected and taken in with `downtime reconcile
scan`: every readable page filed under its form and page, the blacked-out one queued,
bad files set aside with a line each, nothing lost, no plaintext left in any file written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import zxingcpp
from click.testing import CliRunner
from PIL import Image

from downtime.cli import cli
from forms.jobs import PrintRequest, run_print_job
from forms.qr import QrPayload
from forms.registry import FormRegistry, read_registry
from snapshots.keys import create_identity
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot
from tests.scansim import Scan, rasterise, scan_page, scan_pages, to_jpeg, to_pdf, to_png, to_tiff

PASS = "correct horse battery"
NAMES = [b"SMITH", b"OKAFOR", b"NGUYEN", b"Grace", b"Penicillin"]
BAD = ("empty.pdf", "corrupt.pdf", "icon.png", "huge.tif")


def _bad_inputs(inbox: Path) -> None:
    """An empty file, a corrupt PDF, an image that is not a scan, a huge file."""
    (inbox / "empty.pdf").write_bytes(b"")
    (inbox / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<garbage")
    Image.new("L", (64, 64), 255).save(inbox / "icon.png")
    with open(inbox / "huge.tif", "wb") as f:  # sparse: over the limit without the disk
        f.truncate(600 * 1024 * 1024)


# an MRN as the factory makes them, or a downtime MRN: whole values, not a bare "MRN", which
# tens of megabytes of ciphertext hold by chance
MRNS = re.compile(rb"MRN\d{7}|DT4W\d{5}")


def _no_plaintext(root: Path) -> None:
    """No patient name or MRN in any file written (the huge file is sparse zeros)."""
    written = [p for p in root.rglob("*") if p.is_file() and p.name != "huge.tif"]
    assert any(p.suffix == ".age" for p in written)
    for path in written:
        data = path.read_bytes()
        for needle in NAMES:
            assert needle not in data, f"{needle!r} in plaintext in {path}"
        found = MRNS.search(data)
        assert found is None, f"{found.group()!r} in plaintext in {path}"


def test_print_scan_file_and_account_for_every_page(tmp_path):
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys), keys.trusted, [keys.unit])
    him = create_identity(tmp_path / "keys", "him-1", PASS)
    ws = tmp_path / "share" / "ws-4W-1"
    registry = FormRegistry(ws / "registry", [keys.unit.recipient, him])
    now = AS_OF + timedelta(minutes=5)
    printed = tmp_path / "printed"
    printed.mkdir()
    census = run_print_job(snap, PrintRequest("census", "4W", pdf_path=printed / "c.pdf"),
                           registry, now=now)
    mar = run_print_job(snap, PrintRequest("mar", "4W", patient_id="p1",
                                           pdf_path=printed / "m.pdf"), registry, now=now)
    face = run_print_job(snap, PrintRequest("facesheet", "4W", patient_id="p3",
                                            pdf_path=printed / "f.pdf"), registry, now=now)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    c_pages = scan_pages((printed / "c.pdf").read_bytes(), [Scan(dpi=200, skew=1.2, seed=1)])
    (inbox / "census.pdf").write_bytes(to_pdf(c_pages))
    m_pages = scan_pages((printed / "m.pdf").read_bytes(),
                         [Scan(dpi=250, turn=180, seed=2), Scan(dpi=200, blackout=True)])
    (inbox / "mar-1.jpg").write_bytes(to_jpeg(m_pages[0]))
    if len(m_pages) > 1:
        (inbox / "mar-2.png").write_bytes(to_png(m_pages[1]))
    f_pages = scan_pages((printed / "f.pdf").read_bytes(), [Scan(dpi=300, skew=-1.5, seed=3)])
    (inbox / "face.tiff").write_bytes(to_tiff(f_pages))
    _bad_inputs(inbox)
    for p in printed.iterdir():
        p.unlink()  # the PDFs the test saved are plaintext: not part of what is scanned

    (tmp_path / "downtime.toml").write_text(
        '[reconcile]\nfolder = "rec"\nidentity = "keys/him-1.age"\n'
        '[reconcile.units]\n4W = ["ws-4W-1", "ws-4W-2"]\n')
    env = {"DOWNTIME_PASSPHRASE": PASS}

    def run(*args):
        result = CliRunner().invoke(cli, ["--config", str(tmp_path / "downtime.toml"), *args],
                                    env=env)
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return result.output

    run("reconcile", "open", "--start", (AS_OF - timedelta(hours=2)).isoformat(),
        "--units", "4W")
    out = run("reconcile", "collect", str(ws))
    assert "NOTHING FROM ws-4W-2 (4W)" in out
    out = run("reconcile", "scan", *sorted(str(p) for p in inbox.iterdir()), "--workers", "2")
    for bad in BAD:
        assert f"{bad}: SET ASIDE" in out, out
    status = json.loads(run("reconcile", "status", "--json"))
    pages = status["pages"]
    total = len(c_pages) + len(m_pages) + len(f_pages)
    assert status["totals"]["pages_in"] == total  # nothing lost
    assert status["totals"]["set_aside"] == 4
    by_form = {(p["form_id"], p["page_no"]) for p in pages if p["status"] == "filed"}
    for result, scanned in ((census, c_pages), (face, f_pages)):
        form_id = result.forms[0].form_id
        assert {(form_id, n) for n in range(1, len(scanned) + 1)} <= by_form
    mar_id = mar.forms[0].form_id
    assert (mar_id, 1) in by_form  # read upside down
    if len(m_pages) > 1:
        queued = [p for p in pages if p["status"] == "queued"]
        assert [p["where"] for p in queued] == ["mar-2.png"]
        assert any("page 2 of" in m and f"({mar_id})" in m for m in
                   status["units"]["4W"]["patients"]["p1"]["missing"])
    # the registry records each form's page count: status uses it
    counts = {r.form_id: r.pages for r in read_registry(ws / "registry", [keys.unit.secret])}
    assert counts[census.forms[0].form_id] == len(c_pages)
    # inputs taken in are gone; the huge one stays (recorded, named every status)
    assert sorted(p.name for p in inbox.iterdir()) == ["huge.tif"]
    huge = [s for s in status["set_aside"] if s["source"] == "huge.tif"]
    assert huge and huge[0]["moved_to"] and not huge[0]["copy"]
    assert {s["source"] for s in status["set_aside"] if s["copy"]} == {
        "empty.pdf", "corrupt.pdf", "icon.png"}  # kept, encrypted in the episode
    # no plaintext patient data in anything written (the huge file is sparse zeros)
    _no_plaintext(tmp_path)
    copies = list((tmp_path / "rec").glob("EP-*/pages/*.age"))
    assert len(copies) == total
    assert all(c.read_bytes().startswith(b"age-encryption.org/v1") for c in copies)


DOWNTIME = [str(Path(sys.executable).parent / "downtime")]


def _truth(pdf: bytes) -> list[tuple[str, int]]:
    """(form id, page of the form) of each printed page, read off the clean print."""
    out = []
    for page in rasterise(pdf, 200):
        [code] = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)
        payload = QrPayload.parse(code.text)
        out.append((payload.form_id, payload.page))
    return out


def _drop_scans(packet: bytes, inbox: Path) -> dict[str, list[int]]:
    """The packet scanned as a unit's clerk does it, dropped in the inbox while the watcher
    runs: a feeder batch as one PDF (one sheet upside down), a multifunction printer's
    multi-page TIFF, two single images (one with its code blacked out), and the rest as a PDF
    copied over the network in slow chunks. Which packet pages (0-based) each file holds."""
    files = {"feeder-1.pdf": (250, range(0, 8)), "mfp.tiff": (300, range(8, 14)),
             "page-15.jpg": (200, [14]), "page-16.png": (200, [15]),
             "slow.pdf": (200, range(16, 21))}
    clean = {dpi: rasterise(packet, dpi) for dpi in {dpi for dpi, _ in files.values()}}
    for name, (dpi, numbers) in files.items():
        pages = [scan_page(clean[dpi][n], Scan(dpi=dpi, skew=(-1) ** n * (0.6 + n % 3 * 0.5),
                                                seed=n, turn=180 if n == 2 else 0,
                                                blackout=n == 15)) for n in numbers]
        data = to_pdf(pages) if name.endswith(".pdf") else to_tiff(pages) \
            if name.endswith(".tiff") else to_jpeg(pages[0]) if name.endswith(".jpg") else \
            to_png(pages[0])
        if name != "slow.pdf":
            (inbox / name).write_bytes(data)
            continue
        with open(inbox / name, "wb") as f:  # a network copy: chunks, pauses
            step = len(data) // 6 + 1
            for i in range(0, len(data), step):
                f.write(data[i:i + step])
                f.flush()
                time.sleep(0.25)
    return {name: list(numbers) for name, (_, numbers) in files.items()}


def test_the_watcher_files_a_scanned_packet_and_sets_bad_files_aside(tmp_path):
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys), keys.trusted, [keys.unit])
    him = create_identity(tmp_path / "keys", "him-1", PASS)
    share = tmp_path / "share"
    now = AS_OF + timedelta(minutes=5)
    packet_pdf = tmp_path / "packet.pdf"
    run_print_job(snap, PrintRequest("packet", "4W", pdf_path=packet_pdf),
                  FormRegistry(share / "ws-4W-1" / "registry", [keys.unit.recipient, him]),
                  now=now)
    other = run_print_job(snap, PrintRequest("mar", "4W", patient_id="p2",
                                             pdf_path=tmp_path / "m.pdf"),
                          FormRegistry(share / "ws-4W-2" / "registry",
                                       [keys.unit.recipient, him]), now=now)
    packet = packet_pdf.read_bytes()
    packet_pdf.unlink()  # the PDFs the test saved are plaintext: not part of what is scanned
    (tmp_path / "m.pdf").unlink()
    truth = _truth(packet)
    (tmp_path / "downtime.toml").write_text(
        '[reconcile]\nfolder = "rec"\nidentity = "keys/him-1.age"\ninbox = "inbox"\n'
        'settle_seconds = 0.5\nretries = 1\nretry_seconds = 0.2\nworkers = 2\n'
        '[reconcile.units]\n4W = ["ws-4W-1", "ws-4W-2", "ws-4W-3"]\n')
    env = {**os.environ, "DOWNTIME_PASSPHRASE": PASS}

    def run(*args):
        result = CliRunner().invoke(cli, ["--config", str(tmp_path / "downtime.toml"), *args],
                                    env=env)
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        return result.output

    run("reconcile", "open", "--start", (AS_OF - timedelta(hours=2)).isoformat(),
        "--units", "4W")
    assert "NOTHING FROM ws-4W-3 (4W)" in run("reconcile", "collect", str(share / "ws-4W-1"),
                                              str(share / "ws-4W-2"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    watcher = subprocess.Popen(DOWNTIME + ["--config", str(tmp_path / "downtime.toml"),
                                           "reconcile", "watch"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    lines: list[str] = []  # what the watcher says, kept in memory (the terminal)
    reader = threading.Thread(target=lambda: lines.extend(watcher.stdout), daemon=True)
    reader.start()
    try:
        _wait(lambda: any(line.startswith("watching ") for line in lines), 30, lines)
        files = _drop_scans(packet, inbox)
        _bad_inputs(inbox)
        _wait(lambda: not any(inbox.iterdir()) and
              sum("SET ASIDE" in line for line in lines) == len(BAD), 60, lines)
    finally:
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(30) == 0, "".join(lines)
        reader.join(10)
    out = "".join(lines)
    assert "Traceback" not in out, out
    for bad in BAD:  # one clear line each
        assert sum(line.startswith(f"{bad}: SET ASIDE (") for line in lines) == 1, out
    assert "episode " in lines[-1] and f"{len(truth)} pages in" in lines[-1], out

    status = json.loads(run("reconcile", "status", "--json"))
    assert status["totals"]["pages_in"] == len(truth)  # nothing lost: each page in once
    assert status["totals"]["set_aside"] == len(BAD) and status["totals"]["queued"] == 1
    rows = {p["where"]: p for p in status["pages"]}
    for name, numbers in files.items():  # every readable page under its form and page
        for i, n in enumerate(numbers, start=1):
            row = rows[name if len(numbers) == 1 else f"{name} page {i} of {len(numbers)}"]
            if n == 15:  # the code blacked out: queued for a person
                assert row["status"] == "queued" and row["form_id"] is None, row
                continue
            assert row["status"] == "filed" and (row["form_id"], row["page_no"]) == truth[n], \
                (name, i, row)
            assert not row["flags"], row
    # status knows what is missing: the queued page, and the other workstation's MAR
    missing = [m for u in status["units"].values() for pt in u["patients"].values()
               for m in pt["missing"]]
    form_id, page_no = truth[15]
    assert any(f"page {page_no} of" in m and f"({form_id})" in m for m in missing), missing
    other_id = other.forms[0].form_id
    assert any(other_id in m for m in missing), missing
    assert len(missing) == 1 + other.pages
    # the huge file moved beside the inbox with its reason; the others kept encrypted
    aside = tmp_path / "inbox-set-aside"
    assert sorted(p.name for p in aside.iterdir()) == ["huge.tif", "huge.tif.reason.txt"]
    assert {s["source"] for s in status["set_aside"] if s["copy"]} == set(BAD) - {"huge.tif"}
    copies = list((tmp_path / "rec").glob("EP-*/pages/*.age"))
    assert len(copies) == len(truth)
    _no_plaintext(tmp_path)


def _wait(ready, seconds: float, lines: list[str]) -> None:
    end = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < end, "the watcher did not get there in time:\n" + \
            "".join(lines)
        time.sleep(0.1)
