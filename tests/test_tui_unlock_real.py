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
from tests.tui_helpers import app_config, settle, stable_db, use_utc, write_pub


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
        app = make_app(app_config(store, tmp / "ws-4W-1.age",
                                  write_pub(keys, tmp / "builder.pub"), tmp / "audit.log"),
                       timers=False)
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


def test_the_kdf_runs_in_a_child_process_not_the_app(real_site, monkeypatch):
    """pyrage holds the GIL through scrypt: in the app's process it would freeze the screen.
    With decryption made impossible here, the identity still opens (in the child)."""
    import pyrage

    from snapshots.identity_process import load_identity_in_child
    from snapshots.keys import KeyFileError, WrongPassphrase

    tmp, keys, _ = real_site

    def not_here(*_):
        raise AssertionError("the KDF ran in the app's own process")

    monkeypatch.setattr(pyrage.passphrase, "decrypt", not_here)
    identity = load_identity_in_child(tmp / "ws-4W-1.age", "night shift 2026")
    assert identity.recipient == keys.unit.recipient and identity.name == "ws-4W-1"
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        load_identity_in_child(tmp / "ws-4W-1.age", "night shift 2025")
    with pytest.raises(KeyFileError, match="not a passphrase-protected"):
        load_identity_in_child(tmp / "ws-4W-1.age.pub", "x")
    app = make_app(app_config(tmp / "store", tmp / "ws-4W-1.age",
                              write_pub(keys, tmp / "builder.pub"), tmp / "audit2.log"),
                   timers=False)
    assert app.workstation.kdf is load_identity_in_child
