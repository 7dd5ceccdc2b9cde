"""Back-entries in the journal: recorded encrypted, read back in force, a correction is a new
revision, and typing or importing the same entry again adds nothing."""

from __future__ import annotations

import dataclasses

import pytest

from reconcile.backentry import ENTRY_RECORDED, ToRecord, correct, record_entries
from reconcile.entries import EntryError, Person
from reconcile.episode import load_episode
from reconcile.state import derive
from tests import back_entry_data as data
from tests.reconcile_helpers import new_episode


def test_entries_are_journaled_encrypted_and_read_back_in_force(tmp_path):
    episode, ident = new_episode(tmp_path)
    entries, _ = data.one_of_each()
    state = derive(episode.journal.read())
    events, skipped = record_entries(episode.journal, state.entries,
                                     [ToRecord(e, "tui") for e in entries], episode.who)
    assert len(events) == len(entries) and not skipped
    assert {e.type for e in events} == {ENTRY_RECORDED}
    raw = episode.journal.path.read_bytes()
    for e in entries:
        assert e.source.form_id.encode() not in raw and e.patient_id.encode() not in raw
    again = derive(load_episode(tmp_path, episode.id, episode.recipients, [ident],
                                "clerk@him-1").journal.read())
    assert again.entries.in_force() == entries


def test_the_same_entry_again_adds_nothing_and_a_correction_is_the_next_revision(tmp_path):
    episode, _ = new_episode(tmp_path)
    entries, _ = data.one_of_each()
    book = derive(episode.journal.read()).entries
    record_entries(episode.journal, book, [ToRecord(e, "tui") for e in entries], "clerk")
    retyped = dataclasses.replace(entries[0], entered_by=Person(name="Other Clerk"))
    events, skipped = record_entries(episode.journal, book, [ToRecord(retyped, "import")],
                                     "clerk")
    assert not events and len(skipped) == 1
    changed = dataclasses.replace(entries[0], route="Rectal")
    with pytest.raises(EntryError, match="a correction is revision 1, not 0"):
        record_entries(episode.journal, book, [ToRecord(changed, "tui")], "clerk")
    events, _ = record_entries(episode.journal, book, [ToRecord(correct(book, changed), "tui")],
                               "clerk")
    assert len(events) == 1
    state = derive(episode.journal.read())
    assert state.entries.current(entries[0].key).entry.route == "Rectal"
    assert len(state.entries.lines[entries[0].key]) == 2
    assert len(state.entries.in_force()) == len(entries)


def test_where_an_entry_stands_follows_the_checks_and_decisions(tmp_path):
    episode, _ = new_episode(tmp_path)
    entries, _ = data.one_of_each()
    first, second = entries[0], entries[1]
    j = episode.journal
    j.append("conflicts-checked", {"against": {"url": "http://127.0.0.1:1/fhir"}, "entries": [
        {"key": first.key, "revision": 0, "conflicts": [{"code": "allergy", "reason": "x"}]},
        {"key": second.key, "revision": 0, "conflicts": []}]}, "clerk")
    state = derive(j.read())
    d = state.decisions
    assert d.standing(first.key, 0) == "in-conflict" and not d.ready(first.key, 0)
    assert d.standing(second.key, 0) == "clear" and d.ready(second.key, 0)
    assert d.standing("DT-ABCDEFGHJK/p1/l1", 0) == "unchecked"
    j.append("conflict-decided", {"key": first.key, "revision": 0, "code": "allergy",
                                  "decision": "reject", "reason": "wrong patient",
                                  "person": "A. Clerk"}, "clerk")
    state = derive(j.read())
    assert state.decisions.standing(first.key, 0) == "rejected"
    assert not state.decisions.open_conflicts(first.key, 0)
