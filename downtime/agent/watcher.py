"""The agent's loop: watch the inbox with watchdog and process it when something lands.

Events only wake the loop; the work is always a full `process_inbox` pass, so a missed or
duplicated event changes nothing. A periodic rescan catches files still being copied in.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .installer import SETTLE_SECONDS, OnInstall, process_inbox

log = logging.getLogger("downtime.agent")


class _Wake(FileSystemEventHandler):
    def __init__(self, event: threading.Event):
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.event.set()


def run_agent(inbox: Path, store: Path, trusted_key: Ed25519PublicKey, keep: int = 3,
              on_install: OnInstall | None = None, stop: threading.Event | None = None,
              rescan_seconds: float = 5.0, settle_seconds: float = SETTLE_SECONDS,
              debounce_seconds: float = 0.5, on_results=None) -> None:
    """Process the inbox now and whenever it changes, until `stop` is set."""
    inbox, store = Path(inbox), Path(store)
    stop = stop or threading.Event()
    wake = threading.Event()
    observer = Observer()
    observer.schedule(_Wake(wake), str(inbox), recursive=False)
    observer.start()
    log.info("watching %s, installing into %s", inbox, store)
    try:
        while not stop.is_set():
            try:
                results = process_inbox(inbox, store, trusted_key, keep, on_install,
                                        settle_seconds)
            except OSError as e:  # a share gone, a disk full: say so, try again next rescan
                log.error("pass stopped: %s: %s", e.filename or inbox, e.strerror or e)
                results = []
            if on_results is not None and results:
                on_results(results)
            woke = _wait(wake, stop, rescan_seconds)
            if woke:  # let a burst of events (a file being written) settle
                stop.wait(debounce_seconds)
                wake.clear()
    finally:
        observer.stop()
        observer.join(5)


def _wait(wake: threading.Event, stop: threading.Event, seconds: float) -> bool:
    """Wait for a wake-up, a stop or the rescan time, whichever comes first."""
    waited = 0.0
    while waited < seconds and not stop.is_set():
        if wake.wait(0.1):
            wake.clear()
            return True
        waited += 0.1
    return False
