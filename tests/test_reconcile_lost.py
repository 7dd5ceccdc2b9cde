"""Pages marked lost (reconcile.lost) and patients named as the paper names them
(reconcile.custody): a lost mark names the person and the reason, is counted apart from the
pages still missing, can be withdrawn, and a lost page that comes back is filed and said so.
Registry lines from before bed, name and MRN were kept still read."""

from __future__ import annotations

import base64
import json

import pyrage
import pytest
from rich.console import Console

from downtime.cli.reconcile_view import show_status
from forms.registry import read_registry
from reconcile.custody import custody
from reconcile.filing import Filer, FilingError
from reconcile.localtime import local_text
from reconcile.lost import mark_lost, withdraw_lost
from reconcile.state import derive, merge_records
from tests.reconcile_helpers import Payload, new_episode, page, record

MAR = "DT-MAR0000001"


def _filer(tmp_path, named: bool = True) -> Filer:
    ep, _ = new_episode(tmp_path / "rec")
    filer = Filer(ep)
    people = [("p1", "4W-005-B", "KAMINSKI, Nancy", "MRN1000002"),
              ("p2", "4W-001-A", "OKAFOR, James", "MRN1000001")]
    records = []
    for pid, bed, name, mrn in people:
        for form_id, kind, pages in ((f"DT-MAR000000{pid[1]}", "mar", 2),
                                     (f"DT-FAC000000{pid[1]}", "facesheet", 1)):
            r = record(form_id, kind, patient=pid, encounter=f"e{pid[1]}", pages=pages)
            if named:
                r.update(bed=bed, patient_name=name, mrn=mrn)
            records.append(r)
    event = filer.episode.journal.append("registry-collected", {
        "workstation": "ws-4W-1", "source": "x", "records": records, "seen": len(records)},
        "clerk@him-1")
    filer.state.apply(event)
    return filer


def _patient(filer: Filer, pid: str = "p1") -> dict:
    return custody(derive(filer.episode.journal.read()))["units"]["4W"]["patients"][pid]


def test_missing_pages_name_the_patient_as_the_paper_does_in_bed_order(tmp_path):
    filer = _filer(tmp_path)
    c = custody(filer.state)
    patients = c["units"]["4W"]["patients"]
    assert list(patients) == ["p2", "p1"]  # 4W-001-A before 4W-005-B
    p1 = patients["p1"]
    assert p1["label"] == "4W-005-B KAMINSKI, Nancy MRN1000002"
    assert "Downtime MAR 4W-005-B KAMINSKI, Nancy MRN1000002 page 2 of 2 (DT-MAR0000001)" \
        in p1["missing"]
    # --patient takes the MRN as the paper prints it, as well as the id
    by_mrn = custody(filer.state, patient="MRN1000002")["units"]["4W"]["patients"]
    assert list(by_mrn) == ["p1"]


def test_a_registry_without_names_falls_back_to_ids(tmp_path):
    filer = _filer(tmp_path, named=False)
    p1 = custody(filer.state)["units"]["4W"]["patients"]["p1"]
    assert p1["label"] == "p1"
    assert "Downtime MAR DT-MAR0000001 page 2 of 2" in p1["missing"]


def test_a_page_marked_lost_is_counted_apart_and_names_who_said_so(tmp_path):
    filer = _filer(tmp_path)
    done = mark_lost(filer, MAR, 2, "soaked, discarded on the unit", "Jane Doe RN")
    assert "marked lost: Downtime MAR 4W-005-B KAMINSKI, Nancy MRN1000002" in done.line
    events = [e for e in filer.episode.journal.read() if e.type == "page-lost"]
    assert [(e.data["person"], e.data["reason"], e.data["page"], e.by) for e in events] == [
        ("Jane Doe RN", "soaked, discarded on the unit", 2, "clerk@him-1")]
    p1 = _patient(filer)
    assert p1["pages_lost"] == 1 and p1["pages_missing"] == 2  # MAR p1, facesheet p1
    assert [x["text"] for x in p1["lost"]] == [
        "Downtime MAR 4W-005-B KAMINSKI, Nancy MRN1000002 page 2 of 2 (DT-MAR0000001)"]
    assert not any("page 2 of 2 (DT-MAR0000001)" in m for m in p1["missing"])
    t = custody(derive(filer.episode.journal.read()))["totals"]
    assert (t["pages_missing"], t["pages_lost"]) == (5, 1)


def test_a_lost_page_that_comes_back_is_filed_and_both_are_said(tmp_path):
    filer = _filer(tmp_path)
    mark_lost(filer, MAR, 2, "not on the unit", "Jane Doe RN")
    filer.file_pages([page("late.pdf", Payload(MAR, "mar", "p1", "e1", 2, 2))])
    p1 = _patient(filer)
    assert p1["pages_lost"] == 0 and p1["pages_back"] == 1
    back = p1["back_after_lost"]
    assert len(back) == 1 and back[0]["person"] == "Jane Doe RN" and \
        back[0]["back_where"] == "late.pdf"
    assert custody(derive(filer.episode.journal.read()))["totals"]["back_after_lost"] == 1


def test_a_whole_form_marked_lost_then_withdrawn(tmp_path):
    filer = _filer(tmp_path)
    filer.file_pages([page("s.pdf", Payload(MAR, "mar", "p1", "e1", 1, 2))])
    done = mark_lost(filer, MAR, None, "sent with the patient to ICU", "Sam Lee, charge RN")
    assert done.pages == (2,)  # page 1 is back: only page 2 is lost
    assert _patient(filer)["pages_lost"] == 1
    undone = withdraw_lost(filer, MAR, None, "marked on the wrong form", "Sam Lee, charge RN")
    assert "waited for again" in undone.line
    p1 = _patient(filer)
    assert p1["pages_lost"] == 0 and p1["pages_missing"] == 2
    types = [e.type for e in filer.episode.journal.read()]
    assert types[-2:] == ["page-lost", "lost-withdrawn"]  # both kept, nothing rewritten
    marks = custody(derive(filer.episode.journal.read()))["lost_marks"]
    assert [m["type"] for m in marks] == ["page-lost", "lost-withdrawn"]


@pytest.mark.parametrize(("args", "said"), [
    (("DT-NOPE000000", 1, "gone", "Jane Doe RN"), "is in no collected registry"),
    ((MAR, 3, "gone", "Jane Doe RN"), "DT-MAR0000001 has 2 pages, not a page 3"),
    ((MAR, 1, "gone", "  "), "--by: say it in words"),
    ((MAR, 1, "", "Jane Doe RN"), "--reason: say it in words"),
    ((MAR, 1, "gone", "x" * 600), "--by: 600 characters, 500 at most"),
])
def test_bad_lost_marks_are_one_line_and_nothing_written(tmp_path, args, said):
    filer = _filer(tmp_path)
    before = len(filer.episode.journal.read())
    with pytest.raises(FilingError, match=said.replace("(", r"\(")):
        mark_lost(filer, *args)
    assert len(filer.episode.journal.read()) == before


def test_a_page_back_cannot_be_marked_lost_and_an_unmarked_one_not_withdrawn(tmp_path):
    filer = _filer(tmp_path)
    filer.file_pages([page("s.pdf", Payload(MAR, "mar", "p1", "e1", 1, 2))])
    with pytest.raises(FilingError, match="page 1 of DT-MAR0000001 is back"):
        mark_lost(filer, MAR, 1, "gone", "Jane Doe RN")
    mark_lost(filer, MAR, 2, "gone", "Jane Doe RN")
    with pytest.raises(FilingError, match=r"DT-MAR0000001 is not marked lost \(marked: "
                                          r"page 2\)"):
        withdraw_lost(filer, MAR, None, "oops", "Jane Doe RN")


def test_the_terminal_status_shows_local_times_and_lost_pages(tmp_path):
    filer = _filer(tmp_path)
    mark_lost(filer, MAR, 2, "soaked", "Jane Doe RN")
    c = custody(derive(filer.episode.journal.read()))
    console = Console(width=80, record=True, force_terminal=False)
    show_status(c, console)
    text = console.export_text()
    assert "1 marked lost" in text and "pages marked lost (1)" in text
    assert "said by Jane Doe RN" in text
    assert "KAMINSKI, Nancy" in text
    assert local_text(c["window"]["start"], year=True) in text
    assert local_text(c["data_as_of"]) in text
    assert "T06:00" not in text and "Z)" not in text  # no raw ISO 8601
    assert c["window"]["start"].startswith("2026-11-24T06:00")  # JSON keeps ISO


def test_old_registry_lines_and_newer_ones_both_read(tmp_path):
    ident = pyrage.x25519.Identity.generate()
    old = {k: v for k, v in record("DT-OLD0000001").items()}  # no bed, name, MRN
    newer = dict(record("DT-NEW0000001"), bed="4W-005-B", patient_name="KAMINSKI, Nancy",
                 mrn="MRN1000002", ward_phone="x1234")  # a key a later version adds
    (tmp_path / "forms.log").write_bytes(b"".join(
        base64.b64encode(pyrage.encrypt(json.dumps(r).encode(), [ident.to_public()])) + b"\n"
        for r in (old, newer)))
    records = read_registry(tmp_path, [ident])
    assert (records[0].bed, records[0].mrn) == ("", "")
    assert (records[1].bed, records[1].patient_name) == ("4W-005-B", "KAMINSKI, Nancy")
    # and reconcile merges an old line without them
    filer = _filer(tmp_path / "ep", named=False)
    merge_records(filer.state, [old], "ws-4W-2")
    assert filer.state.forms["DT-OLD0000001"].person() == ""
