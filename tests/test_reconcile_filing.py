"""Filing rules: each page under its form, or its patient when the registry lacks the form, or
queued; the flags a person must see; nothing dropped, and the figures follow corrections."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconcile.episode import load_episode
from reconcile.filing import Filer, FilingError
from reconcile.state import derive, merge_records
from tests.reconcile_helpers import START, Payload, new_episode, page, record


def _collect(filer: Filer, records, ws="ws-4W-1"):
    event = filer.episode.journal.append("registry-collected", {
        "workstation": ws, "source": "/share/" + ws, "records": records,
        "seen": len(records)}, "clerk@him-1")
    filer.state.apply(event)


@pytest.fixture
def filer(tmp_path):
    ep, _ = new_episode(tmp_path / "rec")
    f = Filer(ep)
    _collect(f, [record("DT-AAAAAAAAAA", event="issued"), record("DT-AAAAAAAAAA"),
                 record("DT-BBBBBBBBBB", kind="facesheet", patient="p2", encounter="e2",
                        pages=1),
                 record("DT-OLDOLDOLDO", at=START - timedelta(days=2)),
                 record("DT-FIVEEFIVEE", unit="5E", patient="p7", encounter="e7")])
    return f


def test_pages_filed_under_form_and_page(filer):
    out = filer.file_pages([page("a.pdf", Payload("DT-AAAAAAAAAA", "mar", "p1", "e1", 1, 2),
                                 1, 2),
                            page("a.pdf", Payload("DT-AAAAAAAAAA", "mar", "p1", "e1", 2, 2),
                                 2, 2)])
    assert [o.status for o in out] == ["filed", "filed"]
    assert out[1].line == "a.pdf page 2 of 2: filed: Downtime MAR DT-AAAAAAAAAA page 2 of 2, " \
                          "patient p1"
    assert not out[0].flags


def test_old_payload_without_page_on_a_one_page_form(filer):
    out = filer.file_pages([page("b.png", Payload("DT-BBBBBBBBBB", "facesheet", "p2", "e2"))])
    assert out[0].status == "filed" and "page 1 of 1" in out[0].line


def test_not_in_registry_filed_under_the_patient_and_flagged(filer):
    out = filer.file_pages([page("c.png", Payload("DT-ZZZZZZZZZZ", "note", "p9", "e9", 1, 1))])
    assert out[0].status == "not-in-registry"
    assert "under patient p9 encounter e9" in out[0].line
    assert "in no collected registry" in out[0].flags[0]
    # the registry collected later: the same page is now filed under its form
    _collect(filer, [record("DT-ZZZZZZZZZZ", kind="note", patient="p9", encounter="e9",
                            pages=1)], ws="ws-4W-2")
    assert filer.state.placed()[out[0].page_id].placement.status == "filed"


def test_queued_and_foreign(filer):
    out = filer.file_pages([page("d.jpg", None),
                            page("e.jpg", None, qr_text="https://example.org/x")])
    assert [o.status for o in out] == ["queued", "queued"]
    assert "no readable QR code" in out[0].line
    assert "not ours" in out[1].flags[0]


def test_other_patient_window_and_unit_flags(filer):
    out = filer.file_pages([
        page("f.png", Payload("DT-AAAAAAAAAA", "mar", "p3", "e3", 1, 2)),
        page("g.png", Payload("DT-OLDOLDOLDO", "mar", "p1", "e1", 1, 2)),
        page("h.png", Payload("DT-FIVEEFIVEE", "mar", "p7", "e7", 1, 2))])
    assert "names patient p3" in out[0].flags[0] and "registry patient p1" in out[0].flags[0]
    assert "outside the episode" in out[1].flags[0]
    assert "is a 5E form; the episode covers 4W" in out[2].flags[0]


def test_same_page_twice_and_same_file_twice(filer):
    p1 = page("a.pdf", Payload("DT-AAAAAAAAAA", "mar", "p1", "e1", 1, 2))
    first = filer.file_pages([p1])
    again = filer.file_pages([p1])  # the same file dropped twice
    other = filer.file_pages([page("rescan.pdf", Payload("DT-AAAAAAAAAA", "mar", "p1", "e1",
                                                         1, 2))])
    assert first[0].status == "filed"
    assert again[0].status == "duplicate" and "same file scanned again" in again[0].flags[0]
    assert other[0].status == "duplicate" and "page 1 of DT-AAAAAAAAAA again" in \
        other[0].flags[0]
    pages = filer.state.placed()
    # kept once: the second read of the same file points at the first copy
    assert pages[again[0].page_id].read["copy"] == pages[first[0].page_id].read["copy"]
    assert len(list((filer.episode.directory / "pages").glob("*.age"))) == 2


def test_index_by_hand_and_state_from_the_journal(filer, tmp_path):
    out = filer.file_pages([page("q.jpg", None)])
    with pytest.raises(FilingError, match="in no collected registry"):
        filer.index(out[0].page_id, form_id="DT-NOPENOPENO")
    with pytest.raises(FilingError, match="no such page"):
        filer.index("PG-nope", form_id="DT-AAAAAAAAAA")
    done = filer.index(out[0].page_id[:7], form_id="DT-AAAAAAAAAA", page_no=2)
    assert done.status == "indexed" and "page 2 of 2" in done.line
    # a fresh reader derives the same from the events alone
    ep = filer.episode
    again = derive(load_episode(ep.directory.parent, None, ep.recipients, ep.identities,
                                "x").journal.read())
    assert again.placed()[out[0].page_id].placement.status == "indexed"
    assert again.placed()[out[0].page_id].placement.form_id == "DT-AAAAAAAAAA"


def test_stored_copy_is_the_original_encrypted(filer):
    data = b"\x89PNG original bytes of the page"
    out = filer.file_pages([page("z.png", None, data=data)])
    copy = filer.state.pages[out[0].page_id].read["copy"]
    stored = filer.episode.copy_path("pages", copy).read_bytes()
    assert data not in stored and stored.startswith(b"age-encryption.org/v1")
    assert filer.episode.read_copy("pages", copy) == data


def test_merge_counts_each_form_event_once(filer):
    state = filer.state
    before = len(state.registry_keys)
    assert merge_records(state, [record("DT-AAAAAAAAAA")], "ws-4W-2") == 0
    assert len(state.registry_keys) == before
    assert state.forms["DT-AAAAAAAAAA"].workstations == {"ws-4W-1", "ws-4W-2"}
