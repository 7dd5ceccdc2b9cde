"""Printing from the TUI: the open patient's face sheet saved as a PDF, registered, audited."""

from __future__ import annotations

import asyncio

import pypdfium2 as pdfium
from textual.widgets import RadioButton, RadioSet

from downtime.tui.screens.chart import ChartScreen
from downtime.tui.screens.print_dialog import PrintScreen, printers_line
from tests.tui_helpers import make_site, settle, unlock, use_utc


def _site(tmp_path):
    use_utc()
    site = make_site(tmp_path)
    (tmp_path / "ws.age").write_text("unused")  # the KDF is faked: any file stands in
    return site


def _printing_app(site, tmp_path):
    """The browse app on the test site, with a form registry (printing needs one)."""
    return site.app(registry=tmp_path / "registry", escrow=(site.keys.escrow.recipient,))


def test_print_face_sheet_to_pdf_from_the_chart(tmp_path):
    site = _site(tmp_path)
    out = tmp_path / "facesheet.pdf"

    async def go():
        app = _printing_app(site, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            await pilot.press("p")
            await settle(app, pilot, lambda: isinstance(app.screen, PrintScreen))
            dialog = app.screen
            assert "SMITH, John (4W)" in str(dialog.query_one(".dialog-title").render())
            assert dialog.kind() == "facesheet"
            assert dialog.query_one("#kind", RadioSet).has_focus
            await settle(app, pilot, lambda: str(dialog.query_one("#printers").render()))
            assert "printers" in str(dialog.query_one("#printers").render())
            dialog.query_one("#paper").query(RadioButton)[1].value = True  # A4
            await pilot.pause()
            assert dialog.paper() == "A4"
            dialog.query_one("#pdf").value = str(out)
            dialog.query_one("#pdf").focus()
            await pilot.press("enter")
            await settle(app, pilot, lambda: dialog.done == 1, tries=600)
            status = str(dialog.query_one("#print-status").render())
            assert "-> " + str(out) in status, status
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, ChartScreen)
            # neither or both destinations: asked plainly, nothing printed
            await pilot.press("p")
            await settle(app, pilot, lambda: isinstance(app.screen, PrintScreen))
            app.screen.query_one("#printer").focus()
            await pilot.press("enter")
            await pilot.pause()
            assert "one of the two" in str(app.screen.query_one("#print-status").render())
    asyncio.run(go())
    assert out.read_bytes().startswith(b"%PDF")
    width, height = pdfium.PdfDocument(str(out))[0].get_size()
    assert (round(width), round(height)) == (595, 842)  # A4, as chosen
    prints = [e for e in site.entries() if e["action"] == "print"]
    assert prints and prints[0]["patient_id"] == "p1" and prints[0]["user"] == "badge 4411"
    assert (tmp_path / "registry").exists()


def test_arrow_keys_choose_the_form_and_enter_prints_it(tmp_path):
    """As the hint says: ↑↓ choose, Enter prints. (Textual's radio set moved only a highlight
    with the arrows: down to "Unit packet" and Enter printed the unit census.)"""
    site = _site(tmp_path)
    out = tmp_path / "packet.pdf"

    async def go():
        app = _printing_app(site, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("ctrl+p")  # from the census: the unit's forms
            await settle(app, pilot, lambda: isinstance(app.screen, PrintScreen))
            dialog = app.screen
            await pilot.pause()
            assert dialog.kind() == "census"
            await pilot.press("down", "down", "down")
            assert dialog.kind() == "packet"
            await pilot.press("up")
            assert dialog.kind() == "registration"
            await pilot.press("down")
            await pilot.press("enter")  # no destination yet: asked, nothing printed
            await pilot.pause()
            assert "one of the two" in str(dialog.query_one("#print-status").render())
            dialog.query_one("#pdf").value = str(out)
            dialog.query_one("#kind").focus()
            await pilot.press("enter")
            await settle(app, pilot, lambda: dialog.done == 1, tries=600)
            assert "21 pages, " in str(dialog.query_one("#print-status").render())
    asyncio.run(go())
    assert len(pdfium.PdfDocument(str(out))) == 21  # the packet, not the census


def test_printers_line_fits_the_dialog():
    assert printers_line([]) == "no printers set up here"
    assert printers_line(["4W-nurses", "4W-station"]) == "printers here: 4W-nurses, 4W-station"
    many = [f"queue-{i:03d}" for i in range(300)]
    assert printers_line(many) == "printers here: queue-000 … +299 (type to complete)"
    for names in (many, ["x" * 90], ["a" * 50, "b" * 50]):
        assert len(printers_line(names)) <= 60


def test_the_printer_field_completes_a_queue_name(tmp_path):
    site = _site(tmp_path)

    async def go():
        app = _printing_app(site, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("ctrl+p")
            await settle(app, pilot, lambda: isinstance(app.screen, PrintScreen))
            dialog = app.screen
            await settle(app, pilot, lambda: str(dialog.query_one("#printers").render()))
            dialog._show_printers(printers_line(["4W-nurses", "4W-station"]),
                                  ["4W-nurses", "4W-station"])  # as CUPS would list them
            dialog.query_one("#printer").focus()
            await pilot.press("4", "w", "-", "s")
            await pilot.pause()
            await pilot.press("right")  # take the completion
            assert dialog.query_one("#printer").value == "4W-station"
    asyncio.run(go())


def test_paper_out_but_audit_log_unwritable_says_printed_not_recorded(tmp_path):
    """The same words as `downtime print`: the form is out of the printer, its audit entry is
    not written. (The dialog used to say "Not printed", and a nurse would print it again.)"""
    from snapshots.audit import AuditLog

    site = _site(tmp_path)
    out = tmp_path / "facesheet.pdf"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    async def go():
        app = _printing_app(site, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            app.workstation.audit_log = AuditLog(blocker / "audit.log")  # cannot be created
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen))
            await pilot.press("p")
            await settle(app, pilot, lambda: isinstance(app.screen, PrintScreen))
            dialog = app.screen
            dialog.query_one("#pdf").value = str(out)
            dialog.query_one("#pdf").focus()
            await pilot.press("enter")
            await settle(app, pilot, lambda: dialog.done == 1, tries=600)
            status = dialog.query_one("#print-status")
            text = str(status.render())
            assert text.startswith("printed, but not recorded in the audit log"), text
            assert "Not printed" not in text and status.has_class("error")
    asyncio.run(go())
    assert out.read_bytes().startswith(b"%PDF")  # the paper (here a PDF) is out


def test_an_unexpected_fault_in_a_print_job_is_named_not_quoted(tmp_path, monkeypatch):
    """A bug in a print job reaches the dialog through the one worker-error route: its kind,
    never its message (which could quote a patient)."""
    from downtime.tui.workstation import Workstation

    site = _site(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("SMITH, John: something went wrong")

    async def go():
        app = _printing_app(site, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            monkeypatch.setattr(Workstation, "print_job", broken)
            await pilot.press("ctrl+p")
            await settle(app, pilot, lambda: isinstance(app.screen, PrintScreen))
            dialog = app.screen
            dialog.query_one("#pdf").value = str(tmp_path / "x.pdf")
            dialog.query_one("#pdf").focus()
            await pilot.press("enter")
            await settle(app, pilot, lambda: dialog.done == 1)
            text = str(dialog.query_one("#print-status").render())
            assert text.startswith("Not printed: unexpected RuntimeError"), text
            assert "SMITH" not in text and app.is_running
    asyncio.run(go())
