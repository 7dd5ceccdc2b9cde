"""A worker's failure reaches the screen through one route (downtime/tui/errors.py): the
toolkit's own errors in their words, anything else by its kind only; the app keeps running."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from downtime.tui.screens.chart import ChartScreen
from snapshots.errors import ToolkitError
from tests.tui_helpers import make_site, settle, unlock, use_utc

TUI = Path(__file__).resolve().parents[1] / "downtime" / "tui"


def notices(app) -> list[str]:
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (said.append(str(message)), notify(message, **kw))
    return said


def test_a_failing_background_worker_is_a_notification_not_a_crash(tmp_path, monkeypatch):
    use_utc()
    site = make_site(tmp_path)

    def unreadable(*args, **kwargs):
        raise ToolkitError(f"{site.store}: cannot list the store (Input/output error)")

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            said = notices(app)
            monkeypatch.setattr("downtime.tui.app.choose", unreadable)
            app.check_store()
            await settle(app, pilot, lambda: said)
            assert said == [f"{site.store}: cannot list the store (Input/output error)"]
            assert app.is_running and app.session is not None
    asyncio.run(go())


def test_a_bug_in_a_worker_is_named_by_kind_never_quoted(tmp_path, monkeypatch):
    use_utc()
    site = make_site(tmp_path)

    def broken(*args, **kwargs):
        raise ValueError("SMITH, John has a strange field")

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            said = notices(app)
            monkeypatch.setattr("downtime.tui.screens.chart.read_chart", broken)
            await pilot.press("enter")
            await settle(app, pilot, lambda: said)
            assert said[0].startswith("unexpected ValueError") and "SMITH" not in said[0]
            assert app.is_running and not isinstance(app.screen, ChartScreen)
    asyncio.run(go())


def test_a_newer_snapshot_that_does_not_open_keeps_the_old_one(tmp_path, monkeypatch):
    use_utc()
    site = make_site(tmp_path)

    def damaged(*args, **kwargs):
        raise ToolkitError("unit-4W-000002.dtsnap: truncated")

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            old = app.session
            said = notices(app)
            app.newer = ["something newer"]
            monkeypatch.setattr(app.workstation, "open_session", damaged)
            app.action_switch()
            await settle(app, pilot, lambda: said)
            assert said == ["Could not open the newer snapshot: unit-4W-000002.dtsnap: "
                            "truncated"]
            assert app.session is old
    asyncio.run(go())


def test_every_worker_goes_through_the_one_route():
    """`@work` straight from Textual would end the app on a failure (its crash report): every
    worker of the TUI is started with in_thread, and every screen and the app route errors."""
    uses = {p.name: p.read_text() for p in TUI.rglob("*.py")}
    direct = [name for name, text in uses.items()
              if re.search(r"^\s*@work\b", text, re.M) and name != "errors.py"]
    assert direct == []
    threaded = [name for name, text in uses.items() if "@in_thread(" in text]
    assert set(threaded) >= {"app.py", "census.py", "chart.py", "print_dialog.py", "unlock.py"}
    for name in threaded:
        classes = re.findall(r"^class \w+\((.*)\):", uses[name], re.M)
        assert any("WorkerErrors" in bases for bases in classes), name
