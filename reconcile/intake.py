"""Taking scan files in: read (reconcile.scan_input), file (reconcile.filing), and only then
remove the input; a file that cannot be read is set aside with its reason, never deleted
unread (docs/reconcile.md, "The scan inbox").

- `scan_files`: the files given, read on `workers` processes (read_scans), filed in order.
- `Watch`: the inbox watched (reconcile.inbox.InboxWatcher) with a process pool started and
  warmed once, so the first file is not kept waiting for the workers to import pdfium and
  zxing; each complete file's pages shared out over the workers and filed here.
- A file that cannot be read: stored encrypted in the episode with its reason (`set-aside/`)
  and the plaintext removed from the inbox; one over the size limit is not read into memory
  but moved, whole, to the set-aside folder beside the inbox with a `.reason.txt` note, and
  every status names it until someone deals with it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from snapshots.errors import oserror_text

from .filing import Filer, FilingError, Outcome
from .journal import fsync_dir


@dataclass
class FileResult:
    path: Path
    outcomes: list[Outcome] = field(default_factory=list)
    set_aside: str = ""  # the reason, when the file could not be taken in
    moved_to: Path | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        if self.set_aside:
            where = f"moved to {self.moved_to}" if self.moved_to else \
                "kept encrypted in the episode"
            return [f"{self.path.name}: SET ASIDE ({self.set_aside}); {where}"]
        return [o.line + "".join(f"\n  FLAG: {f}" for f in o.flags) for o in self.outcomes]


def remove_input(path: Path) -> None:
    """The plaintext input goes once its encrypted copy and events are durable."""
    try:
        path.unlink()
        fsync_dir(path.parent)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise FilingError(oserror_text(e, "filed, but cannot remove the input", path)) \
            from None


def too_big(path: Path) -> bool:
    from .scan_input import MAX_SCAN_BYTES

    try:
        return path.stat().st_size > MAX_SCAN_BYTES
    except OSError:
        return False


def set_aside(filer: Filer, path: Path, reason: str, aside_folder: Path | None,
              remove: bool) -> FileResult:
    """Keep a file that cannot be taken in, with its reason (never deleted unread)."""
    if too_big(path) and aside_folder is not None:
        target = _free_name(aside_folder, path.name)
        try:
            aside_folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(path, target)
            (target.with_name(target.name + ".reason.txt")).write_text(
                f"{path.name}: set aside by downtime reconcile: {reason}\n")
            fsync_dir(aside_folder)
        except OSError as e:
            raise FilingError(oserror_text(e, "cannot move the file aside", path)) from None
        filer.set_aside(path, reason, store=False, moved_to=target)
        return FileResult(path, set_aside=reason, moved_to=target)
    if too_big(path):  # `scan` of a file given by hand: left where it is, recorded
        filer.set_aside(path, reason, store=False, moved_to=path)
        return FileResult(path, set_aside=reason, moved_to=path)
    filer.set_aside(path, reason, store=True)
    if remove:
        remove_input(path)
    return FileResult(path, set_aside=reason)


def _free_name(folder: Path, name: str) -> Path:
    target, n = folder / name, 1
    while target.exists() or target.with_name(target.name + ".reason.txt").exists():
        n += 1
        target = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
    return target


def scan_files(filer: Filer, paths: Sequence[Path], workers: int, *, remove: bool = True,
               aside_folder: Path | None = None, pool: Executor | None = None
               ) -> Iterator[FileResult]:
    """Read and file each file (in the order given); set aside those that cannot be read.
    `pool`: warmed readers to use (`scan_input.start_readers`) instead of starting some."""
    from .scan_input import ScanInputError, read_scans

    for path, result in read_scans([Path(p) for p in paths], workers, pool):
        started = time.perf_counter()
        if isinstance(result, ScanInputError):
            yield set_aside(filer, Path(path), str(result), aside_folder, remove)
            continue
        outcomes = filer.file_pages(result)
        if remove:
            remove_input(Path(path))
        yield FileResult(Path(path), outcomes, seconds=time.perf_counter() - started)


class Watch:
    """The inbox watched until `stop` is set; `report` is told each file's result."""

    def __init__(self, filer: Filer, inbox: Path, *, settle_seconds: float = 1.0,
                 retries: int = 3, retry_seconds: float = 2.0,
                 aside_folder: Path | None = None, workers: int = 1,
                 report: Callable[[FileResult], None] = lambda r: None) -> None:
        self.filer, self.inbox, self.report = filer, Path(inbox), report
        self.settle, self.retries, self.retry_seconds = settle_seconds, retries, retry_seconds
        self.aside = aside_folder
        self.workers = max(1, workers)
        self.pool: Executor | None = None
        # one file filed at a time (its events together in the journal); files complete at
        # once are read side by side, `workers` at a time
        self.lock = threading.Lock()

    def start_pool(self) -> None:
        """Start the workers now and wait until each has imported the readers."""
        from .scan_input import start_readers

        self.pool = start_readers(self.workers)

    def handle(self, path: Path) -> None:
        from .scan_input import (
            MAX_SCAN_BYTES,
            NotAScanError,
            ScanInputError,
            read_scan,
            read_scans,
        )

        started = time.perf_counter()
        if too_big(path):  # not read into memory: set aside at once, retrying cannot help
            raise NotAScanError(f"{path.name}: over the size limit for a scan "
                                f"({MAX_SCAN_BYTES // 2**20} MB at most)")
        if self.pool is None:
            pages = read_scan(path)
        else:  # the file's pages shared out over the warm workers, a few a task
            [(_, pages)] = read_scans([path], self.workers, self.pool)
            if isinstance(pages, ScanInputError):
                raise pages
        with self.lock:  # the report too: one file's lines together
            outcomes = self.filer.file_pages(pages)
            remove_input(path)
            self.report(FileResult(path, outcomes, seconds=time.perf_counter() - started))

    def set_aside(self, path: Path, reason: str) -> None:
        with self.lock:
            self.report(set_aside(self.filer, path, reason, self.aside, remove=True))

    def run(self, stop: threading.Event) -> None:
        from .inbox import InboxWatcher

        if self.pool is None:
            self.start_pool()
        try:
            InboxWatcher(self.inbox, self.handle, settle_seconds=self.settle,
                         retries=self.retries, retry_seconds=self.retry_seconds,
                         set_aside=self.set_aside, parallel=self.workers).run(stop)
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
                self.pool = None
