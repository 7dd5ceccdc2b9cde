"""The agent pre-renders the unit packet after installing a unit snapshot, encrypted, in the
background; when the packet is used up by a print, it renders a fresh one."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime

from downtime.agent import process_inbox, status
from downtime.prerender_hook import prerender_hook
from forms.jobs import PrintRequest, run_print_job
from forms.prerender import FOLDER as PRERENDERED
from forms.prerender import day_of, load_prerendered
from forms.registry import FormRegistry
from snapshots.sealed import open_snapshot
from tests.factory import Keys, sealed_snapshot


def test_install_then_prerender_then_renew_after_use(tmp_path):
    keys = Keys()
    made = sealed_snapshot(tmp_path / "built", keys)
    inbox, store = tmp_path / "inbox", tmp_path / "store"
    inbox.mkdir()
    shutil.copy(made, inbox / made.name)
    hook = prerender_hook(keys.unit, keys.trusted, store)
    results = process_inbox(inbox, store, keys.trusted, 3, on_install=hook, settle_seconds=0)
    assert [r.status for r in results] == ["installed"]
    hook.wait(60)
    folder = store / PRERENDERED
    files = list(folder.glob("packet-4W-*.age"))
    assert len(files) == 1 and b"SMITH" not in files[0].read_bytes()
    snapshot = open_snapshot(results[0].installed, keys.trusted, [keys.unit])
    sid, today = snapshot.manifest.snapshot_id, day_of(datetime.now(UTC))
    assert files[0].name == f"packet-4W-{sid}-Letter-{today}.age"
    pdf, pages, forms = load_prerendered(folder, "4W", sid, "Letter", today, [keys.unit.secret])
    assert pdf.startswith(b"%PDF") and pages == 21 and forms[0].kind == "census"

    registry = FormRegistry(tmp_path / "registry", [keys.unit.recipient])
    printed = run_print_job(snapshot, PrintRequest("packet", "4W", pdf_path=tmp_path / "p.pdf"),
                            registry, prerendered=(folder, [keys.unit.secret]))
    (tmp_path / "p.pdf").unlink()
    assert printed.prerendered
    assert [f.form_id for f in printed.forms] == [f.form_id for f in forms]
    deadline = time.time() + 60  # the keeper notices the packet was taken and renders anew
    fresh = None
    while time.time() < deadline and fresh is None:
        time.sleep(0.2)
        fresh = load_prerendered(folder, "4W", sid, "Letter", today, [keys.unit.secret])
    assert fresh is not None, "no fresh packet after the first was used"
    assert not {f.form_id for f in fresh[2]} & {f.form_id for f in forms}
    hook.close()


def test_agent_start_takes_on_installed_snapshots(tmp_path):
    """Turning --prerender on renders the packets of what is already installed."""
    keys = Keys()
    made = sealed_snapshot(tmp_path / "built", keys)
    inbox, store = tmp_path / "inbox", tmp_path / "store"
    inbox.mkdir()
    shutil.copy(made, inbox / made.name)
    process_inbox(inbox, store, keys.trusted, 3, settle_seconds=0)  # installed, no hook
    assert not (store / PRERENDERED).exists()
    assert status(store, trusted_key=keys.trusted).scopes[0].prerendered == []
    hook = prerender_hook(keys.unit, keys.trusted, store)
    hook.wait(60)
    assert len(list((store / PRERENDERED).glob("packet-4W-*-Letter-*.age"))) == 1
    hook.close()
    report = status(store, trusted_key=keys.trusted)  # the readiness check says it is there
    assert report.scopes[0].prerendered == ["Letter"]
    assert "packet pre-rendered (Letter)" in report.lines()[1]
    assert report.as_dict()["scopes"][0]["prerendered"] == ["Letter"]
