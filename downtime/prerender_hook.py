"""The agent's after-install step: keep an encrypted, pre-rendered unit packet ready for each
unit snapshot this workstation can open, so `print packet` at downtime sends pages at once
(forms.prerender).

This is the one place the agent decrypts a snapshot (in memory, like every reader), and only
when run with `--prerender`. Rendering runs in a thread, off the install step. A packet is used
up when printed (its form ids must never be printed twice), and it is only good for the day it
was rendered for (the MAR's date): a keeper thread renders a fresh one when the packet is
taken (it watches the folder) or the day changes (it looks once a minute). At start it takes
on the unit snapshots already installed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from forms.prerender import day_of, packet_path, prerender_packet, prerendered_folder
from snapshots.keys import Identity
from snapshots.manifest import Manifest
from snapshots.sealed import SnapshotError, open_snapshot
from snapshots.store import newest_per_scope

log = logging.getLogger("downtime.agent.prerender")


class _Taken(FileSystemEventHandler):
    def __init__(self, wake: threading.Event):
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("deleted", "moved"):
            self.wake.set()


class PrerenderHook:
    """Called by the agent with each installed snapshot (`on_install`)."""

    def __init__(self, identity: Identity, trusted_key: Ed25519PublicKey, store: Path,
                 papers: Sequence[str] = ("Letter",), poll_seconds: float = 60.0):
        self.identity, self.trusted_key = identity, trusted_key
        self.folder = prerendered_folder(store)
        self.papers = tuple(papers)
        self.poll_seconds = poll_seconds
        self.current: dict[str, tuple[Path, str]] = {}  # unit -> (snapshot file, id)
        self._lock = threading.Lock()  # guards `current`
        self._rendering = threading.Lock()  # one render at a time: two cores, one nurse
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._keeper: threading.Thread | None = None

    def __call__(self, path: Path, manifest: Manifest) -> None:
        if not manifest.scope.startswith("unit:") or \
                self.identity.recipient not in manifest.recipients:
            return
        with self._lock:
            for unit in manifest.units:
                self.current[unit] = (Path(path), manifest.snapshot_id)
        self._start()

    def adopt(self, store: Path) -> None:
        """Take on the unit snapshots already installed (the agent starting with
        --prerender), so their packets are rendered without waiting for the next build."""
        for scope, snap in newest_per_scope(Path(store), self.identity.recipient).items():
            if scope.startswith("unit:"):
                with self._lock:
                    for unit in snap.manifest.units:
                        self.current.setdefault(unit, (snap.path, snap.manifest.snapshot_id))
        if self.current:
            self._start()

    def _start(self) -> None:
        # Not a daemon: `downtime agent --once` waits for the packet before it exits.
        worker = threading.Thread(target=self._refresh_logged, name="prerender")
        worker.start()
        self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name="prerender-keeper",
                                            daemon=True)
            self._keeper.start()

    def close(self) -> None:
        """Stop the keeper (renders under way finish)."""
        self._stop.set()
        self._wake.set()
        if self._keeper is not None:
            self._keeper.join(10)
        self.wait(60)

    def wait(self, timeout: float | None = None) -> None:
        """Until the renders started so far are done (tests, shutdown)."""
        for worker in list(self._workers):
            worker.join(timeout)

    def missing(self, now: datetime | None = None) -> list[tuple[str, str, Path, str]]:
        """(unit, paper, snapshot file, id) of every packet that should be there and is not."""
        day = day_of(now or datetime.now(UTC))
        with self._lock:
            current = dict(self.current)
        return [(unit, paper, path, sid) for unit, (path, sid) in current.items()
                for paper in self.papers
                if path.exists() and not packet_path(self.folder, unit, sid, paper,
                                                     day).exists()]

    def refresh(self) -> list[Path]:
        """Render every missing packet; return what was written."""
        written = []
        with self._rendering:
            for unit, paper, path, _ in self.missing():
                try:
                    snapshot = open_snapshot(path, self.trusted_key, [self.identity])
                except SnapshotError as e:
                    log.warning("not pre-rendering %s: %s", path.name, e)
                    continue
                try:
                    out = prerender_packet(snapshot, unit, self.folder,
                                           [self.identity.recipient], paper=paper)
                finally:
                    snapshot.close()
                log.info("pre-rendered the %s packet (%s): %s", unit, paper, out.name)
                written.append(out)
        return written

    def _refresh_logged(self) -> None:
        try:
            self.refresh()
        except Exception:  # a failed pre-render must not stop the agent: printing renders live
            log.exception("pre-rendering failed")

    def _keep(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Taken(self._wake), str(self.folder))
        observer.daemon = True
        observer.start()
        try:
            while not self._stop.is_set():
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                if not self._stop.is_set() and self.missing():
                    self._refresh_logged()
        finally:
            # joined, not only stopped: a watcher thread still running when the folder goes
            # (a test's, an uninstall's) logs an error from inside watchdog
            observer.stop()
            observer.join(5)


def prerender_hook(identity: Identity, trusted_key: Ed25519PublicKey, store: Path,
                   papers: Sequence[str] = ("Letter",)) -> PrerenderHook:
    """The agent's hook, having taken on the unit snapshots already in the store."""
    hook = PrerenderHook(identity, trusted_key, store, papers)
    hook.adopt(store)
    return hook
