"""Bulk import of back-entries: real CSV and JSON files with every kind of entry and bad rows of
many kinds (each told by line, column and reason, kept encrypted, none lost), importing again
adds nothing, a changed row is a correction only when its revision says so, pages marked
transcribed on request, and no plaintext patient data left in the episode."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from reconcile.backentry import ENTRY_RECORDED
from reconcile.decisions import PAGE_TRANSCRIBED
from reconcile.entries import (
    MarAdministration,
    PhysicianOrder,
    ProgressNote,
    Registration,
    VitalsRow,
)
from reconcile.import_format import ImportFileError
from reconcile.importing import (
    IMPORT_REJECTED,
    import_data,
    import_file,
    rejected_csv,
    rejected_rows,
    rejected_sets,
)
from reconcile.state import derive
from tests.import_files import BAD, FORMS, GOOD, MAR, REG, STAFF, VTL, as_csv, as_json
from tests.reconcile_helpers import new_episode

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
SECRETS = [b"Okafor", b"Chidi", b"Metoprolol", b"pat-1", b"DT900001", b"Harbour",
           b"123-45-6789", b"comfortable"]


@pytest.fixture
def episode(tmp_path):
    ep, _ = new_episode(tmp_path / "rec")
    ep.journal.append("registry-collected", {"workstation": "ws-4W-1", "source": "share",
                                             "records": FORMS, "seen": len(FORMS)}, "clerk")
    return ep


def run(episode, data, fmt, **kw):
    kw.setdefault("entered_by", "Dana Reyes (HIM)")
    return import_data(episode, data, f"transcribed.{fmt}", STAFF, fmt=fmt, now=NOW, **kw)


def no_plaintext_under(folder, exclude=()):
    for path in folder.rglob("*"):
        if path.is_file() and path not in exclude:
            raw = path.read_bytes()
            for secret in SECRETS:
                assert secret not in raw, (path, secret)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_every_kind_imported_and_every_bad_row_told_and_kept(episode, tmp_path, fmt):
    rows = GOOD + [row for row, _, _ in BAD]
    data = as_csv(rows) if fmt == "csv" else as_json(rows)
    source = tmp_path / f"transcribed.{fmt}"
    source.write_bytes(data)
    report = import_file(episode, source, STAFF, entered_by="Dana Reyes (HIM)", now=NOW)
    assert report.count("recorded") == len(GOOD)
    assert len(report.invalid) == len(BAD)
    for outcome, (_, column, words) in zip(report.invalid, BAD, strict=True):
        first = outcome.problems[0]
        assert (first.field, words in first.reason) == (column, True), outcome.line()
        assert outcome.line().startswith(f"line {outcome.row.line}: {column}: ")
    # lines are the file's: the CSV note spans two lines, so the rows after it start later
    lines = [o.row.line for o in report.outcomes]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)
    text = data.decode("utf-8-sig").splitlines()
    for o in report.outcomes:  # each row begins on the line reported
        begins = text[o.row.line - 1]
        assert begins.startswith(o.row.text("kind")) if fmt == "csv" else begins == "{"

    state = derive(episode.journal.read())
    kinds = {type(e) for e in state.entries.in_force()}
    assert kinds == {MarAdministration, PhysicianOrder, VitalsRow, ProgressNote, Registration}
    verbal = state.entries.current("DT-RX33333333/p1/l2")
    assert verbal.entry.prescriber.name == "Dr. Jane Smith" and verbal.entry.read_back
    assert verbal.via == "import" and verbal.origin == {"file_sha256": report.sha256, "row": 6}
    mar = state.entries.current(f"{MAR}/p1/l1").entry
    assert mar.written_by.name == "Alice Brown" and mar.written_by.practitioner_id == "prac-1"
    assert mar.paper_time.utcoffset() is not None  # local time, with the station's offset
    reg = state.entries.current(f"{REG}/p1/l1").entry
    assert reg.given == ("Chidi", "Emeka") and reg.patient_id == "DT900001"
    assert reg.paper_time.isoformat() == "2026-11-24T07:40:00+01:00"
    vitals = state.entries.current(f"{VTL}/p1/l1").entry
    assert {r.measure: r.unit for r in vitals.readings}["temperature"] == "[degF]"

    # nothing lost: every invalid row kept, as it was, with its problems
    [kept_set] = rejected_sets(episode.journal.read(), state)
    assert kept_set.open_rows == len(BAD) and kept_set.copy == report.rejected_copy
    kept = rejected_rows(episode, kept_set.copy[:6])
    assert [r["line"] for r in kept["rows"]] == [o.row.line for o in report.invalid]
    for r, (row, column, _) in zip(kept["rows"], BAD, strict=True):
        assert r["problems"][0]["field"] == column
        assert {k: str(v) for k, v in r["values"].items()} == {
            k: str(v) for k, v in row.items() if str(v).strip()}
    no_plaintext_under(tmp_path, exclude={source})  # the site's own file aside: no copy
    assert all(s not in episode.journal.path.read_bytes() for s in SECRETS)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_importing_the_same_file_again_adds_nothing(episode, fmt):
    rows = GOOD + [BAD[2][0]]
    data = as_csv(rows) if fmt == "csv" else as_json(rows)
    first = run(episode, data, fmt)
    events = episode.journal.read()
    again = run(episode, data, fmt)
    assert again.count("already") == len(GOOD) and again.count("recorded") == 0
    assert again.imported_before and again.rejected_copy == first.rejected_copy
    assert episode.journal.read() == events  # not one event more
    # the same rows in another file (retyped by someone else) add nothing either
    other = run(episode, as_csv(GOOD[::-1]), "csv", entered_by="Someone Else")
    assert other.count("already") == len(GOOD) and not other.events


def test_a_changed_row_is_a_correction_only_with_its_revision(episode):
    run(episode, as_csv(GOOD), "csv")
    changed = dict(GOOD[0], dose=50)
    corrected = dict(GOOD[1], reason="NPO for CT", revision=1)
    never = dict(GOOD[2], line=7, revision=2)
    twice = [dict(GOOD[3], line=8), dict(GOOD[3], line=8, route="IV")]
    report = run(episode, as_csv([changed, corrected, never, *twice]), "csv")
    by_line = {o.row.number: o for o in report.outcomes}
    assert by_line[1].status == "invalid" and by_line[1].problems[0].field == "revision"
    assert "already entered with other content" in by_line[1].problems[0].reason
    assert "give revision 1" in by_line[1].problems[0].reason
    assert by_line[2].status == "correction"
    assert by_line[3].status == "invalid" and "never entered" in by_line[3].problems[0].reason
    assert by_line[4].status == "recorded"
    assert by_line[5].status == "invalid" and "an earlier row of this file" in \
        by_line[5].problems[0].reason
    state = derive(episode.journal.read())
    assert state.entries.current(f"{MAR}/p1/l1").entry.dose.value == 25  # the clash kept out
    held = state.entries.current(f"{MAR}/p1/l2")
    assert held.entry.reason == "NPO for CT" and held.entry.revision == 1
    assert len(state.entries.lines[f"{MAR}/p1/l2"]) == 2
    # the first file again: its rows were imported (one since corrected), nothing added
    again = run(episode, as_csv(GOOD), "csv")
    assert again.count("already") == len(GOOD) and not again.events
    assert "corrected since" in again.outcomes[1].note


def test_pages_marked_transcribed_on_request_but_not_a_page_with_a_rejected_row(episode):
    bad_on_vitals_page = dict(BAD[12][0], page=1, line=2)  # the vitals page 1 is not done
    report = run(episode, as_csv([*GOOD, bad_on_vitals_page]), "csv",
                 pages_done_by="Dana Reyes")
    assert (VTL, 1) not in report.pages_done
    # line 12: the note before it spans two lines
    assert (VTL, 1, "line 12 of it was rejected") in report.pages_not_done
    assert (MAR, 1) in report.pages_done and (REG, 1) in report.pages_done
    state = derive(episode.journal.read())
    done = state.decisions.transcribed[(MAR, 1)]
    assert done["lines"] == 4 and done["person"] == "Dana Reyes"
    events = [e for e in episode.journal.read() if e.type == PAGE_TRANSCRIBED]
    assert len(events) == len(report.pages_done) == 4
    # without the flag nothing is marked
    fresh = run(episode, as_csv([dict(GOOD[6], line=3)]), "csv")
    assert not fresh.pages_done and len(derive(episode.journal.read()).decisions.transcribed) == 4


def test_a_rejected_set_is_corrected_and_imported_again(episode):
    first = run(episode, as_csv([GOOD[0], BAD[5][0], BAD[6][0]]), "csv")
    kept = rejected_rows(episode, first.rejected_copy)
    rows = list(csv.DictReader(io.StringIO(rejected_csv(kept))))
    assert list(rows[0])[:4] == ["kind", "form_id", "page", "line"]
    assert [r["dose"] for r in rows] == ["two", "1"]
    rows[0]["dose"], rows[1]["reason"] = "2", "NPO"  # the clerk's corrections
    again = run(episode, as_csv(rows), "csv")
    assert again.count("recorded") == 2 and not again.invalid, [o.line() for o in again.invalid]
    [kept_set] = rejected_sets(episode.journal.read(), derive(episode.journal.read()))
    assert kept_set.open_rows == 0


def test_the_valid_rows_go_in_one_journal_write(episode, monkeypatch):
    writes = []
    original = type(episode.journal).append_many
    monkeypatch.setattr(type(episode.journal), "append_many",
                        lambda self, items, by: writes.append([t for t, _ in items])
                        or original(self, items, by))
    run(episode, as_csv([*GOOD, BAD[0][0]]), "csv")
    assert writes == [[ENTRY_RECORDED] * len(GOOD), [IMPORT_REJECTED]]


@pytest.mark.parametrize(("data", "fmt", "words"), [
    (b"kind,form_id,heartrate\nvitals,DT-VTL3333333,80\n", "csv", "heartrate are not of the"),
    (b"form_id,page\n", "csv", "no `kind` column"),
    (b"kind,kind\nmar,mar\n", "csv", "kind more than once"),
    (b"", "csv", "empty"),
    ("kind\nnote\n".encode("utf-16"), "csv", "not UTF-8"),
    (b'[{"kind": "note",}]', "json", "line 1: not JSON"),
    (b'{"kind": "note"}', "json", "a JSON array of rows"),
])
def test_a_file_that_is_not_the_format_is_one_line_and_records_nothing(episode, data, fmt,
                                                                        words):
    before = episode.journal.read()
    with pytest.raises(ImportFileError, match=words):
        run(episode, data, fmt)
    assert episode.journal.read() == before


def test_json_rows_that_are_not_objects_or_hold_lists_are_told_by_their_line(episode):
    data = as_json([GOOD[0], "a note", dict(GOOD[6], line=2, heart_rate=[80, 82])])
    report = run(episode, data, "json")
    assert [o.line() for o in report.invalid] == [
        "line 16: row: not an object of fields",
        "line 17: heart_rate: a string, number or true/false is expected, not a list or "
        "object"]
    assert json.loads(data)[0]["kind"] == "mar" and report.count("recorded") == 1


def test_the_documented_examples_import_and_say_the_same(tmp_path):
    import re
    from pathlib import Path

    from reconcile.entries import entry_to_json

    doc = (Path(__file__).parent.parent / "docs" / "back-entry-format.md").read_text()
    got = {}
    for fmt in ("csv", "json"):
        [block] = re.findall(rf"```{fmt}\n(.*?)```", doc, re.S)
        ep, _ = new_episode(tmp_path / fmt)
        ep.journal.append("registry-collected", {"workstation": "ws-4W-1", "source": "s",
                                                 "records": FORMS, "seen": 5}, "clerk")
        report = run(ep, block.encode(), fmt)
        assert not report.invalid, [o.line() for o in report.invalid]
        got[fmt] = [entry_to_json(o.entry) for o in report.outcomes]
    assert got["csv"] == got["json"][:4] and len(got["json"]) == 5


def test_a_row_with_several_problems_names_each_column_first_found_first(episode):
    row = dict(BAD[2][0], dose="two", route=None, paper_time="soon")
    [outcome] = run(episode, as_csv([row]), "csv").invalid
    assert [p.field for p in outcome.problems] == ["written_by", "paper_time", "dose", "route"]
    assert outcome.line().startswith("line 2: written_by: initials 'ZZ' are not on the staff "
                                     "list of unit 4W (and paper_time, dose, route)")
