"""The drill's live view, driven with Textual's pilot: the steps and their timers, a gate
signed on screen (and the line stopped, then resumed), the criteria, and the run's end."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Input, RichLog

from downtime.drills.script import parse_script
from downtime.tui.screens.drill import DrillApp, GateScreen
from tests.drill_helpers import TEXT, actions


async def until(pilot, test, tries: int = 200) -> None:
    for _ in range(tries):
        if test():
            return
        await pilot.pause(0.05)
    raise AssertionError("the view never got there")


def gate_shown(app) -> bool:
    """The gate is on screen and laid out (a click before that lands nowhere)."""
    return isinstance(app.screen, GateScreen) and bool(app.screen.query("#abort")) and \
        app.screen.query_one("#abort").region.width > 0


def cell(app, key: str, column: str) -> str:
    return str(app.query_one("#steps", DataTable).get_cell(key, column))


def log_text(app) -> str:
    return "\n".join(line.text for line in app.query_one("#events", RichLog).lines)


def test_the_live_view_signs_a_gate_on_screen(tmp_path):
    s = parse_script(TEXT, tmp_path / "d.toml", actions())
    app = DrillApp(s, tmp_path / "run", actions(), timers=False)

    async def go():
        async with app.run_test(size=(110, 32)) as pilot:
            await until(pilot, lambda: gate_shown(app))
            assert cell(app, "main:write", "mark") == "✓"
            assert cell(app, "main:sign", "mark") == "▶"
            assert "corrupt-file" in cell(app, "main:inbox", "action")
            assert "GATE WAITING: CMIO" in str(app.query_one("#status").render())
            await pilot.click("#approve")  # without a name: not taken
            await pilot.pause(0.1)
            assert isinstance(app.screen, GateScreen)
            app.screen.query_one("#name", Input).value = "Dr. Ana Ruiz"
            await pilot.click("#stop")
            await until(pilot, lambda: gate_shown(app) and app.screen.request.paused)
            app.screen.query_one("#name", Input).value = "Dr. Ana Ruiz"
            await pilot.click("#approve")
            await until(pilot, lambda: app.done.is_set() and "press q" in log_text(app))
            assert cell(app, "main:live", "mark") == "✓"
            assert "fault corrupt-file at inbox: handled" in log_text(app)
            assert "gate sign: approved by Dr. Ana Ruiz (CMIO)" in log_text(app)
            criteria = app.query_one("#criteria", DataTable)
            assert str(criteria.get_row_at(0)[0]) == "overrun"
            await pilot.press("q")

    asyncio.run(go())
    r = app.result
    assert (r.exit_status, r.decision) == (0, "go live")
    assert r.gates[0].name == "Dr. Ana Ruiz" and r.gates[0].paused_seconds > 0


def test_abort_on_screen_takes_the_rollback_path(tmp_path):
    s = parse_script(TEXT, tmp_path / "d.toml", actions())
    app = DrillApp(s, tmp_path / "run", actions(), timers=False)

    async def go():
        async with app.run_test(size=(110, 32)) as pilot:
            await until(pilot, lambda: gate_shown(app))
            app.screen.query_one("#name", Input).value = "Dr. B"
            await pilot.click("#abort")
            await until(pilot, app.done.is_set)
            await until(pilot, lambda: "main:live" in app.query_one("#steps", DataTable).rows
                        and cell(app, "main:live", "mark") == "–"
                        and "back:undo" in app.query_one("#steps", DataTable).rows)
            assert cell(app, "back:undo", "mark") == "✓"
            await pilot.press("q")

    asyncio.run(go())
    assert app.result.exit_status == 1 and app.result.path_taken == "back"


def test_closing_the_view_at_a_gate_stops_the_drill(tmp_path):
    s = parse_script(TEXT, tmp_path / "d.toml", actions())
    app = DrillApp(s, tmp_path / "run", actions(), timers=False)

    async def go():
        async with app.run_test(size=(110, 32)) as pilot:
            await until(pilot, lambda: gate_shown(app))
            # the test leaves with the gate open, as ctrl+q would

    asyncio.run(go())
    assert app.done.wait(10)
    assert app.result.exit_status == 1 and "(the drill's view was closed)" in app.result.why
