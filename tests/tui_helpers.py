"""Shared setup for the TUI tests: a store with sealed factory snapshots, a fake fast KDF,
a clock the test moves, and a way to wait for workers."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from downtime.config import Config, RecipientSettings
from downtime.tui.app import make_app
from snapshots import sealed
from snapshots.keys import WrongPassphrase
from snapshots.schema import create_schema, insert_rows
from tests.factory import AS_OF, Keys, add_patient, iso, sealed_snapshot

PASSPHRASE = "correct horse"


def use_utc() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: AS_OF + timedelta(minutes=12))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


def write_pub(keys: Keys, path: Path) -> Path:
    path.write_bytes(keys.trusted.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def fake_kdf(identity):
    def kdf(path: Path, passphrase: str):
        if passphrase != PASSPHRASE:
            raise WrongPassphrase(f"{path}: wrong passphrase")
        return identity
    return kdf


@dataclass
class RecordingKdf:
    """fake_kdf that remembers what it was asked to try and on which thread: the KDF takes a
    second or more, so it must never run on the event loop (the main thread in the tests)."""

    identity: object
    tried: list[str] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)

    def __call__(self, path: Path, passphrase: str):
        import threading

        self.tried.append(passphrase)
        self.threads.append(threading.current_thread().name)
        if passphrase != PASSPHRASE:
            raise WrongPassphrase(f"{path}: wrong passphrase")
        return self.identity

    def on_event_loop(self) -> bool:
        return "MainThread" in self.threads


def stable_db():
    """Like factory.chart_db but with fixed MRNs (the factory's depend on hash seeds)."""
    import sqlite3

    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    insert_rows(conn, "units", [{"id": "unit-4W", "code": "4W", "name": "4 West",
                                 "kind": "med-surg", "src_type": "Location", "src_id": "u",
                                 "src_version": "1", "src_updated": iso(AS_OF),
                                 "src_hash": "h"}])
    add_patient(conn, "p1", "SMITH, John", "4W-401-A", allergies=["Penicillin"],
                name_alert_with="p2", restricted_note=True, mrn="MRN0000101")
    add_patient(conn, "p2", "SMITH, Jon", "4W-402-A", nka=True, name_alert_with="p1",
                code_status="DNR/DNI", mrn="MRN0000102")
    add_patient(conn, "p3", "OKAFOR, Grace", "4W-403-A", code_status=None, mrn="MRN0000103")
    add_patient(conn, "p4", "NGUYEN, Minh", "4W-404-B", allergies=["Latex", "Sulfa drugs"],
                sex="male", birth_date="2024-06-01", mrn="MRN0000104")
    add_patient(conn, "p5", "GARCÍA, Lucía", "4W-405-A", nka=True, mrn="MRN0000105")
    insert_rows(conn, "meta", [{"key": "as_of", "value": iso(AS_OF)}])
    conn.commit()
    return conn


def seal_house(store: Path, keys: Keys, sequence: int = 1, extra_unit: str = "ICU") -> Path:
    """A whole-house snapshot (4W and another unit), for pharmacy and escrow only."""
    conn = stable_db()
    add_patient(conn, "i1", "ZHANG, Wei", f"{extra_unit}-01-A", unit=extra_unit,
                allergies=["Morphine"], mrn="MRN0000201")
    conn.commit()
    out = store / f"house-{sequence:06d}{sealed.SUFFIX}"
    sealed.seal(conn, out, scope="house", sequence=sequence, as_of=iso(AS_OF),
                source="tests", counts={"patients": 6},
                recipients=[keys.pharmacy.recipient, keys.escrow.recipient],
                signing_key=keys.signing, units=["4W", extra_unit])
    return out


def app_config(store: Path, identity: Path, pub: Path, audit: Path, *,
               registry: Path | None = None, escrow: tuple[str, ...] = (),
               **thresholds) -> Config:
    """The settings tree `downtime browse` would hand make_app() for this workstation."""
    config = Config(recipients=RecipientSettings(escrow=tuple(escrow)))
    return config.with_paths(store=store, identity=identity, trusted_builder_key=pub,
                             audit_log=audit, registry=registry).with_thresholds(**thresholds)


@dataclass
class Site:
    tmp: Path
    keys: Keys
    clock: Clock
    store: Path
    pub: Path
    audit: Path

    def app(self, identity=None, kdf=None, *, registry: Path | None = None,
            escrow: tuple[str, ...] = (), **thresholds):
        ident = self.tmp / "ws.age"
        ident.write_text("placeholder: the fake KDF does not read it")
        config = app_config(self.store, ident, self.pub, self.audit, registry=registry,
                            escrow=escrow, **thresholds)
        return make_app(config, clock=self.clock,
                        passphrase_kdf=kdf or fake_kdf(identity or self.keys.unit),
                        timers=False)

    def actions(self) -> list[str]:
        import json

        if not self.audit.exists():
            return []
        return [json.loads(line)["action"] for line in self.audit.read_text().splitlines()]

    def entries(self) -> list[dict]:
        import json

        return [json.loads(line) for line in self.audit.read_text().splitlines()]


def make_site(tmp: Path, keys: Keys | None = None, sequence: int = 1) -> Site:
    keys = keys or Keys()
    store = tmp / "store"
    store.mkdir(parents=True, exist_ok=True)
    sealed_snapshot(store, keys, stable_db(), sequence=sequence)
    return Site(tmp, keys, Clock(), store, write_pub(keys, tmp / "builder.pub"),
                tmp / "audit.log")


async def settle(app, pilot, until=None, tries: int = 100) -> None:
    """Let workers finish and messages drain (until `until()` is true, if given)."""
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(tries):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # a screen went away (lock) and took its workers with it
            pass
        except WorkerFailed:  # routed to the screen (downtime/tui/errors.py): what it shows
            pass  # is for the test to check
        await pilot.pause()
        if until is None or until():
            return
    raise AssertionError("the app did not reach the expected state")


async def unlock(app, pilot, user: str = "badge 4411", passphrase: str = PASSPHRASE) -> None:
    from downtime.tui.screens.census import CensusScreen

    screen = app.screen
    if user:
        screen.query_one("#user").value = user  # typing is tested elsewhere; keys are slow
    screen.query_one("#passphrase").value = passphrase
    screen.query_one("#passphrase").focus()
    await pilot.press("enter")
    await settle(app, pilot, lambda: isinstance(app.screen, CensusScreen)
                 and app.screen.updates > 0)


async def type_text(app, pilot, text: str) -> None:
    """Put text in the focused input as if typed (one Changed event per call)."""
    field = app.focused
    field.value = field.value + text
    field.cursor_position = len(field.value)
    await pilot.pause()
