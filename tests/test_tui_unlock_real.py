"""Unlock with a real passphrase-protected identity file and the real scrypt KDF."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from downtime.tui.app import make_app
from downtime.tui.screens.census import CensusScreen
from downtime.tui.screens.unlock import UnlockScreen
from snapshots.keys import create_identity
from tests.factory import Keys, sealed_snapshot
from tests.tui_helpers import settle, stable_db, use_utc, write_pub


@pytest.fixture(scope="module")
def real_site(tmp_path_factory):
    use_utc()
    tmp = tmp_path_factory.mktemp("real")
    recipient = create_identity(tmp, "ws-4W-1", "night shift 2026")
    keys = Keys(unit=SimpleNamespace(recipient=recipient))  # sealing needs only the recipient
    store = tmp / "store"
    sealed_snapshot(store, keys, stable_db(), sequence=1)
    return tmp, keys, store


def test_real_kdf_wrong_then_right_passphrase(real_site):
    tmp, keys, store = real_site

    async def go():
        app = make_app(store=store, identity_path=tmp / "ws-4W-1.age",
                       trusted_key_path=write_pub(keys, tmp / "builder.pub"),
                       audit_log=tmp / "audit.log", timers=False)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            screen.query_one("#user").value = "RN Okoye"
            screen.query_one("#passphrase").value = "night shift 2025"
            screen.query_one("#passphrase").focus()
            await pilot.press("enter")
            await settle(app, pilot, lambda: "Wrong passphrase" in str(
                screen.query_one("#unlock-message").render()), tries=400)
            assert isinstance(app.screen, UnlockScreen)
            screen.query_one("#passphrase").value = "night shift 2026"
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, CensusScreen), tries=400)
            assert len(app.screen.shown) == 5
            assert app.session.identity.name == "ws-4W-1"
    asyncio.run(go())
    log = (tmp / "audit.log").read_text()
    assert '"unlock-failed"' in log and '"unlock"' in log and "night shift" not in log
