"""The scan inbox: files scanners and people drop in a folder, each handed on once complete.

Scanners, multifunction printers and network copies write a file in chunks, often over
seconds. A file is taken only once it is complete: its size and modification time unchanged
for `settle_seconds` as this process observes them (its own clock, so a file share's clock
does not matter), and its name not one of a file still being written (`.part`, `.tmp`,
`.crdownload`, `~`, dotfiles such as rsync's `.name.XXXXXX`: see `temporary`). A finished
file renamed into place from such a name is taken under its final name.

`InboxWatcher` is woken by watchdog (inotify on Linux) at every change, so a file is handed
on within `settle_seconds` and a tenth of a second of its last write; it also looks at the
folder every second on its own, for file shares whose writes raise no events here, and takes
the files already there when it starts. A file whose handling fails with ScanInputError is
tried again `retries` times, `retry_seconds` apart (a file still locked by the writer, a
share that hiccuped), then set aside with the reason; one that cannot become readable (over
the size limit: `retry` false, reconcile.scan_input.NotAScanError) is set aside at once.
Files complete at the same time are handed on `parallel` at a time (the watcher's workers
kept busy by a pile of one-page files). Nothing here deletes or moves a file: `handle`
removes it once its encrypted copy is durable, `set_aside` moves it aside.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .scan_input import ScanInputError

TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download",
                      ".filepart", ".!ut", ".swp", ".lock", "~")
IGNORED_NAMES = ("thumbs.db", "desktop.ini")  # what file managers leave in a folder
RESCAN_SECONDS = 1.0  # the folder looked at without an event (file shares raise none)


def temporary(name: str) -> bool:
    """A name a file has while it is still being written (or a file manager's own), never a
    finished scan's."""
    lower = name.lower()
    return lower.startswith((".", "~$")) or lower.endswith(TEMPORARY_SUFFIXES) or \
        lower in IGNORED_NAMES


def _candidates(inbox: Path) -> dict[Path, tuple[int, int]]:
    """The inbox's regular files with finished names: path -> (size, mtime in ns)."""
    found = {}
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return {}
    for entry in entries:
        if temporary(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:  # gone meanwhile
            continue
        found[Path(entry.path)] = (st.st_size, st.st_mtime_ns)
    return found


def stable_files(inbox: Path, settle_seconds: float) -> list[Path]:
    """The complete files in the inbox, by name: those not written for `settle_seconds`
    (their modification time that old, or their size and time unchanged over that long,
    waited for here). Temporary names are skipped."""
    first = _candidates(Path(inbox))
    now = time.time_ns()
    settle_ns = int(settle_seconds * 1e9)
    young = [p for p, (_, mtime) in first.items() if now - mtime < settle_ns]
    if young:
        time.sleep(settle_seconds)
        again = _candidates(Path(inbox))
        for path in young:
            if again.get(path) != first[path]:
                first.pop(path)
    return sorted(first)


@dataclass
class _Seen:
    state: tuple[int, int]  # (size, mtime ns) as last observed
    since: float  # monotonic time it was first observed so
    failures: int = 0
    retry_at: float = 0.0
    done: bool = False  # handled or set aside in this state: not again


class InboxWatcher:
    """Watches `inbox` and calls `handle(path)` for each file once it is complete."""

    def __init__(self, inbox: Path, handle: Callable[[Path], None], *,
                 settle_seconds: float = 1.0, retries: int = 3, retry_seconds: float = 2.0,
                 set_aside: Callable[[Path, str], None], parallel: int = 1) -> None:
        self.inbox = Path(inbox)
        # files handed on at once when several are complete together (a scanner writing one
        # JPEG a page): `handle` must then be safe to call from several threads
        self.parallel = max(1, parallel)
        self.handle = handle
        self.settle = settle_seconds
        self.retries = retries
        self.retry_seconds = retry_seconds
        self.set_aside = set_aside
        self._seen: dict[Path, _Seen] = {}
        self._changed = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set; the files already in the inbox are taken too. An error
        from `handle` other than ScanInputError (the episode cannot be written) ends the
        watch: the file stays in the inbox, and the error goes to the caller."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        changed = self._changed

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                changed.set()

        self.inbox.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(_Wake(), str(self.inbox), recursive=False)
        observer.start()
        try:
            while not stop.is_set():
                wait = self._pass()
                if self._changed.wait(min(wait, RESCAN_SECONDS)):
                    self._changed.clear()
        finally:
            observer.stop()
            observer.join(timeout=5)

    def wake(self) -> None:
        """Look at the inbox now (a caller that knows a file arrived)."""
        self._changed.set()

    def _pass(self) -> float:
        """Look at every file once; hand on those complete. Returns how long until the next
        file may be due (seconds)."""
        now = time.monotonic()
        present = _candidates(self.inbox)
        for path in list(self._seen):
            if path not in present:
                del self._seen[path]  # handled and removed, or gone: forget it
        due = RESCAN_SECONDS
        ready = []
        for path, state in sorted(present.items()):
            seen = self._seen.get(path)
            if seen is None or seen.state != state:  # new, or written to since
                self._seen[path] = seen = _Seen(state, now)
            if seen.done:
                continue
            ready_at = max(seen.since + self.settle, seen.retry_at)
            if now < ready_at:
                due = min(due, ready_at - now)
                continue
            ready.append((path, seen))
        self._take_all(ready)
        for _, seen in ready:
            if not seen.done:
                due = min(due, max(0.0, seen.retry_at - time.monotonic()))
        return max(0.01, due)

    def _take_all(self, ready: list[tuple[Path, _Seen]]) -> None:
        """Each complete file handed on: in order, or `parallel` at a time (each thread
        touches only its own file's `_Seen`). An error other than ScanInputError still ends
        the watch, once the files under way are done."""
        if self.parallel == 1 or len(ready) < 2:
            for path, seen in ready:
                self._take(path, seen)
            return
        with ThreadPoolExecutor(min(self.parallel, len(ready))) as threads:
            for future in [threads.submit(self._take, path, seen) for path, seen in ready]:
                future.result()

    def _take(self, path: Path, seen: _Seen) -> None:
        try:
            self.handle(path)
        except ScanInputError as e:
            seen.failures += 1
            if e.retry and seen.failures <= self.retries:
                seen.retry_at = time.monotonic() + self.retry_seconds
                return
            self.set_aside(path, str(e))
        seen.done = True
