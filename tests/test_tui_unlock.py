"""Pilot tests of the unlock screen and what it writes: the passphrase, typed in the name
field or in its own, never reaches the audit log, its FHIR export, a worker's description, a
notification or a crash report; after a lock, going on is typing the passphrase; who tried
and who unlocked are still logged."""

from __future__ import annotations

import asyncio

import pytest

from downtime.tui.screens.census import CensusScreen
from downtime.tui.screens.unlock import (
    NOT_CHECKED,
    NOT_RECORDED,
    SAME_AS_PASSPHRASE,
    UnlockScreen,
)
from snapshots.audit import export_fhir, verify
from tests.tui_helpers import PASSPHRASE, RecordingKdf, make_site, settle, unlock

pytestmark = pytest.mark.usefixtures("utc")


def run(coro) -> None:
    asyncio.run(coro)


def message(app) -> str:
    return str(app.screen.query_one("#unlock-message").render())


def field(app, name: str) -> str:
    return app.screen.query_one(f"#{name}").value


def logged(site) -> list[tuple[str, str]]:
    return [(e["action"], e["user"]) for e in site.entries()]


def assert_not_in_log_or_export(site, secret: str, tmp_path) -> None:
    assert secret not in site.audit.read_text()
    bundle = tmp_path / "audit-bundle.json"
    result = export_fhir(site.audit, bundle)
    assert result.count == len(site.entries()) and not result.damaged
    assert secret not in bundle.read_text()
    assert verify(site.audit).ok


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


@pytest.mark.parametrize("after_lock", [False, True], ids=["first-unlock", "after-lock"])
def test_the_passphrase_typed_in_the_name_field_never_reaches_the_log(tmp_path, after_lock):
    site = make_site(tmp_path)
    kdf = RecordingKdf(site.keys.unit)

    async def go():
        app = site.app(kdf=kdf)
        async with app.run_test(size=(80, 24)) as pilot:
            if after_lock:
                await unlock(app, pilot, user="badge 4411")
                await lock(app, pilot, "ctrl+l", site)
                await pilot.press("shift+tab")  # the name selected: typing replaces it
            assert app.focused.id == "user"
            await pilot.press(*PASSPHRASE, "tab", *"x", "enter")
            await settle(app, pilot, lambda: "unlock-failed" in site.actions())
            assert_not_in_log_or_export(site, PASSPHRASE, tmp_path)
            assert "typed in the name field" in message(app) and app.session is None
            assert field(app, "user") == "" and field(app, "passphrase") == ""  # not in clear
            assert app.focused.id == "user"
            await pilot.press(*"RN Okoye", "tab", *PASSPHRASE, "enter")
            await to_census(app, pilot)
    run(go())
    failed = [(e["user"], e["detail"]) for e in site.entries() if e["action"] == "unlock-failed"]
    assert failed == [(NOT_RECORDED, "Wrong passphrase")]  # the attempt and when, not the text
    assert logged(site)[-1] == ("unlock", "RN Okoye")
    assert_not_in_log_or_export(site, PASSPHRASE, tmp_path)
    assert kdf.tried[-3:-1] == ["x", PASSPHRASE] and not kdf.on_event_loop()


def test_the_passphrase_in_both_fields_is_refused_and_not_logged(tmp_path):
    site = make_site(tmp_path)
    kdf = RecordingKdf(site.keys.unit)

    async def go():
        app = site.app(kdf=kdf)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*PASSPHRASE, "tab", *PASSPHRASE, "enter")
            await settle(app, pilot, lambda: "Not tried" in message(app))
            assert app.session is None and field(app, "user") == ""
            assert app.focused.id == "user"
    run(go())
    assert kdf.tried == []  # it would have opened a session logged under the passphrase
    assert logged(site) == [("unlock-failed", SAME_AS_PASSPHRASE)]
    assert_not_in_log_or_export(site, PASSPHRASE, tmp_path)


def test_a_mistyped_passphrase_still_logs_who_tried(tmp_path):
    site = make_site(tmp_path)
    kdf = RecordingKdf(site.keys.unit)

    async def go():
        app = site.app(kdf=kdf)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"kim", "tab", *"nope", "enter")
            await settle(app, pilot, lambda: "Wrong passphrase" in message(app))
            assert kdf.tried == ["nope", "kim"]  # the name was checked not to be the passphrase
            assert field(app, "user") == "kim" and field(app, "passphrase") == ""
            assert app.focused.id == "passphrase"
            await pilot.press(*PASSPHRASE, "enter")
            await to_census(app, pilot)
            await lock(app, pilot, "ctrl+l", site)
            kdf.tried.clear()
            await pilot.press(*"nope", "enter")
            await settle(app, pilot, lambda: "Wrong passphrase" in message(app))
            assert kdf.tried == ["nope"]  # "kim" is in the log already: one KDF, not two
    run(go())
    assert logged(site) == [("unlock-failed", "kim"), ("unlock", "kim"), ("lock", "kim"),
                            ("unlock-failed", "kim")]
    assert site.entries()[0]["detail"] == "Wrong passphrase"
    assert not kdf.on_event_loop()


def test_a_name_with_spaces_around_the_passphrase_is_caught_too(tmp_path):
    site = make_site(tmp_path)
    kdf = RecordingKdf(site.keys.unit)

    async def go():
        app = site.app(kdf=kdf)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("space", *PASSPHRASE, "space", "tab", *"x", "enter")
            await settle(app, pilot, lambda: "typed in the name field" in message(app))
    run(go())
    assert logged(site) == [("unlock-failed", NOT_RECORDED)]


def test_a_fault_in_the_kdf_is_a_message_not_a_crash_and_quotes_nothing_typed(tmp_path):
    site = make_site(tmp_path)
    secret = "s3cret typed"

    def broken_kdf(path, passphrase: str):
        raise ValueError(f"cannot use {passphrase!r}")  # a fault that quotes its input

    async def go():
        app = site.app(kdf=broken_kdf)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"kim", "tab", *secret, "enter")
            await settle(app, pilot, lambda: "unexpected ValueError" in message(app))
            assert app.session is None and app.is_running
    run(go())
    assert logged(site) == [("unlock-failed", NOT_CHECKED)]
    assert site.entries()[0]["detail"] == "Cannot open: unexpected ValueError"
    assert_not_in_log_or_export(site, secret, tmp_path)


def test_no_worker_description_or_notification_carries_the_passphrase(tmp_path):
    site = make_site(tmp_path)
    (tmp_path / "no-log").mkdir()
    site.audit = tmp_path / "no-log"  # a folder: the log cannot be written, which is notified
    seen: list[str] = []
    kdf = RecordingKdf(site.keys.unit)

    def watching_kdf(path, passphrase: str):
        seen.extend(f"{w!r} {w.description} {w.name}" for w in list(app.workers))
        return kdf(path, passphrase)

    app = site.app(kdf=watching_kdf)
    notified: list[str] = []
    notify = app.notify

    def record(text, *args, **kw):
        notified.append(str(text))
        return notify(text, *args, **kw)
    app.notify = record

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*PASSPHRASE, "tab", *"not it", "enter")
            await settle(app, pilot, lambda: "typed in the name field" in message(app))
            await pilot.press(*"kim", "tab", *PASSPHRASE, "enter")
            await to_census(app, pilot)
    run(go())
    assert seen and all(PASSPHRASE not in s and "not it" not in s for s in seen)
    assert any("AUDIT LOG NOT WRITTEN" in n for n in notified)
    assert all(PASSPHRASE not in n and "not it" not in n for n in notified)


def test_a_crash_report_prints_no_local_variables(tmp_path, monkeypatch, capfd):
    site = make_site(tmp_path)
    secret = "-".join(["s3cret", "typed"])  # not as such in this source, which the report quotes

    def broken_message(self, text, error=False):
        raise RuntimeError("a fault while the passphrase is in a local variable")

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"kim", "tab", *secret)
            monkeypatch.setattr(UnlockScreen, "message", broken_message)
            await pilot.press("enter")
            await pilot.pause()
    with pytest.raises(RuntimeError, match="a fault"):
        run(go())
    report = capfd.readouterr().err
    assert "RuntimeError" in report and "in submit" in report  # the report is still there
    assert secret not in report


def test_enter_pressed_twice_unlocks_once(tmp_path):
    import threading

    site = make_site(tmp_path)
    kdf = RecordingKdf(site.keys.unit)
    go_on = threading.Event()

    def slow_kdf(path, passphrase: str):
        go_on.wait(5)
        return kdf(path, passphrase)

    async def go():
        app = site.app(kdf=slow_kdf)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*"kim", "tab", *PASSPHRASE, "enter", "enter")
            go_on.set()
            await to_census(app, pilot)
            await settle(app, pilot)
    run(go())
    assert kdf.tried == [PASSPHRASE]
    assert logged(site) == [("unlock", "kim")]


@pytest.mark.parametrize("between", ["tab", "enter"])
def test_a_burst_of_keys_lands_the_passphrase_in_its_own_field(tmp_path, between):
    """"name<Tab>passphrase<Enter>" arriving at once (a badge scanner, an auto-typing tool):
    Textual queues each key to the field focused when it arrives, so the passphrase used to
    be typed in clear into the name field. It goes into the passphrase field and unlocks."""
    from textual import events

    site = make_site(tmp_path)

    def burst(app, keys):
        for key in keys:
            char = {"tab": "\t", "enter": "\r"}.get(key, key)
            event = events.Key("space" if key == " " else key, char)
            event.set_sender(app)
            app._driver.send_message(event)  # as the terminal driver does, without waiting

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            burst(app, [*"RN Burst", between, *PASSPHRASE, "enter"])
            await settle(app, pilot, lambda: isinstance(app.screen, CensusScreen))
            assert app.session.user == "RN Burst"
    run(go())
    assert logged(site) == [("unlock", "RN Burst")]
    assert PASSPHRASE not in site.audit.read_text()


@pytest.mark.parametrize("where", ["name", "passphrase"])
def test_a_page_scanned_at_the_unlock_screen_is_not_kept_tried_or_logged(tmp_path, where):
    # the clerk's scanner types the page's QR (it names the patient) and Enter
    site = make_site(tmp_path)
    kdf = RecordingKdf(site.keys.unit)
    code = "DTF2|DT-7K2M9XQ4PL|mar|pat-000123|enc-000123|1|2"

    async def go():
        app = site.app(kdf=kdf)
        async with app.run_test(size=(80, 24)) as pilot:
            if where == "passphrase":
                await pilot.press(*"kim", "tab")
            await pilot.press(*code, "enter")
            await settle(app, pilot, lambda: "scanned before unlocking" in message(app))
            assert field(app, "user") == "" and field(app, "passphrase") == ""
            assert app.focused.id == "user" and app.session is None
            await pilot.press(*"kim", "tab", *PASSPHRASE, "enter")
            await to_census(app, pilot)
    run(go())
    assert not any("pat-000123" in tried for tried in kdf.tried)
    assert logged(site) == [("unlock", "kim")]
    assert_not_in_log_or_export(site, "pat-000123", tmp_path)
