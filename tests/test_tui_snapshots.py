"""SVG snapshots of the main screens at 80x24 (clock and timezone fixed).

A changed screen fails the test with the path of the new SVG written next to the stored one
(`*.new.svg`) to look at; if the change is intended, re-run with DOWNTIME_UPDATE_SNAPSHOTS=1
and commit the SVGs in tests/snapshots_svg/.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from downtime.tui.screens.chart import ChartScreen
from tests.tui_helpers import make_site, settle, type_text, unlock, use_utc

STORED = Path(__file__).parent / "snapshots_svg"
UPDATE = os.environ.get("DOWNTIME_UPDATE_SNAPSHOTS") == "1"


def _normal(svg: str) -> str:
    # Textual names CSS classes after a hash of the content; keep the comparison about pixels
    return re.sub(r"terminal-\d+", "terminal", svg)


def _check(name: str, svg: str) -> None:
    stored = STORED / f"{name}.svg"
    if UPDATE:
        STORED.mkdir(exist_ok=True)
        stored.write_text(svg)
        return
    assert stored.exists(), f"no stored snapshot {stored}; run with DOWNTIME_UPDATE_SNAPSHOTS=1"
    if _normal(stored.read_text()) != _normal(svg):
        new = stored.with_suffix(".new.svg")
        new.write_text(svg)
        pytest.fail(f"screen {name} changed: compare {stored} with {new}")


async def _shot(app, pilot) -> str:
    """The screen with the input cursors shown steadily: a blinking one is caught on or off
    depending on how busy the machine is."""
    from textual.widgets import Input

    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()
    return app.export_screenshot()


async def _screens(site) -> dict[str, str]:
    shots = {}
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shots["unlock"] = await _shot(app, pilot)
        await unlock(app, pilot)
        shots["census"] = await _shot(app, pilot)
        await type_text(app, pilot, "smith")
        await settle(app, pilot, lambda: len(app.screen.shown) == 2)
        shots["census_filtered"] = await _shot(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                     and app.screen.loads == 1)
        shots["chart_summary"] = await _shot(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        shots["chart_meds"] = await _shot(app, pilot)
        await pilot.press("3")
        await pilot.pause()
        shots["chart_vitals_labs"] = await _shot(app, pilot)
        await pilot.press("b")
        await pilot.pause()
        shots["break_glass"] = await _shot(app, pilot)
        await pilot.press("escape", "ctrl+l")
        await settle(app, pilot, lambda: app.session is None)
        shots["locked"] = await _shot(app, pilot)  # the name kept, the passphrase focused
    return shots


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    use_utc()
    site = make_site(tmp_path_factory.mktemp("svg"))
    return asyncio.run(_screens(site))


@pytest.mark.parametrize("name", ["unlock", "census", "census_filtered", "chart_summary",
                                  "chart_meds", "chart_vitals_labs", "break_glass",
                                  "locked"])
def test_screen_matches_stored_svg(shots, name):
    _check(name, shots[name])


def test_snapshots_show_what_matters(shots):
    assert "Penicillin" in shots["chart_summary"] and "ALLERGIES" in shots["chart_summary"]
    assert "12&#160;min&#160;old" in shots["census"] or "12 min old" in shots["census"]
    assert "BREAK&#160;GLASS" in shots["break_glass"] or "BREAK GLASS" in shots["break_glass"]
    assert "go&#160;on&#160;as&#160;badge&#160;4411" in shots["locked"] or \
        "go on as badge 4411" in shots["locked"]
