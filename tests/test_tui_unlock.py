"""Pilot tests of the unlock screen: after a lock, going on is typing the passphrase."""

from __future__ import annotations

import asyncio

import pytest

from downtime.tui.screens.census import CensusScreen
from downtime.tui.screens.unlock import UnlockScreen
from tests.tui_helpers import PASSPHRASE, make_site, settle, unlock, use_utc


@pytest.fixture(autouse=True)
def _utc():
    use_utc()


def run(coro) -> None:
    asyncio.run(coro)


def message(app) -> str:
    return str(app.screen.query_one("#unlock-message").render())


def field(app, name: str) -> str:
    return app.screen.query_one(f"#{name}").value


def logged(site) -> list[tuple[str, str]]:
    return [(e["action"], e["user"]) for e in site.entries()]


async def lock(app, pilot, how: str, site) -> None:
    if how == "ctrl+l":
        await pilot.press("ctrl+l")
    else:
        site.clock.advance(minutes=6)
        app.check_idle_lock()
    await pilot.pause()
    assert isinstance(app.screen, UnlockScreen) and app.session is None


async def to_census(app, pilot) -> None:
    await settle(app, pilot, lambda: isinstance(app.screen, CensusScreen))


@pytest.mark.parametrize("how", ["ctrl+l", "idle"])
def test_after_a_lock_the_name_is_kept_and_the_passphrase_field_has_the_focus(tmp_path, how):
    site = make_site(tmp_path)

    async def go():
        app = site.app(idle_lock_minutes=5)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.focused.id == "user"  # the first unlock: nobody to go on as yet
            await unlock(app, pilot, user="badge 4411")
            await lock(app, pilot, how, site)
            assert app.focused.id == "passphrase"
            assert field(app, "user") == "badge 4411" and field(app, "passphrase") == ""
            assert "go on as badge 4411" in message(app) and "Shift+Tab" in message(app)
            await pilot.press(*PASSPHRASE, "enter")  # typed at once: into the hidden field
            await to_census(app, pilot)
            assert app.session.user == "badge 4411"
    run(go())
    assert logged(site) == [("unlock", "badge 4411"), ("lock", "badge 4411"),
                            ("unlock", "badge 4411")]


def test_someone_else_after_a_lock_goes_back_and_types_over_the_name(tmp_path):
    site = make_site(tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot, user="badge 4411")
            await lock(app, pilot, "ctrl+l", site)
            await pilot.press("shift+tab", *"RN Okoye", "tab", *PASSPHRASE, "enter")
            await to_census(app, pilot)
    run(go())
    assert logged(site)[-1] == ("unlock", "RN Okoye")
