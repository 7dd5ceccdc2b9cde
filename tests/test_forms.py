"""Downtime forms: what is on every page, the MAR's completeness, QR codes that decode to
registered form ids, and the encrypted registry."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta

import pypdfium2 as pdfium
import pytest
import zxingcpp

from forms.jobs import PrintRequest, run_print_job
from forms.qr import QrPayload
from forms.registry import FormRegistry, printed_forms, read_registry
from forms.render import FormError
from snapshots import chart
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot

NOW = AS_OF + timedelta(minutes=38)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("forms")
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(root, keys), keys.trusted, [keys.unit])
    registry = FormRegistry(root / "registry", [keys.escrow.recipient, keys.unit.recipient])
    return root, keys, snap, registry


@pytest.fixture(scope="module")
def packet(env):
    root, keys, snap, registry = env
    out = root / "packet.pdf"
    result = run_print_job(snap, PrintRequest("packet", "4W", pdf_path=out, printed_by="rn.kim"),
                           registry, now=NOW)
    return out, result


def pages_text(pdf) -> list[str]:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    return [p for p in text.split("\f") if p.strip()]


def test_every_page_has_allergies_data_age_and_page_numbers(packet, env):
    pdf, result = packet
    pages = pages_text(pdf)
    assert len(pages) == result.pages == 21  # census + 5 patients x 4 forms (MAR 1 page each)
    for i, page in enumerate(pages):
        flat = " ".join(page.split())
        assert "DOWNTIME COPY — data as of 24 Nov 2026" in flat or \
            "DOWNTIME COPY — data as of" in flat, i
        assert "38 min old" in flat, i
        assert re.search(r"Page \d+ of \d+", flat), i
        assert re.search(r"DT-[A-Z2-9]{10}", flat), i
        if "Unit census" not in flat and "UNIT CENSUS" not in flat:
            assert re.search(r"ALLERGIES( \(\d+\))?:|NO KNOWN ALLERGIES|NO ALLERGY INFORMATION",
                             flat), i
            assert "MRN" in flat and "DOB" in flat and "Bed" in flat, i


def test_allergy_states_are_told_apart(packet):
    pdf, _ = packet
    flat = " ".join(" ".join(pages_text(pdf)).split())
    assert "ALLERGIES:" in flat and "Penicillin (hives)" in flat  # p1
    assert "NO KNOWN ALLERGIES (recorded)" in flat  # p2, p5
    assert "NO ALLERGY INFORMATION" in flat  # p3
    assert "NAME ALERT" in flat


def test_mar_holds_every_active_order(env, packet):
    _, _, snap, _ = env
    pdf, _ = packet
    pages = [" ".join(p.split()) for p in pages_text(pdf)]
    for row in chart.census(snap.db):
        mar = next(p for p in pages if "MEDICATION ADMINISTRATION RECORD" in p.upper()
                   and row.mrn in p)
        # straight from the table, not through chart.medications, which the form itself uses
        orders = [m for (m,) in snap.db.execute(
            "SELECT medication FROM med_orders WHERE patient_id = ? "
            "AND status IN ('active', 'on-hold')", (row.patient_id,))]
        assert orders
        for medication in orders:
            assert medication in mar, (row.name, medication)
        assert "ON HOLD" in mar  # the heparin drip held under the legacy status


def test_every_page_qr_decodes_to_a_registered_form(packet, env):
    root, keys, _, _ = env
    pdf, result = packet
    registered = printed_forms(read_registry(root / "registry", [keys.escrow.secret]))
    document = pdfium.PdfDocument(str(pdf))
    for index in range(len(document)):
        image = document[index].render(scale=2).to_pil()
        codes = [c for c in zxingcpp.read_barcodes(image)
                 if c.format == zxingcpp.BarcodeFormat.QRCode]
        assert codes, f"no QR code on page {index + 1}"
        payload = QrPayload.parse(codes[0].text)
        assert payload.form_id in registered, payload
        assert registered[payload.form_id].kind == payload.kind
    assert {f.form_id for f in result.forms} <= set(registered)


def test_registry_is_encrypted_at_rest(packet, env):
    root, _, snap, _ = env
    raw = (root / "registry" / "forms.log").read_bytes()
    for row in chart.census(snap.db):
        assert row.name.encode() not in raw and row.mrn.encode() not in raw
    assert b"age-encryption.org" not in raw  # base64 of age files, one per line
    assert all(line.startswith(b"YWdlLWVuY3J5cHRpb24ub3JnL3Yx") for line in raw.splitlines())


def test_registration_form_carries_a_downtime_mrn(env, tmp_path):
    _, keys, snap, registry = env
    out = tmp_path / "reg.pdf"
    run_print_job(snap, PrintRequest("registration", "4W", pdf_path=out), registry, now=NOW,
                  identities=[keys.unit.secret])
    flat = " ".join(" ".join(pages_text(out)).split())
    assert "DT4W00000" in flat and "DE4W00000" in flat


def test_a4_and_other_forms_render(env, tmp_path):
    _, _, snap, registry = env
    for kind in ("labels", "vitals", "medlist"):
        out = tmp_path / f"{kind}.pdf"
        run_print_job(snap, PrintRequest(kind, "4W", patient_id="p4", pdf_path=out,
                                         paper="A4"), registry, now=NOW)
        info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
        assert "(A4)" in info, info


def test_bad_requests_are_clear(env, tmp_path):
    _, _, snap, registry = env
    with pytest.raises(FormError, match="unit 'XX' is not in this snapshot"):
        run_print_job(snap, PrintRequest("census", "XX", pdf_path=tmp_path / "x.pdf"),
                      registry)
    with pytest.raises(FormError, match="say where to print"):
        run_print_job(snap, PrintRequest("census", "4W"), registry)
    assert not (tmp_path / "x.pdf").exists()


def test_stale_data_is_flagged_on_paper(env, tmp_path):
    _, _, snap, registry = env
    out = tmp_path / "census.pdf"
    run_print_job(snap, PrintRequest("census", "4W", pdf_path=out), registry,
                  now=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    assert "STALE" in " ".join(pages_text(out))


def test_data_dated_after_the_printing_clock_is_flagged_on_paper(env, tmp_path):
    _, _, snap, registry = env
    out = tmp_path / "census.pdf"
    as_of = datetime.fromisoformat(snap.manifest.as_of.replace("Z", "+00:00"))
    run_print_job(snap, PrintRequest("census", "4W", pdf_path=out), registry,
                  now=as_of - timedelta(hours=2))
    text = " ".join(" ".join(pages_text(out)).split())
    assert "later than the clock it was printed by: CHECK THE CLOCK" in text
    assert "from the future" not in text


def test_prerendered_packet_goes_out_at_once_once_and_registers_on_print(env, tmp_path):
    from forms.prerender import day_of, load_prerendered, packet_path, prerender_packet

    root, keys, snap, registry = env
    folder = tmp_path / "pre"
    path = prerender_packet(snap, "4W", folder, [keys.unit.recipient], now=NOW)
    assert path == packet_path(folder, "4W", snap.manifest.snapshot_id, "Letter", day_of(NOW))
    assert b"SMITH" not in path.read_bytes()  # encrypted at rest
    stored = load_prerendered(folder, "4W", snap.manifest.snapshot_id, "Letter", day_of(NOW),
                              [keys.unit.secret])
    before = set(printed_forms(read_registry(root / "registry", [keys.escrow.secret])))
    result = run_print_job(snap, PrintRequest("packet", "4W", pdf_path=tmp_path / "p.pdf"),
                           registry, now=NOW, prerendered=(folder, [keys.unit.secret]))
    assert result.prerendered and result.pages == 21
    assert [f.form_id for f in result.forms] == [f.form_id for f in stored[2]]  # not re-laid
    assert not path.exists()  # used up: never printed twice
    after = printed_forms(read_registry(root / "registry", [keys.escrow.secret]))
    assert {f.form_id for f in result.forms} <= set(after) - before
    flat = " ".join(" ".join(pages_text(tmp_path / "p.pdf")).split())
    assert "pre-rendered: compare with the clock" in flat
    # the second print of the same snapshot renders live, with new form ids
    again = run_print_job(snap, PrintRequest("packet", "4W", pdf_path=tmp_path / "q.pdf"),
                          registry, now=NOW, prerendered=(folder, [keys.unit.secret]))
    assert not again.prerendered and again.pages == 21
    assert not {f.form_id for f in again.forms} & {f.form_id for f in result.forms}


def test_every_page_of_a_prerendered_packet_says_who_printed_it_and_when(env, tmp_path):
    """Rendered before anyone asked, the packet's footer says when it was rendered; the line
    drawn at hand-over says who printed it and when, on every page, in Latin script or not."""
    import zxingcpp

    from forms.prerender import prerender_packet

    _, keys, snap, registry = env
    folder = tmp_path / "pre"
    for user in ("RN Kim", "RN Łucja Wróbel", "Медсестра Иванова"):
        prerender_packet(snap, "4W", folder, [keys.unit.recipient], now=NOW)
        out = tmp_path / "p.pdf"
        result = run_print_job(snap, PrintRequest("packet", "4W", pdf_path=out,
                                                  printed_by=user),
                               registry, now=NOW, prerendered=(folder, [keys.unit.secret]))
        assert result.prerendered
        pages = [" ".join(text.split()) for text in pages_text(out)]
        assert len(pages) == result.pages == 21
        for text in pages:
            assert f"by {user}" in text and text.count("Printed ") == 1, text[-300:]
            assert "ahead of printing" in text and "by pre-rendered" not in text
        document = pdfium.PdfDocument(str(out))  # the QR codes still read
        assert zxingcpp.read_barcodes(document[0].render(scale=2).to_pil())
        assert all(record.by == user for record in result.forms)


def test_prerendered_packet_is_only_for_its_day_and_paper(env, tmp_path):
    from forms.prerender import prerender_packet

    _, keys, snap, registry = env
    folder = tmp_path / "pre"
    path = prerender_packet(snap, "4W", folder, [keys.unit.recipient], now=NOW)
    for paper, when in (("A4", NOW), ("Letter", NOW + timedelta(days=1))):
        result = run_print_job(snap, PrintRequest("packet", "4W", paper=paper,
                                                  pdf_path=tmp_path / "x.pdf"),
                               registry, now=when, prerendered=(folder, [keys.unit.secret]))
        assert not result.prerendered, (paper, when)
        assert path.exists()  # not this job's: left for the job it fits
    mar = " ".join(pages_text(tmp_path / "x.pdf"))
    assert "WED 25 NOV 2026" in mar.upper()  # the MAR of the day it is printed for
