"""The scan inbox: a file is handed on once, only when complete; temporary names are ignored;
a file that fails is retried, then set aside, never deleted."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from reconcile.inbox import InboxWatcher, stable_files, temporary
from reconcile.scan_input import NotAScanError, ScanInputError


class Running:
    """An InboxWatcher in a thread, with what it handed on and set aside."""

    def __init__(self, inbox: Path, handle=None, **options):
        self.handled: list[tuple[str, bytes, float]] = []
        self.aside: list[tuple[str, str]] = []
        self.stop = threading.Event()

        def take(path: Path) -> None:  # as the core does: read, keep, then remove
            data = path.read_bytes()
            self.handled.append((path.name, data, time.monotonic()))
            path.unlink()

        self.watcher = InboxWatcher(inbox, handle or take, set_aside=lambda p, r:
                                    self.aside.append((p.name, r)), **options)
        self.thread = threading.Thread(target=self.watcher.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()

    def wait_for(self, condition, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end, "timed out"
            time.sleep(0.05)


def test_a_file_copied_in_slow_chunks_is_handed_on_once_complete(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = os.urandom(256 * 1024)
    with Running(inbox, settle_seconds=0.6) as running:
        with open(inbox / "scan-0001.pdf", "wb") as f:  # as a network copy: chunk, pause
            for i in range(0, len(data), 32 * 1024):
                f.write(data[i:i + 32 * 1024])
                f.flush()
                time.sleep(0.25)  # each pause shorter than the settle time
        last_write = time.monotonic()
        running.wait_for(lambda: running.handled)
        time.sleep(1.5)  # nothing more comes
    assert [(n, d) for n, d, _ in running.handled] == [("scan-0001.pdf", data)]
    assert running.handled[0][2] - last_write < 2.0  # settle 0.6 s: well under 2 s
    assert running.aside == []


def test_files_already_in_the_inbox_are_taken_at_start(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.pdf", "b.tif", "c.jpg"):
        (inbox / name).write_bytes(name.encode())
    with Running(inbox, settle_seconds=0.2) as running:
        running.wait_for(lambda: len(running.handled) == 3)
    assert sorted(n for n, _, _ in running.handled) == ["a.pdf", "b.tif", "c.jpg"]


def test_temporary_names_are_ignored_and_taken_once_renamed(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with Running(inbox, settle_seconds=0.2) as running:
        for name in ("x.pdf.part", ".x.pdf.Ab3dE1", "y.tmp", "z.pdf.crdownload", "w.pdf~",
                     "~$note.pdf", "Thumbs.db"):
            (inbox / name).write_bytes(b"partial")
        time.sleep(1.0)
        assert running.handled == []
        os.rename(inbox / "x.pdf.part", inbox / "x.pdf")  # the writer finished
        running.wait_for(lambda: running.handled)
        time.sleep(0.5)
    assert [n for n, _, _ in running.handled] == ["x.pdf"]
    assert (inbox / "y.tmp").exists()  # never deleted


def test_a_file_that_fails_is_retried_then_set_aside_not_deleted(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    tries: list[float] = []

    def failing(path: Path) -> None:
        tries.append(time.monotonic())
        raise ScanInputError(f"{path.name}: a damaged PDF, cannot be read")

    (inbox / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    with Running(inbox, failing, settle_seconds=0.1, retries=2,
                 retry_seconds=0.3) as running:
        running.wait_for(lambda: running.aside)
        time.sleep(1.0)  # and not tried again after
    assert len(tries) == 3  # once, then twice more
    assert all(b - a >= 0.29 for a, b in zip(tries, tries[1:], strict=False))
    assert running.aside == [("bad.pdf", "bad.pdf: a damaged PDF, cannot be read")]
    assert (inbox / "bad.pdf").read_bytes() == b"%PDF-1.4 broken"


def test_a_file_that_cannot_become_readable_is_set_aside_at_once(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    tries: list[float] = []

    def too_big(path: Path) -> None:
        tries.append(time.monotonic())
        raise NotAScanError(f"{path.name}: over the size limit for a scan")

    (inbox / "huge.tif").write_bytes(b"II*\0")
    with Running(inbox, too_big, settle_seconds=0.1, retries=5,
                 retry_seconds=2.0) as running:
        running.wait_for(lambda: running.aside, timeout=1.5)  # not after 5 x 2 s
        time.sleep(0.5)
    assert len(tries) == 1
    assert running.aside == [("huge.tif", "huge.tif: over the size limit for a scan")]


def test_another_error_ends_the_watch_and_leaves_the_file(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.pdf").write_bytes(b"x")

    def broken(path: Path) -> None:
        raise OSError("journal disk full")

    watcher = InboxWatcher(inbox, broken, settle_seconds=0.1, set_aside=lambda p, r: None)
    with pytest.raises(OSError, match="journal disk full"):
        watcher.run(threading.Event())
    assert (inbox / "a.pdf").exists()


def test_stable_files_waits_for_a_file_being_written(tmp_path):
    (tmp_path / "old.pdf").write_bytes(b"done")
    old = time.time() - 60
    os.utime(tmp_path / "old.pdf", (old, old))
    (tmp_path / "old.pdf.part").write_bytes(b"partial")
    (tmp_path / "sub").mkdir()
    stop = threading.Event()

    def writer() -> None:
        with open(tmp_path / "growing.tif", "wb") as f:
            while not stop.is_set():
                f.write(b"x" * 1024)
                f.flush()
                time.sleep(0.05)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.1)
        assert stable_files(tmp_path, 0.5) == [tmp_path / "old.pdf"]
    finally:
        stop.set()
        thread.join()
    assert temporary(".hidden.pdf") and temporary("a.PDF.PART") and not temporary("a.pdf")


def test_files_complete_together_are_handed_on_side_by_side(tmp_path):
    """A pile of one-page files: `parallel` handled at a time, each once, one that fails
    retried as ever."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(6):
        (inbox / f"page-{n}.jpg").write_bytes(b"scan %d" % n)
    inside, most, lock, done, tries = [0], [0], threading.Lock(), [], []

    def handle(path: Path) -> None:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.2)
        with lock:
            inside[0] -= 1
        if path.name == "page-3.jpg":
            tries.append(path.name)
            raise ScanInputError("page-3.jpg: cannot be read")
        done.append(path.name)
        path.unlink()

    with Running(inbox, handle, settle_seconds=0.1, retries=1, retry_seconds=0.1,
                 parallel=2) as running:
        running.wait_for(lambda: len(done) == 5 and running.aside, 10)
    assert most[0] == 2 and sorted(done) == [f"page-{n}.jpg" for n in (0, 1, 2, 4, 5)]
    assert tries == ["page-3.jpg"] * 2 and running.aside[0][0] == "page-3.jpg"
