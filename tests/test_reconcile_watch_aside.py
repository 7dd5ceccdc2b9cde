"""`reconcile watch` (reconcile.intake.Watch): a file over the size limit is moved aside at
once, not tried `retries` times first (retrying cannot make it smaller)."""

from __future__ import annotations

import threading
import time

from reconcile.filing import Filer
from reconcile.intake import Watch
from reconcile.scan_input import MAX_SCAN_BYTES

from .reconcile_helpers import new_episode


def test_a_file_over_the_size_limit_is_set_aside_at_once(tmp_path):
    episode, _ = new_episode(tmp_path / "rec")
    inbox, aside = tmp_path / "inbox", tmp_path / "inbox-set-aside"
    inbox.mkdir()
    results = []
    watch = Watch(Filer(episode), inbox, settle_seconds=0.1, retries=5, retry_seconds=3.0,
                  aside_folder=aside, workers=1, report=results.append)
    watch.pool = None  # not started: nothing is read in a worker for this file
    watch.start_pool = lambda: None
    with open(inbox / "huge.tif", "wb") as f:  # sparse: over the limit without the disk
        f.truncate(MAX_SCAN_BYTES + 1)
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        while not results and time.monotonic() - started < 10:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert results, "never set aside"
    assert time.monotonic() - started < 2.5  # 5 retries 3 s apart would be 15 s
    assert results[0].set_aside.startswith("huge.tif: over the size limit")
    assert results[0].moved_to == aside / "huge.tif"
    assert not (inbox / "huge.tif").exists() and (aside / "huge.tif").exists()
    assert Filer(episode).state.set_aside[0]["moved_to"] == str(aside / "huge.tif")
