"""The agent pre-renders the unit packet after installing a unit snapshot, encrypted."""

from __future__ import annotations

import shutil

from downtime.agent import process_inbox
from downtime.prerender_hook import PRERENDERED, prerender_hook
from forms.prerender import load_prerendered
from tests.factory import Keys, sealed_snapshot


def test_install_then_prerender(tmp_path):
    keys = Keys()
    made = sealed_snapshot(tmp_path / "built", keys)
    inbox, store = tmp_path / "inbox", tmp_path / "store"
    inbox.mkdir()
    shutil.copy(made, inbox / made.name)
    hook = prerender_hook(keys.unit, keys.trusted, store)
    results = process_inbox(inbox, store, keys.trusted, 3, on_install=hook, settle_seconds=0)
    assert [r.status for r in results] == ["installed"]
    files = list((store / PRERENDERED).glob("packet-4W-*.age"))
    assert len(files) == 1 and b"SMITH" not in files[0].read_bytes()
    snapshot_id = files[0].name.removeprefix("packet-4W-").removesuffix(".age")
    pdf, pages, forms = load_prerendered(store / PRERENDERED, "4W", snapshot_id,
                                         [keys.unit.secret])
    assert pdf.startswith(b"%PDF") and pages == 21 and forms[0].kind == "census"
