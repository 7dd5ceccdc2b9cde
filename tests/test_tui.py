"""Textual Pilot tests of `downtime browse`: unlock, wrong passphrase, filter, chart, tabs,
break-glass, auto-lock, snapshot switch, pharmacy vs unit identity, data age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.widgets import DataTable, Static, TabbedContent

from downtime.tui.row_table import RowTable
from downtime.tui.screens.break_glass import BreakGlassScreen
from downtime.tui.screens.census import CensusScreen
from downtime.tui.screens.chart import ChartScreen
from downtime.tui.screens.switch import SwitchScreen
from downtime.tui.screens.unlock import UnlockScreen
from tests.factory import AS_OF, iso, sealed_snapshot
from tests.tui_helpers import (
    make_site,
    seal_house,
    settle,
    stable_db,
    type_text,
    unlock,
)

pytestmark = pytest.mark.usefixtures("utc")


def run(coro):
    import asyncio

    return asyncio.run(coro)


def text_of(widget) -> str:
    return str(widget.render())


async def unlock_attempt(app, pilot) -> None:
    app.screen.query_one("#user").value = "x"
    app.screen.query_one("#passphrase").value = "correct horse"
    app.screen.query_one("#passphrase").focus()
    await pilot.press("enter")


def census_names(app) -> list[str]:
    return [r.name for r in app.screen.shown]


def drawn_census(app) -> list[str]:
    """The census lines as drawn on screen (header first), not the rows behind them."""
    table = app.screen.query_one("#census", RowTable)
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


def test_unlock_shows_the_census_and_logs_it(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            assert isinstance(app.screen, UnlockScreen)
            await unlock(app, pilot)
            assert census_names(app) == ["SMITH, John", "SMITH, Jon", "OKAFOR, Grace",
                                         "NGUYEN, Minh", "GARCÍA, Lucía"]
            drawn = drawn_census(app)
            # five short rows: every column's full title and text fit 80 columns
            assert drawn[0].split() == ["Bed", "Name", "Age", "MRN", "Attending", "Alg", "Code",
                                        "status", "Iso"]
            assert drawn[1].split() == ["4W-401-A", "⚠SMITH,", "John", "76y", "F",
                                        "MRN0000101", "Dr.", "Ada", "Quill", "ALG", "Full",
                                        "code"]
            assert "not recorded" in drawn[3]  # OKAFOR's code status: the one wording
            assert "GARCÍA, Lucía" in drawn[5] and drawn[6:] == [""] * len(drawn[6:])
            assert "12 min old" in text_of(app.screen.query_one("#age"))
    run(go())
    entries = site.entries()
    assert [e["action"] for e in entries] == ["unlock"]
    assert entries[0]["user"] == "badge 4411" and entries[0]["snapshot_id"]


def test_the_chart_screen_mounted_at_unlock_is_never_drawn_before_a_chart_opens(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        drawn = []  # what would reach the terminal (headless, nothing does)
        display = app._display

        def record(screen, update):
            if update is not None and not app._batch_count:  # as App._display decides
                drawn.append(type(screen).__name__)
            display(screen, update)
        app._display = record
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await settle(app, pilot, lambda: app.chart_screen.is_mounted)
            await pilot.pause(0.2)
            assert "CensusScreen" in drawn and "ChartScreen" not in drawn
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            await pilot.pause()
            assert "ChartScreen" in drawn
    run(go())


def test_wrong_passphrase_is_a_plain_message(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"kim", "enter", *"nope", "enter")
            await settle(app, pilot, lambda: "Wrong" in text_of(
                app.screen.query_one("#unlock-message")))
            assert isinstance(app.screen, UnlockScreen)
            assert app.session is None
            assert app.screen.query_one("#passphrase").value == ""
            await unlock(app, pilot, user="")
    run(go())
    assert site.actions() == ["unlock-failed", "unlock"]


def test_empty_fields_are_asked_for(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.click("#unlock")
            await pilot.pause()
            assert "badge" in text_of(app.screen.query_one("#unlock-message"))
            assert app.session is None
    run(go())
    assert site.actions() == []


def test_type_to_filter_by_name_mrn_and_bed(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            screen = app.screen
            await pilot.press(*"smi")
            await settle(app, pilot, lambda: len(screen.shown) == 2)
            assert census_names(app) == ["SMITH, John", "SMITH, Jon"]
            await type_text(app, pilot, " jon")
            await settle(app, pilot, lambda: len(screen.shown) == 1)
            assert census_names(app) == ["SMITH, Jon"]
            await pilot.press("escape")
            await settle(app, pilot, lambda: len(screen.shown) == 5)
            await type_text(app, pilot, "MRN0000103")
            await settle(app, pilot, lambda: census_names(app) == ["OKAFOR, Grace"])
            await pilot.press("escape")
            await type_text(app, pilot, "404")
            await settle(app, pilot, lambda: census_names(app) == ["NGUYEN, Minh"])
            await pilot.press("escape")
            await type_text(app, pilot, "zzzz")
            await settle(app, pilot, lambda: screen.shown == [])
            assert "no patient matches" in text_of(screen.query_one("#census-title"))
    run(go())


def test_sort_cycles_and_starts_from_the_first_row(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("down", "down")
            assert app.screen.current_patient() == "p3"
            await pilot.press("f2")  # by name
            await pilot.pause()
            assert census_names(app)[0] == "GARCÍA, Lucía"
            # another order is read from its top: the cursor on its first row
            assert app.screen.current_patient() == app.screen.shown[0].patient_id
            assert "sorted by name" in text_of(app.screen.query_one("#census-title"))
    run(go())


def test_open_chart_shows_header_with_allergies_and_logs(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            header = text_of(app.screen.query_one("#patient-header"))
            assert "SMITH, John" in header and "ALLERGIES: Penicillin (hives)" in header
            assert "NAME ALERT: SMITH, Jon" in header and "Full code" in header
            assert "71.2 kg" in header and "4W-401-A" in header
            await pilot.press("escape")
            await pilot.press("down", "down", "enter")  # OKAFOR: no allergy information
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            header = text_of(app.screen.query_one("#patient-header"))
            assert "No allergy information" in header and "Code: not recorded" in header
            await pilot.press("escape", "up", "enter")  # SMITH, Jon: NKA
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            assert "No known allergies" in text_of(app.screen.query_one("#patient-header"))
    run(go())
    opened = [e["patient_id"] for e in site.entries() if e["action"] == "chart-open"]
    assert opened == ["p1", "p3", "p2"]


def test_a_chart_open_the_audit_log_cannot_take_says_so(tmp_path):
    from snapshots.audit import AuditLog

    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            said = []
            notify = app.notify
            app.notify = lambda message, **kw: (said.append(message), notify(message, **kw))
            app.workstation.audit_log = AuditLog(site.audit / "under-a-file.log")  # cannot be
            # created
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            assert any("AUDIT LOG NOT WRITTEN" in m for m in said), said
    run(go())
    assert site.actions() == ["unlock"]


def test_tabs_show_meds_vitals_problems_notes_documents(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            screen = app.screen
            tabs = screen.query_one("#tabs", TabbedContent)
            assert "Metoprolol" in text_of(screen.query_one("#summary-text"))
            await pilot.press("2")
            assert tabs.active == "meds"
            meds = screen.query_one("#meds-table", DataTable)
            assert meds.row_count == 3
            cells = [" ".join(str(c) for c in meds.get_row_at(i)) for i in range(3)]
            assert "21:00" in cells[0] and "09:05" in cells[0]  # next due, last given
            assert any("ON HOLD" in c for c in cells) and any("PRN" in c for c in cells)
            await pilot.press("3")
            assert tabs.active == "obs"
            vitals = screen.query_one("#vitals-table", DataTable)
            rows = [[str(c) for c in vitals.get_row_at(i)] for i in range(vitals.row_count)]
            # in the order vital signs are read out; a systolic without its diastolic says so
            assert [r[0] for r in rows] == ["Systolic BP", "HR", "Weight"]
            hr = rows[1]
            assert hr[1] == "70 /min" and set(hr[4]) <= set("▁▂▃▄▅▆▇█")
            assert rows[0][1] == "150 mmHg"  # UCUM's mm[Hg] as clinicians write it
            labs = [str(c) for c in screen.query_one("#labs-table", DataTable).get_row_at(0)]
            assert labs[0] == "K" and "H" in labs[2]
            await pilot.press("4")
            assert tabs.active == "problems"
            assert "pneumonia" in str(screen.query_one("#problems-table",
                                                       DataTable).get_row_at(0)[0])
            await pilot.press("5")
            assert tabs.active == "notes"
            assert screen.query_one("#notes-table", DataTable).row_count == 2
            assert "Afebrile overnight" in text_of(screen.query_one("#note-text"))
            await pilot.press("6")
            assert tabs.active == "docs"
    run(go())


def _row_keys(table: DataTable) -> list[str]:
    return [str(key.value) for key in table.rows]


def test_a_tab_never_shows_the_previous_patients_rows(tmp_path, monkeypatch):
    """Tabs other than the summary are filled after the chart is on screen (or when shown):
    shown through the tab bar before that, a tab is filled for this patient at once."""
    from downtime.tui.screens import chart as chart_screen

    monkeypatch.setattr(chart_screen, "FILL_REST_AFTER", 600)  # only showing a tab fills it
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")  # SMITH, John (p1)
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            chart = app.screen
            meds = chart.query_one("#meds-table", DataTable)
            await pilot.press("2", "5")
            assert sorted(_row_keys(meds)) == ["mo-p1-1", "mo-p1-2", "mo-p1-3"]
            await pilot.press("escape", "down", "enter")  # SMITH, Jon (p2)
            await settle(app, pilot, lambda: app.screen is chart and chart.loads == 1)
            assert chart.query_one("#tabs", TabbedContent).active == "summary"
            assert "mo-p1-1" in _row_keys(meds)  # hidden, not yet filled
            chart.query_one("#tabs", TabbedContent).active = "meds"  # as the tab bar does
            assert sorted(_row_keys(meds)) == ["mo-p2-1", "mo-p2-2", "mo-p2-3"]  # no repaint yet
            chart.query_one("#tabs", TabbedContent).active = "notes"
            notes = _row_keys(chart.query_one("#notes-table", DataTable))
            assert notes and all("p2" in key for key in notes)
            await pilot.pause()
            assert "SMITH, Jon" in text_of(chart.query_one("#patient-header"))
    run(go())


def test_the_other_tabs_are_filled_soon_after_the_chart_is_shown(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter", "2")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            chart = app.screen
            await pilot.press("escape", "down", "enter")
            await settle(app, pilot, lambda: app.screen is chart and chart.loads == 1)
            meds = chart.query_one("#meds-table", DataTable)
            await settle(app, pilot, lambda: "mo-p2-1" in _row_keys(meds), tries=200)
    run(go())


def test_a_new_theme_restyles_the_reused_chart_screen(tmp_path):
    """The chart screen skips Textual's restyle on each push; not after the stylesheet
    changed."""
    from downtime.tui.widgets import KeysBar

    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            chart = app.screen
            dark = chart.query_one(KeysBar).rich_style.bgcolor
            await pilot.press("escape")
            app.theme = "textual-light"
            await pilot.pause()
            light = app.screen.query_one(KeysBar).rich_style.bgcolor
            assert light != dark
            await pilot.press("enter")
            await settle(app, pilot, lambda: app.screen is chart and chart.loads == 1)
            assert chart.query_one(KeysBar).rich_style.bgcolor == light
    run(go())


def test_restricted_medication_order_is_masked_but_its_due_time_stays(tmp_path):
    site = make_site(tmp_path)
    conn = stable_db()
    conn.execute("UPDATE med_orders SET restricted = 1 WHERE id = 'mo-p3-1'")
    conn.commit()
    sealed_snapshot(site.store, site.keys, conn, sequence=2)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("down", "down", "enter")  # OKAFOR, Grace
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            chart = app.screen
            summary = text_of(chart.query_one("#summary-text"))
            assert "1 restricted record(s) hidden" in summary and "Metoprolol" not in summary
            await pilot.press("2")
            meds = chart.query_one("#meds-table", DataTable)
            cells = [[str(c) for c in meds.get_row_at(i)] for i in range(meds.row_count)]
            masked_rows = [c for c in cells if "restricted" in c[0]]
            assert len(masked_rows) == 1 and "Metoprolol" not in " ".join(sum(cells, []))
            assert masked_rows[0][2] not in ("", "—")  # when the dose is due is still shown
            await pilot.press("b")
            await pilot.pause()
            await type_text(app, pilot, "treating nurse, medication round")
            await pilot.press("enter")
            await settle(app, pilot, lambda: app.screen is chart and chart.unlocked)
            cells = [str(meds.get_row_at(i)[0]) for i in range(meds.row_count)]
            assert any("Metoprolol" in c for c in cells)
    run(go())


def test_restricted_note_is_masked_until_break_glass_with_a_reason(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            chart = app.screen
            assert "1 restricted record(s) hidden" in text_of(chart.query_one("#summary-text"))
            await pilot.press("5")
            notes = chart.query_one("#notes-table", DataTable)
            titles = [str(notes.get_row_at(i)[1]) for i in range(notes.row_count)]
            assert "Psychiatry consult" not in " ".join(titles)
            assert any("restricted" in t for t in titles)
            notes.move_cursor(row=1)
            await pilot.pause()
            assert "is restricted" in text_of(chart.query_one("#note-text"))
            await pilot.press("b")
            await pilot.pause()
            assert isinstance(app.screen, BreakGlassScreen)
            await type_text(app, pilot, "why")
            await pilot.press("enter")  # too short: asked again
            await pilot.pause()
            assert isinstance(app.screen, BreakGlassScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is chart and not chart.unlocked
            await pilot.press("b")
            await pilot.pause()
            await type_text(app, pilot, "acute agitation, need psych history")
            await pilot.press("enter")
            await settle(app, pilot, lambda: app.screen is chart)
            assert chart.unlocked
            titles = [str(notes.get_row_at(i)[1]) for i in range(notes.row_count)]
            assert "Psychiatry consult" in titles
            notes.move_cursor(row=1)
            await pilot.pause()
            assert "behavioural health" in text_of(chart.query_one("#note-text"))
    run(go())
    glass = [e for e in site.entries() if e["action"] == "break-glass"]
    assert len(glass) == 1 and glass[0]["patient_id"] == "p1"
    assert glass[0]["detail"] == "acute agitation, need psych history"
    assert "behavioural" not in site.audit.read_text()  # no clinical content in the log


def test_auto_lock_after_idle_closes_everything(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app(idle_lock_minutes=5)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen))
            site.clock.advance(minutes=4)
            app.check_idle_lock()
            assert isinstance(app.screen, ChartScreen)
            await pilot.press("2")  # activity resets the idle time
            site.clock.advance(minutes=4)
            app.check_idle_lock()
            assert isinstance(app.screen, ChartScreen)
            site.clock.advance(minutes=2)
            app.check_idle_lock()
            await pilot.pause()
            assert isinstance(app.screen, UnlockScreen)
            assert app.session is None
            assert "Locked" in text_of(app.screen.query_one("#unlock-message"))
            assert app.screen.query_one("#user").value == "badge 4411"  # kept for going on
            assert app.focused.id == "passphrase"
            await unlock(app, pilot, user="")
            assert app.session is not None and app.session.user == "badge 4411"
    run(go())
    assert site.actions() == ["unlock", "chart-open", "lock", "unlock"]
    assert site.entries()[2]["detail"] == "idle 6 min"


def test_ctrl_l_locks(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert isinstance(app.screen, UnlockScreen) and app.session is None
    run(go())
    assert site.actions() == ["unlock", "lock"]


def test_newer_snapshot_is_offered_and_keeps_the_patient(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("down", "enter")  # SMITH, Jon
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            chart = app.screen
            app.check_store()
            await settle(app, pilot)
            assert app.screen is chart  # nothing newer yet
            conn = stable_db()
            conn.execute("UPDATE med_orders SET status = 'stopped' WHERE id = 'mo-p2-1'")
            conn.commit()
            sealed_snapshot(site.store, site.keys, conn, sequence=2,
                            as_of=AS_OF + timedelta(minutes=10))
            app.check_store()
            await settle(app, pilot, lambda: isinstance(app.screen, SwitchScreen))
            offered = " ".join(text_of(w) for w in app.screen.query("#dialog Static"))
            assert "unit:4W #2" in offered and "NEWER DATA" in offered
            await pilot.press("f5")
            await settle(app, pilot, lambda: app.screen is chart and chart.loads == 2)
            assert chart.patient_id == "p2"
            assert app.session.label == "unit:4W #2"
            assert chart.query_one("#meds-table", DataTable).row_count == 2
            assert "2 min old" in text_of(chart.query_one("#age"))
            app.check_store()  # the same snapshot is not offered twice
            await settle(app, pilot)
            assert app.screen is chart
    run(go())
    switch = [e for e in site.entries() if e["action"] == "snapshot-switch"]
    assert switch and switch[0]["detail"] == "unit:4W #1 -> unit:4W #2"


def test_typing_cannot_decline_a_switch_and_a_declined_one_stays_on_screen(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            sealed_snapshot(site.store, site.keys, stable_db(), sequence=3)
            app.check_store()
            await settle(app, pilot, lambda: isinstance(app.screen, SwitchScreen))
            await pilot.press("n", "g", "u", "y")  # a nurse typing a name into the filter
            await pilot.pause()
            assert isinstance(app.screen, SwitchScreen)
            await pilot.press("escape")
            await pilot.pause()
            census = app.screen
            assert isinstance(census, CensusScreen)
            assert app.session.label == "unit:4W #1"
            assert "NEWER DATA AVAILABLE" in text_of(census.query_one("#age"))
            app.check_store()  # not offered again...
            await settle(app, pilot)
            assert app.screen is census
            await pilot.press(*"smith")  # ...but F5 switches any time, and the filter holds
            await settle(app, pilot, lambda: census.matches is not None)
            await pilot.press("f5")
            await settle(app, pilot, lambda: app.session.label == "unit:4W #3"
                         and census.matches is not None and len(census.shown) == 2)
            assert "NEWER DATA" not in text_of(census.query_one("#age"))
            assert {r.name for r in census.shown} == {"SMITH, John", "SMITH, Jon"}
    run(go())
    assert site.actions().count("snapshot-switch") == 1


def test_a_damaged_newest_snapshot_falls_back_to_the_newest_good_one(tmp_path):
    site = make_site(tmp_path)
    damaged = sealed_snapshot(site.store, site.keys, stable_db(), sequence=2)
    data = bytearray(damaged.read_bytes())
    data[-200] ^= 1
    damaged.write_bytes(bytes(data))

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            assert app.session.label == "unit:4W #1"
            assert "UNREADABLE" in text_of(app.screen.query_one("#age"))
            app.check_store()  # the damaged one is not offered as newer data
            await settle(app, pilot)
            assert isinstance(app.screen, CensusScreen)
    run(go())
    fallback = [e for e in site.entries() if e["action"] == "snapshot-fallback"]
    assert fallback and "unit-4W-000002" in fallback[0]["detail"]


def test_the_locked_screen_shows_the_age_of_what_opens_not_of_a_damaged_newest(tmp_path):
    """The newest snapshot is fresher but damaged: unlocking opens the older one, so that is
    the age every screen shows, the locked screen before and after the unlock too."""
    from datetime import timedelta

    site = make_site(tmp_path)  # sequence 1, data as of AS_OF (12 min old on the clock)
    damaged = sealed_snapshot(site.store, site.keys, stable_db(), sequence=2,
                              as_of=AS_OF + timedelta(minutes=10))
    data = bytearray(damaged.read_bytes())
    data[-200] ^= 1  # the payload: the manifest (and its time) still reads as fresh
    damaged.write_bytes(bytes(data))

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot, lambda: "12 min old" in text_of(app.screen.query_one(
                "#age")))
            assert "— 2 min old" not in text_of(app.screen.query_one("#age"))
            await unlock(app, pilot)
            assert "12 min old" in text_of(app.screen.query_one("#age"))
            await pilot.press("ctrl+l")
            await settle(app, pilot, lambda: app.session is None)
            assert "12 min old" in text_of(app.screen.query_one("#age"))
    run(go())


def test_quitting_while_unlocked_is_logged_as_a_lock(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("ctrl+q")
            await pilot.pause()
    run(go())
    assert site.actions()[-1] == "lock"
    assert site.entries()[-1]["detail"] == "quit"


def test_pharmacy_sees_every_unit_and_a_unit_only_its_own(tmp_path):
    site = make_site(tmp_path)
    seal_house(site.store, site.keys, sequence=5)

    async def go(identity, expect_units, expect_count):
        app = site.app(identity=identity)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            assert app.session.units == expect_units
            assert len(app.screen.shown) == expect_count
            if len(expect_units) > 1:
                await pilot.press("f3")  # first unit only
                await pilot.pause()
                assert {r.unit for r in app.screen.shown} == {expect_units[0]}
                assert f"Census — {expect_units[0]}" in text_of(
                    app.screen.query_one("#census-title"))
                await type_text(app, pilot, "zhang")
                await settle(app, pilot)
                await pilot.press("f3", "f3")  # all units again, still filtered
                await settle(app, pilot, lambda: census_names(app) == ["ZHANG, Wei"])

    run(go(site.keys.pharmacy, ["4W", "ICU"], 6))
    run(go(site.keys.unit, ["4W"], 5))


def test_data_age_turns_into_a_warning_past_the_threshold(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app(stale_minutes=30)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            bar = app.screen.query_one("#age", Static)
            assert not bar.has_class("stale")
            site.clock.advance(minutes=40)
            app.refresh_ages()
            await pilot.pause()
            assert bar.has_class("stale")
            assert "STALE" in text_of(bar) and "52 min old" in text_of(bar)
    run(go())


def test_a_workstation_clock_behind_the_snapshot_is_a_warning_not_an_age(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app(stale_minutes=30)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            bar = app.screen.query_one("#age", Static)
            site.clock.advance(hours=-3)  # the clock set back: the data is "from the future"
            app.refresh_ages()
            await pilot.pause()
            assert bar.has_class("stale")
            assert "CHECK THE CLOCK" in text_of(bar) and "tell IT" in text_of(bar)
            assert " old" not in text_of(bar) and text_of(bar).index("tell IT") < 73  # in view
    run(go())


def test_unlock_with_no_snapshot_for_this_identity_says_so(tmp_path):
    from tests.factory import Keys

    (tmp_path / "ward.4W").mkdir()
    site = make_site(tmp_path / "ward.4W")
    stranger = Keys().unit

    async def go():
        app = site.app(identity=stranger)
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock_attempt(app, pilot)
            await settle(app, pilot, lambda: "Cannot open" in text_of(
                app.screen.query_one("#unlock-message")))
            assert app.session is None
    run(go())
    assert site.actions() == ["unlock-failed"]
    # the whole reason in the log, not cut at the first dot (here of the folder's name)
    detail = site.entries()[0]["detail"]
    assert detail.startswith("Cannot open: no snapshot in ") and "ward.4W" in detail
    assert detail.endswith("is encrypted to ws-4W-1"), detail
    assert iso(AS_OF)  # the factory's time is what the store holds


def test_names_with_brackets_are_shown_as_typed_not_as_markup(tmp_path):
    from tests.factory import Keys, add_patient

    keys = Keys()
    conn = stable_db()
    add_patient(conn, "q1", "DOE, [b]Baby[/b] Girl", "4W-499-A", mrn="MRN0000999")
    conn.commit()
    site = make_site(tmp_path, keys)
    sealed_snapshot(site.store, keys, conn, sequence=2)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            table = app.screen.query_one("#census", RowTable)
            names = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
            assert "DOE, [b]Baby[/b] Girl" in names  # whole: the name comes first
            assert any("DOE, [b]Baby[/b] Girl" in line for line in drawn_census(app))
    run(go())


def test_a_list_longer_than_the_screen_is_listed_whole_and_scrolls_with_the_cursor(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 10)) as pilot:  # room for the header and 2 rows
            await unlock(app, pilot)
            assert app.screen.query_one("#census", RowTable).row_count == 5
            assert "5 of 5 patients" in text_of(app.screen.query_one("#census-title"))
            drawn = drawn_census(app)
            assert len(drawn) == 3 and "SMITH, John" in drawn[1]
            await pilot.press("pagedown")  # past the end: the last row
            await pilot.pause()
            assert app.screen.current_patient() == "p5"
            drawn = drawn_census(app)
            assert "NGUYEN, Minh" in drawn[1] and "GARCÍA, Lucía" in drawn[2]
            await pilot.press("pageup", "down")
            await pilot.pause()
            assert app.screen.current_patient() == "p2"
            assert "SMITH, John" in drawn_census(app)[1]
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            assert app.screen.patient_id == "p2"
    run(go())


def test_locking_while_a_search_runs_drops_its_result_quietly(tmp_path, monkeypatch):
    import time

    from downtime.tui.session import Session

    site = make_site(tmp_path)
    original = Session.search

    def slow_search(self, text):
        time.sleep(0.3)
        return original(self, text)

    monkeypatch.setattr(Session, "search", slow_search)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            await type_text(app, pilot, "smi")
            app.lock("by user")
            await pilot.pause(0.5)  # the search thread finishes after the lock
            await settle(app, pilot)
            assert isinstance(app.screen, UnlockScreen) and app.session is None
            await unlock(app, pilot, user="")
            assert len(app.screen.shown) == 5
    run(go())
    assert site.actions() == ["unlock", "lock", "unlock"]


@pytest.mark.parametrize("site_value,expected", [(None, "120"), ("30", "30")])
def test_browse_repaints_at_up_to_120_frames_unless_the_site_says_otherwise(site_value,
                                                                            expected):
    """Textual waits for the next frame to show a change: at its default 60 a keystroke's
    result waits up to 17 ms a frame. The app raises the ceiling before Textual loads."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    if site_value:
        env["TEXTUAL_FPS"] = site_value
    code = ("import downtime.cli.browse, downtime.tui.app; from textual import constants; "
            "print(constants.MAX_FPS)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, check=True).stdout.strip()
    assert out == expected
