"""End to end with real parts: forms printed to PDF (registered), scanned as a scanner would
(tests/scansim.py: grey, skew, noise, JPEG; one page upside down, one code blacked out, a
multi-page PDF and a multi-page TIFF), collected and taken in with `downtime reconcile
scan`: every readable page filed under its form and page, the blacked-out one queued,
bad files set aside with a line each, nothing lost, no plaintext left in any file written."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner

from downtime.cli import cli
from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry, read_registry
from snapshots.keys import create_identity
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot
from tests.scansim import Scan, scan_pages, to_jpeg, to_pdf, to_png, to_tiff

PASS = "correct horse battery"
NAMES = [b"SMITH", b"OKAFOR", b"NGUYEN", b"Grace", b"Penicillin"]


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
    (inbox / "empty.pdf").write_bytes(b"")
    (inbox / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<garbage")
    from PIL import Image
    Image.new("L", (64, 64), 255).save(inbox / "icon.png")
    with open(inbox / "huge.tif", "wb") as f:  # sparse: over the limit without the disk
        f.truncate(600 * 1024 * 1024)
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
    for bad in ("empty.pdf", "corrupt.pdf", "icon.png", "huge.tif"):
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
        assert any(f"{mar_id} page 2 of" in m for m in
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
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "huge.tif"]
    assert any(p.suffix == ".age" for p in written)
    for path in written:
        data = path.read_bytes()
        for needle in NAMES + [b"MRN"]:
            assert needle not in data, f"{needle!r} in plaintext in {path}"
    copies = list((tmp_path / "rec").glob("EP-*/pages/*.age"))
    assert len(copies) == total
    assert all(c.read_bytes().startswith(b"age-encryption.org/v1") for c in copies)
