"""Pilot tests of `downtime reconcile enter`: unlock as the clerk, scan a QR, type a MAR page,
correct a line, initials asked once, bad input refused in one line with nothing lost,
vitals with an out-of-range value confirmed, orders, a note, a registration, the
needs-indexing queue; what is journaled; no plaintext left on disk."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Input, Static

from downtime.tui.screens.ask_person import AskPersonScreen
from downtime.tui.screens.entry_forms import NoteScreen, RegistrationScreen
from downtime.tui.screens.entry_kinds import MarScreen, OrdersScreen, VitalsScreen
from downtime.tui.screens.form_pick import FormPickScreen
from downtime.tui.screens.indexing import IndexingScreen
from reconcile.backentry import ENTRY_RECORDED
from tests.enter_helpers import MAR, NOTE, ORDERS, PATIENT_NAMES, REG, VITALS, enter_site, qr
from tests.tui_helpers import PASSPHRASE, settle

pytestmark = pytest.mark.usefixtures("utc")


def run(coro):
    return asyncio.run(coro)


def shown(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def login(app, pilot) -> None:
    app.screen.query_one("#user").value = "Pat Clerk"
    app.screen.query_one("#passphrase").value = PASSPHRASE
    app.screen.query_one("#passphrase").focus()
    await pilot.press("enter")
    await settle(app, pilot, lambda: isinstance(app.screen, FormPickScreen))


async def scan(app, pilot, text: str, screen_type) -> None:
    await pilot.press(*text, "enter")  # a handheld scanner types the payload, then Enter
    await settle(app, pilot, lambda: isinstance(app.screen, screen_type))


async def line(app, pilot, text: str) -> None:
    await pilot.press(*text, "enter")
    await settle(app, pilot, lambda: not app.screen.busy)


def entries(site):
    return [e.data for e in site.events(ENTRY_RECORDED)]


def test_a_mar_page_typed_corrected_and_done(tmp_path):
    site = enter_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(140, 40)) as pilot:
            await login(app, pilot)
            await scan(app, pilot, qr(MAR, "mar"), MarScreen)
            banner = shown(app, "#entry-banner")
            assert "SMITH, John" in banner and "MRN0000101" in banner
            assert "DOB 1950-03-04" in banner and "Bed 4W-401-A" in banner
            assert "ALLERGIES: Penicillin" in banner
            screen = app.screen
            assert len(screen.query_one("#lines").columns) == 4  # added once
            assert [r.drug.text for r in screen.rows][0] == "Metoprolol tartrate 25 mg tablet"
            assert screen.rows[-1].prn  # the PRN rows come after the scheduled ones
            await line(app, pilot, "0910AB")
            await line(app, pilot, "1300 AB r patient refused")
            assert "refused needs" not in shown(app, "#entry-message")
            # bad input: one line, the text kept to be fixed
            await pilot.press(*"0300 AB", "enter")
            await settle(app, pilot)
            assert "not within the episode" in shown(app, "#entry-message")
            assert screen.query_one("#line", Input).value == "0300 AB"
            screen.query_one("#line", Input).value = ""
            # the same box typed twice is refused, not doubled
            await pilot.press(*"0910 AB", "enter")
            await settle(app, pilot)
            assert "already typed" in shown(app, "#entry-message")
            screen.query_one("#line", Input).value = ""
            # correct the first dose: choose its line, F2, fix, Enter
            screen.action_move_line(1)
            assert screen.selected() == 101
            await pilot.press("f2")
            assert screen.query_one("#line", Input).value == "0910 AB"
            screen.query_one("#line", Input).value = "0915 AB"
            await pilot.press("enter")
            await settle(app, pilot, lambda: not screen.busy)
            assert "revision 1" in shown(app, "#entry-message")
            # the PRN row: the reason is required
            prn = next(r for r in screen.rows if r.prn)
            while screen.current_row() != prn:
                screen.action_move(1)
            await line(app, pilot, "1415 AB")
            assert "needs the reason" in shown(app, "#entry-message")
            screen.query_one("#line", Input).value = ""
            await line(app, pilot, "1415 AB pain 7/10")
            await pilot.press("f9")
            await settle(app, pilot)
            assert "marked done" in shown(app, "#entry-message")
            await pilot.press("escape")
            # re-opened: what was typed is shown
            await scan(app, pilot, qr(MAR, "mar"), MarScreen)
            assert sorted(app.screen.opened.typed) == [101, 102, 301]
            assert app.screen.opened.done["lines"] == 3
    run(go())
    data = entries(site)
    assert len(data) == 4
    first, refused, fixed, prn = (d["entry"] for d in data)
    assert first["paper_time"].startswith("2026-11-24T09:10") and first["revision"] == 0
    assert fixed["paper_time"].startswith("2026-11-24T09:15") and fixed["revision"] == 1
    assert fixed["source"] == {"form_id": MAR, "page": 1, "line": 101}
    assert first["written_by"]["name"] == "Alice Brown"
    assert first["entered_by"]["name"] == "Pat Clerk"
    assert first["order_id"] == "mo-p1-1" and first["dose"] == {"value": 25.0, "unit": "mg"}
    assert refused["outcome"] == "refused" and refused["reason"] == "patient refused"
    assert prn["prn"] and prn["prn_reason"] == "pain 7/10"
    assert all(d["via"] == "tui" and d["page_id"] for d in data)
    done = [e.data for e in site.events("page-transcribed")]
    assert done == [{"form_id": MAR, "page": 1, "lines": 3, "person": "Pat Clerk"}]
    _no_plaintext(tmp_path)


def _no_plaintext(tmp_path):
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".pub":
            data = path.read_bytes()
            for word in PATIENT_NAMES:
                assert word.encode() not in data, f"{word} in plaintext in {path}"


def test_ambiguous_initials_are_asked_once(tmp_path):
    site = enter_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await login(app, pilot)
            await scan(app, pilot, qr(MAR, "mar"), MarScreen)
            await pilot.press(*"0905 CD", "enter")
            await settle(app, pilot, lambda: isinstance(app.screen, AskPersonScreen))
            assert "2 people" in str(app.screen.query_one(Static).render())
            await pilot.press("2", "enter")
            await settle(app, pilot, lambda: isinstance(app.screen, MarScreen)
                         and not app.screen.busy and app.screen.opened.typed)
            await pilot.press(*"1305 CD", "enter")  # not asked again
            await settle(app, pilot, lambda: len(app.screen.opened.typed) == 2)
            assert isinstance(app.screen, MarScreen)
    run(go())
    assert [d["entry"]["written_by"]["name"] for d in entries(site)] == ["Cora Day"] * 2


def test_a_mar_without_the_snapshot_says_so_and_takes_rows_from_the_paper(tmp_path):
    site = enter_site(tmp_path, snapshot=False)

    async def go():
        app = site.app()
        async with app.run_test(size=(100, 30)) as pilot:
            await login(app, pilot)
            await scan(app, pilot, f"{MAR} 2", MarScreen)
            banner = shown(app, "#entry-banner")
            assert "SMITH, John" in banner and "ALLERGIES NOT AVAILABLE HERE" in banner
            assert "DOB not available" in banner and "not on this station" in banner
            assert "none" not in banner.lower()
            await line(app, pilot, "+ furosemide 40 mg IV")
            await line(app, pilot, "0800 AB")
    run(go())
    (e,) = [d["entry"] for d in entries(site)]
    assert e["drug"]["text"] == "furosemide" and e["route"] == "IV"
    assert e["source"] == {"form_id": MAR, "page": 2, "line": 101} and e["order_id"] is None


def test_vitals_orders_note_and_registration(tmp_path):
    site = enter_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await login(app, pilot)
            await scan(app, pilot, VITALS, VitalsScreen)
            await line(app, pilot, "1400 37.2 88 120/80 16 98 AB")
            await line(app, pilot, "1500 37 190 AB")
            assert "CHECK: HR 190" in shown(app, "#entry-message")
            await pilot.press("enter")  # confirmed as written
            await settle(app, pilot, lambda: len(app.screen.opened.typed) == 2)
            await line(app, pilot, "1600 37 80 120 AB")
            assert "systolic/diastolic" in shown(app, "#entry-message")
            await pilot.press("escape")
            await scan(app, pilot, ORDERS, OrdersScreen)
            await line(app, pilot, "1430 ceftriaxone 1 g IV q24h JS")
            await line(app, pilot, "1445 morphine 2 mg IV q4h JS t by AB prn pain")
            assert "read-back" in shown(app, "#entry-message")
            app.screen.query_one("#line", Input).value = ""
            await line(app, pilot, "1445 morphine 2 mg IV q4h JS t rb by AB prn pain")
            await pilot.press("escape")
            await scan(app, pilot, NOTE, NoteScreen)
            await pilot.press(*"1030", "tab", *"JS", "tab", "tab")
            app.screen.query_one("#note-text").text = "Seen on rounds. Stable."
            await pilot.press("ctrl+s")
            await settle(app, pilot, lambda: app.screen.opened.typed)
            await pilot.press("escape")
            await scan(app, pilot, REG, RegistrationScreen)
            assert "DTM-000017" in shown(app, "#entry-hint")
            for value in ("Doe", "Jane", "12 Mar 1950", "f", "1 Main St", "Town", "12345",
                          "555-0100", "0715", "AB"):
                await pilot.press(*value, "enter")
            await settle(app, pilot, lambda: app.screen.opened.typed)
    run(go())
    by_kind = {}
    for d in entries(site):
        by_kind.setdefault(d["entry"]["kind"], []).append(d["entry"])
    v1, v2 = by_kind["vitals"]
    assert {r["measure"]: r["value"] for r in v1["readings"]}["blood_pressure"] == 120
    assert [r["unit"] for r in v1["readings"]] == ["Cel", "/min", "mm[Hg]", "/min", "%"]
    assert v2["source"]["line"] == 2
    written, phoned = by_kind["order"]
    assert written["mode"] == "written" and written["written_by"]["name"] == "Dr Jane Smith"
    assert phoned["mode"] == "telephone" and phoned["read_back"]
    assert phoned["written_by"]["name"] == "Alice Brown"
    assert phoned["prescriber"]["name"] == "Dr Jane Smith"
    (note,) = by_kind["note"]
    assert note["text"] == "Seen on rounds. Stable." and note["written_by"]["name"] == \
        "Dr Jane Smith"
    (reg,) = by_kind["registration"]
    assert reg["patient_id"] == "DTM-000017" and reg["encounter_id"] == "DTE-000017"
    assert reg["birth_date"] == "1950-03-12" and reg["sex"] == "female"


def test_unknown_form_and_the_indexing_queue(tmp_path):
    site = enter_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await login(app, pilot)
            await pilot.press(*"DT-ZZZZZZZZZZ", "enter")
            await settle(app, pilot)
            assert "in no collected registry" in shown(app, "#pick-message")
            assert app.screen.query_one("#form", Input).value == "DT-ZZZZZZZZZZ"
            app.screen.query_one("#form", Input).value = ""
            await pilot.press("f4")
            await settle(app, pilot, lambda: isinstance(app.screen, IndexingScreen)
                         and getattr(app.screen, "pages", None))
            assert len(app.screen.pages) == 1
            await pilot.press(*f"{VITALS} 1", "enter")
            await settle(app, pilot, lambda: not app.screen.pages)
            assert "indexed by hand" in shown(app, "#queue-message")
    run(go())
    (indexed,) = [e.data for e in site.events("page-indexed")]
    assert indexed["form_id"] == VITALS and indexed["page_no"] == 1


def test_the_page_goes_to_the_viewer_from_memory_and_is_removed(tmp_path):
    import shutil

    site = enter_site(tmp_path)
    seen = tmp_path / "seen"
    viewer = ["sh", "-c", f'ls -ld "$(dirname "$0")" > {seen}; cp "$0" {tmp_path}/copy.bin']

    async def go():
        app = site.app(viewer=viewer)
        async with app.run_test(size=(140, 40)) as pilot:
            await login(app, pilot)
            await scan(app, pilot, qr(MAR, "mar"), MarScreen)
            await settle(app, pilot, lambda: app.screen.query("#page-image"))
            await pilot.press("f6")
            await settle(app, pilot, lambda: seen.exists() and seen.read_text())
            folder = app.session._viewer_dirs[0]
            assert str(folder).startswith(("/dev/shm", "/run/user"))
            assert seen.read_text().startswith("drwx------")
            await pilot.press("escape")
            assert not folder.exists()
    run(go())
    assert (tmp_path / "copy.bin").read_bytes().startswith(b"\x89PNG")
    (tmp_path / "copy.bin").unlink()
    shutil.rmtree(seen, ignore_errors=True)


def test_a_dot_types_the_time_printed_in_the_rows_next_box(tmp_path):
    site = enter_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await login(app, pilot)
            await scan(app, pilot, qr(MAR, "mar"), MarScreen)
            field = app.screen.query_one("#line", Input)
            assert field.placeholder.startswith("next box due 0900")
            await line(app, pilot, ".AB")
            assert field.placeholder.startswith("next box due 2100")
            await pilot.press("down")  # the heparin infusion: no box times printed
            await line(app, pilot, ".AB")
            assert "has none left" in shown(app, "#entry-message")
    run(go())
    (e,) = [d["entry"] for d in entries(site)]
    assert e["paper_time"].startswith("2026-11-24T09:00") and e["order_id"] == "mo-p1-1"


def test_unknown_initials_are_asked_and_a_cancel_keeps_the_line(tmp_path):
    site = enter_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(120, 36)) as pilot:
            await login(app, pilot)
            await scan(app, pilot, qr(MAR, "mar"), MarScreen)
            await pilot.press(*"0905 ZQ", "enter")
            await settle(app, pilot, lambda: isinstance(app.screen, AskPersonScreen))
            assert "nobody on unit 4W" in str(app.screen.query(Static)[0].render())
            await pilot.press("escape")
            await settle(app, pilot, lambda: isinstance(app.screen, MarScreen))
            assert app.screen.query_one("#line", Input).value == "0905 ZQ"  # not lost
            assert "not recorded until" in shown(app, "#entry-message")
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, AskPersonScreen))
            await pilot.press(*"0910", "enter")  # digits: not a name
            assert "no times" in str(app.screen.query_one("#ask-message").render())
            app.screen.query_one("#who", Input).value = "Zoe Quinn RN"
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, MarScreen)
                         and app.screen.opened.typed)
    run(go())
    (e,) = [d["entry"] for d in entries(site)]
    assert e["written_by"] == {"name": "Zoe Quinn RN", "initials": "ZQ",
                               "practitioner_id": None}


def test_idle_lock_closes_the_session_and_removes_the_viewers_copy(tmp_path):
    site = enter_site(tmp_path)

    async def go():
        app = site.app(viewer=["true"])
        async with app.run_test(size=(100, 30)) as pilot:
            await login(app, pilot)
            await scan(app, pilot, qr(MAR, "mar"), MarScreen)
            await pilot.press("f6")
            await settle(app, pilot, lambda: app.session._viewer_dirs)
            folder = app.session._viewer_dirs[0]
            assert folder.exists()
            site.clock.advance(minutes=6)
            app.check_idle_lock()
            await settle(app, pilot)
            assert app.session is None and not folder.exists()
            assert app.screen is app.unlock_screen
            assert app.screen.query_one("#user", Input).value == "Pat Clerk"
    run(go())
    actions = [line.split('"action":"')[1].split('"')[0]
               for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert actions == ["unlock", "chart-open", "lock"]
