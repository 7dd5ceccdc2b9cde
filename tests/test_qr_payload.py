"""The forms' QR payload with the page number (DTF2; DTF1 still read), on every page of every
kind of form, and the page count the registry learns."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pypdfium2 as pdfium
import pyrage
import pytest
import zxingcpp

from forms.jobs import PrintRequest, run_print_job
from forms.qr import QrPayload
from forms.registry import FormRegistry, page_counts, read_registry
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot

NOW = AS_OF + timedelta(minutes=38)


def test_dtf2_round_trips_and_dtf1_still_reads():
    p = QrPayload("DT-ABCDEFGHJK", "mar", "p1", "enc-p1", 2, 3)
    assert p.text() == "DTF2|DT-ABCDEFGHJK|mar|p1|enc-p1|2|3"
    assert QrPayload.parse(p.text()) == p
    old = QrPayload.parse("DTF1|DT-ABCDEFGHJK|census||")
    assert (old.form_id, old.kind, old.patient_id, old.page, old.pages) == \
        ("DT-ABCDEFGHJK", "census", "", None, None)
    assert QrPayload("DT-ABCDEFGHJK", "census", "", "").text() == "DTF1|DT-ABCDEFGHJK|census||"


@pytest.mark.parametrize("text", [
    "", "hello", "https://example.org/x", "DTF1|DT-A|mar|p1", "DTF2|DT-A|mar|p1|e1|1",
    "DTF2|DT-A|mar|p1|e1|3|2", "DTF2|DT-A|mar|p1|e1|0|2", "DTF2|DT-A|mar|p1|e1|x|2",
    "DTF2|DT-A|mar|p1|e1|-1|2", "DTF2|DT-A|mar|p1|e1|1|2|extra", "DTF3|DT-A|mar|p1|e1|1|1",
    "DTF2|DT-A|mar|p1|e1|١|٢",  # digits, but not ASCII ones
])
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError, match="not a downtime form QR code"):
        QrPayload.parse(text)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("qr")
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(root, keys), keys.trusted, [keys.unit])
    registry = FormRegistry(root / "registry", [keys.escrow.recipient, keys.unit.recipient])
    return root, keys, snap, registry


def page_payloads(pdf) -> list[QrPayload]:
    document = pdfium.PdfDocument(str(pdf))
    out = []
    for index in range(len(document)):
        codes = [c for c in zxingcpp.read_barcodes(document[index].render(scale=2).to_pil())
                 if c.format == zxingcpp.BarcodeFormat.QRCode]
        assert len(codes) == 1, f"page {index + 1}: {len(codes)} codes"
        out.append(QrPayload.parse(codes[0].text))
    return out


# every kind of form, as a unit or a patient prints it; the unit medication list runs to two
# pages, so a form of several pages is among them
JOBS = [("packet", None), ("census", None), ("medlist", None), ("registration", None),
        ("facesheet", "p1"), ("mar", "p1"), ("medlist", "p1"), ("orders", "p2"),
        ("note", "p2"), ("vitals", "p3"), ("labels", "p4")]


@pytest.mark.parametrize("kind,patient", JOBS)
def test_every_page_says_which_page_of_which_form(env, tmp_path, kind, patient):
    root, keys, snap, registry = env
    out = tmp_path / "out.pdf"
    result = run_print_job(snap, PrintRequest(kind, "4W", patient_id=patient, pdf_path=out,
                                              printed_by="rn.kim"),
                           registry, now=NOW, identities=[keys.unit.secret])
    payloads = page_payloads(out)
    assert len(payloads) == result.pages
    # pages in print order: each form's pages 1..n, in turn, with its own count
    expected = [(f.form_id, i, f.pages) for f in result.forms for i in range(1, f.pages + 1)]
    assert [(p.form_id, p.page, p.pages) for p in payloads] == expected
    for p in payloads:
        form = next(f for f in result.forms if f.form_id == p.form_id)
        assert (p.kind, p.patient_id, p.encounter_id) == \
            (form.kind, form.patient_id, form.encounter_id)
    if (kind, patient) == ("medlist", None):
        assert [p.page for p in payloads] == [1, 2] and payloads[0].pages == 2
    # the registry knows each form's page count from its `printed` event
    records = read_registry(root / "registry", [keys.escrow.secret])
    printed = {r.form_id: r.pages for r in records if r.event == "printed"}
    counts = page_counts(records)
    for f in result.forms:
        assert printed[f.form_id] == f.pages == counts[f.form_id] >= 1


def test_old_registry_lines_without_pages_still_read(tmp_path):
    identity = pyrage.x25519.Identity.generate()
    old = {"form_id": "DT-OLDFORM234", "kind": "mar", "patient_id": "p1",
           "encounter_id": "e1", "unit": "4W", "snapshot_id": "s", "event": "printed",
           "at": "2026-11-24T14:00:00Z", "by": "rn", "detail": "x.pdf"}
    line = base64.b64encode(pyrage.encrypt(json.dumps(old).encode(), [identity.to_public()]))
    (tmp_path / "forms.log").write_bytes(line + b"\n")
    [record] = read_registry(tmp_path, [identity])
    assert record.pages == 0 and record.form_id == "DT-OLDFORM234"
    assert page_counts([record]) == {"DT-OLDFORM234": 0}
