"""The watched inbox: the watcher runs with its pool warmed, files dropped while it runs (one
copied in slow chunks) are filed once complete and removed; an unreadable one is set aside
encrypted with its reason; the first file is filed within 2 s of being complete."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry, read_registry
from reconcile.filing import Filer
from reconcile.intake import Watch
from reconcile.state import merge_records
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot
from tests.reconcile_helpers import new_episode
from tests.scansim import Scan, scan_pages, to_jpeg, to_pdf


def test_watch_files_what_lands_in_the_inbox(tmp_path):
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys), keys.trusted, [keys.unit])
    registry = FormRegistry(tmp_path / "registry", [keys.unit.recipient])
    printed = run_print_job(snap, PrintRequest("mar", "4W", patient_id="p2",
                                               pdf_path=tmp_path / "m.pdf"), registry,
                            now=AS_OF + timedelta(minutes=5))
    scans = scan_pages((tmp_path / "m.pdf").read_bytes(), [Scan(dpi=200, skew=1.0)])
    (tmp_path / "m.pdf").unlink()
    ep, _ = new_episode(tmp_path / "rec", end=None)
    filer = Filer(ep)
    merge_records(filer.state, [r.__dict__ for r in read_registry(registry.directory,
                                                                   [keys.unit.secret])],
                  "ws-4W-1")
    filer.state.replace_all()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    done: list = []
    watch = Watch(filer, inbox, settle_seconds=0.3, retries=1, retry_seconds=0.2,
                  workers=1, report=done.append)
    watch.start_pool()
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,))
    thread.start()
    try:
        data = to_jpeg(scans[0])
        (inbox / "first.jpg").write_bytes(data)
        complete = time.monotonic()
        _wait(lambda: done, 10)
        latency = time.monotonic() - complete
        slow = to_pdf(scans)
        with open(inbox / "slow.pdf", "wb") as f:  # a network copy: chunks, pauses
            for i in range(0, len(slow), len(slow) // 5 + 1):
                f.write(slow[i:i + len(slow) // 5 + 1])
                f.flush()
                time.sleep(0.15)
        (inbox / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
        _wait(lambda: len(done) >= 3, 20)
    finally:
        stop.set()
        thread.join(10)
    by_name = {r.path.name: r for r in done}
    assert by_name["first.jpg"].outcomes[0].status == "filed"
    assert latency < 2.0 + 0.3  # filed within 2 s of complete (+ the settle time)
    slow_result = by_name["slow.pdf"]
    assert [o.status for o in slow_result.outcomes][:1] == ["duplicate"]  # page 1 again
    assert by_name["broken.pdf"].set_aside
    assert list(inbox.iterdir()) == []
    state = filer.state
    assert len(state.pages) == 1 + len(scans) and len(state.set_aside) == 1
    assert printed.forms[0].form_id in {p.placement.form_id for p in state.placed().values()}


def _wait(ready, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < end, "the watcher did not file it in time"
        time.sleep(0.05)
