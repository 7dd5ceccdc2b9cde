"""`downtime print --printer` through a real CUPS queue: the PDF that comes out of the queue
holds the packet; an unknown printer and a refusing printer give clear errors and the registry
never claims a form printed that did not reach the printer."""

from __future__ import annotations

import json
import time

import pypdfium2 as pdfium
import pytest
import zxingcpp
from click.testing import CliRunner

from downtime.cli import cli
from forms.qr import QrPayload
from forms.registry import printed_forms, read_registry
from snapshots.keys import load_identity
from tests.cups import (
    PDF_QUEUE,
    REJECTING_QUEUE,
    STOPPED_QUEUE,
    job_number,
    private_cups,
    wait_for_output,
)
from tests.factory import print_site

PASS = "print-test-pass"


@pytest.fixture(scope="module")
def cups_server():
    with private_cups() as server:
        yield server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return print_site(tmp_path_factory.mktemp("printsite"), PASS)


@pytest.fixture
def invoke(site, cups_server):
    """`downtime print ...` against the test site, printing through the private cupsd."""
    def run(*args):
        return CliRunner().invoke(cli, ["--config", str(site / "downtime.toml"), "print", *args],
                                  env={"DOWNTIME_PASSPHRASE": PASS, "CUPS_SERVER": cups_server})
    return run


def registry(site):
    ident = load_identity(site / "keys" / "escrow.age", PASS)
    return read_registry(site / "registry", [ident.secret])


def test_packet_comes_out_of_the_cups_queue(site, invoke):
    started = time.time()
    result = invoke("packet", "--unit", "4W", "--printer", PDF_QUEUE, "--user", "rn.kim")
    assert result.exit_code == 0, result.output
    assert f"-> {PDF_QUEUE} job" in result.output
    out = wait_for_output(started, "downtime_packet_4W", job_number(result.output))
    pdf_bytes = out.read_bytes()
    out.unlink()  # patient data (synthetic here): not left on disk
    # cups-pdf re-renders through Ghostscript (glyphs become outlines, no text layer), so the
    # paper is checked the way reconciliation will read it: by the QR code on every page.
    printed = printed_forms(registry(site))
    document = pdfium.PdfDocument(pdf_bytes)
    assert len(document) == 21
    assert [round(x) for x in document[0].get_size()] == [612, 792]  # Letter, in points
    kinds = []
    for page in document:
        codes = zxingcpp.read_barcodes(page.render(scale=2).to_pil())
        payload = QrPayload.parse(codes[0].text)
        assert payload.form_id in printed
        kinds.append(payload.kind)
    assert kinds[0] == "census" and kinds.count("mar") == 5 and kinds.count("facesheet") == 5
    assert "print" in (site / "audit.log").read_text()


def test_unknown_printer_lists_the_printers(site, invoke):
    result = invoke("census", "--unit", "4W", "--printer", "no-such-printer")
    assert result.exit_code == 1
    assert "unknown printer 'no-such-printer'" in result.output and PDF_QUEUE in result.output
    assert "Traceback" not in result.output


def test_refusing_printer_loses_nothing(site, invoke):
    before = set(printed_forms(registry(site)))
    result = invoke("census", "--unit", "4W", "--printer", REJECTING_QUEUE)
    assert result.exit_code == 1 and "refused the job" in result.output
    events = registry(site)
    failed = [e for e in events if e.event == "failed"]
    assert failed and set(printed_forms(events)) == before


def test_a4_goes_through_the_queue_as_a4(site, invoke):
    started = time.time()
    result = invoke("labels", "--unit", "4W", "--patient", "p4", "--paper", "A4",
                    "--printer", PDF_QUEUE)
    assert result.exit_code == 0, result.output
    out = wait_for_output(started, "downtime_labels_4W", job_number(result.output))
    document = pdfium.PdfDocument(out.read_bytes())
    out.unlink()
    assert len(document) == 1
    for page in document:
        assert [round(x) for x in page.get_size()] == [595, 842]  # A4, in points


def test_stopped_queue_is_refused_before_rendering(site, invoke):
    before = registry(site)
    result = invoke("census", "--unit", "4W", "--printer", STOPPED_QUEUE)
    assert result.exit_code == 1
    assert f"printer '{STOPPED_QUEUE}' is stopped" in result.output
    assert "paper jam" in result.output
    assert "Traceback" not in result.output
    assert registry(site) == before  # nothing issued, nothing claimed


def test_queue_stopped_while_rendering_records_failed(site, cups_server, monkeypatch):
    """The queue is checked again when the job is handed over: a printer stopped while the
    packet was laid out gets the forms recorded as failed, not printed."""
    from forms.jobs import PrintRequest, deliver
    from forms.printing import PrintError
    from forms.registry import FormRecord, FormRegistry

    monkeypatch.setenv("CUPS_SERVER", cups_server)
    ident = load_identity(site / "keys" / "escrow.age", PASS)
    forms_registry = FormRegistry(site / "registry", [ident.recipient])
    record = FormRecord("DT-STOPPEDTST", "census", "", "", "4W", "snap", "issued", "now", "t")
    with pytest.raises(PrintError, match="is stopped"):
        deliver(PrintRequest("census", "4W", printer=STOPPED_QUEUE), forms_registry,
                b"%PDF-1.4 not really", 1, [record])
    events = [e.event for e in registry(site) if e.form_id == "DT-STOPPEDTST"]
    assert events == ["issued", "failed"]


def test_unknown_patient_is_a_clear_error(site, invoke):
    result = invoke("facesheet", "--unit", "4W", "--patient", "no-such-mrn", "--printer",
                    PDF_QUEUE)
    assert result.exit_code == 1 and "no patient with MRN no-such-mrn" in result.output


def test_whole_hospital_packet_from_the_command(site, invoke, tmp_path):
    """`--unit ALL` opens the house snapshot (here with the escrow identity, the one it is
    encrypted to) and lays the units out in worker processes."""
    out = tmp_path / "all.pdf"
    result = invoke("packet", "--unit", "ALL", "--pdf", str(out), "--identity",
                    str(site / "keys" / "escrow.age"))
    assert result.exit_code == 0, result.output
    assert "21 pages, 21 forms" in result.output
    assert len(pdfium.PdfDocument(str(out))) == 21
    out.unlink()
    result = invoke("census", "--unit", "ALL", "--pdf", str(out), "--identity",
                    str(site / "keys" / "escrow.age"))
    assert result.exit_code == 1 and "whole hospital's packets only" in result.output
    assert not out.exists()


def test_saved_pdf_is_owner_only_and_audited_without_a_configured_log(site, tmp_path):
    """A saved PDF is plaintext patient data: readable by its owner only. With no audit log
    in the config the print goes to the workstation's default log, the one browse uses."""
    config = tmp_path / "no-audit.toml"
    config.write_text((site / "downtime.toml").read_text().replace('audit_log = "audit.log"\n',
                                                                   "").replace(
        '"store"', f'"{site / "store"}"').replace('"keys/', f'"{site / "keys"}/').replace(
        '"registry"', f'"{tmp_path / "registry"}"'))
    out = tmp_path / "mar.pdf"
    out.write_bytes(b"old")
    out.chmod(0o644)
    result = CliRunner().invoke(cli, ["--config", str(config), "print", "mar", "--unit", "4W",
                                      "--patient", "p1", "--pdf", str(out)],
                                env={"DOWNTIME_PASSPHRASE": PASS,
                                     "XDG_STATE_HOME": str(tmp_path / "state")})
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600 and out.read_bytes().startswith(b"%PDF")
    log = tmp_path / "state" / "downtime" / "audit.log"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["action"], e["patient_id"]) for e in entries] == [("print", "p1")]
    assert entries[0]["detail"].startswith("mar DT-")


def test_a_registry_that_cannot_be_written_is_one_line(site, tmp_path):
    blocked = tmp_path / "registry"
    blocked.write_text("a file where the registry folder should be")
    config = tmp_path / "blocked.toml"
    config.write_text((site / "downtime.toml").read_text().replace(
        '"store"', f'"{site / "store"}"').replace('"keys/', f'"{site / "keys"}/').replace(
        'registry = "registry"', f'registry = "{blocked}"').replace(
        '"audit.log"', f'"{tmp_path / "audit.log"}"'))
    out = tmp_path / "census.pdf"
    result = CliRunner().invoke(cli, ["--config", str(config), "print", "census", "--unit",
                                      "4W", "--pdf", str(out)],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    assert result.exit_code == 1, result.output
    assert f"{blocked}/forms.log: cannot record forms in the registry" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_unit_codes_match_whatever_their_case_and_an_unknown_one_lists_the_units(site, invoke,
                                                                               tmp_path):
    out = tmp_path / "census.pdf"
    result = invoke("census", "--unit", "4w", "--pdf", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    out.unlink()  # patient data (synthetic here): not left on disk
    assert any(r.unit == "4W" for r in registry(site) if r.kind == "census")
    unknown = invoke("census", "--unit", "9Z", "--pdf", str(out))
    assert unknown.exit_code == 1 and unknown.output.count("\n") == 1
    assert "no unit '9Z'" in unknown.output and "(units: 4W)" in unknown.output
    assert not out.exists()
