"""What a submission sends (reconcile/submit_plan.py) and what closing an episode asks
(reconcile/close.py), without a server: Bundles written to an outbox (plain JSON here, to
look inside; encrypted by default, tests/test_reconcile_submit_cli.py)."""

from __future__ import annotations

import json

import pytest

from reconcile.close import CloseError, close_episode, unaccounted
from reconcile.entries import Registration
from reconcile.episode import EpisodeClosed
from reconcile.state import derive
from reconcile.submit import ToOutbox, submit
from reconcile.submit_plan import plan_submission
from snapshots.audit import AuditLog
from tests import back_entry_data as data
from tests.reconcile_helpers import new_episode
from tests.submit_helpers import decide_registration, fill, mark_ready, transcribed


def bundles(folder) -> list[dict]:
    return [json.loads(f.read_bytes()) for f in sorted(folder.iterdir())]


def subjects(bundle: dict) -> set[str]:
    return {e["resource"]["subject"]["reference"] for e in bundle["entry"]
            if "subject" in e["resource"]}


def test_only_ready_entries_go_and_a_merged_chart_goes_to_the_survivor(tmp_path):
    episode, _ = new_episode(tmp_path / "rec")
    entries, pages = data.one_of_each("pat-old", "enc-old", seed=81)
    fill(episode, entries, pages, ready=False)
    mar, order, *rest = entries
    mark_ready(episode, rest)
    episode.journal.append("conflicts-checked", {"against": {}, "entries": [
        {"key": mar.key, "revision": 0, "conflicts": [
            {"code": "merged-chart", "reason": "pat-old was merged into pat-new"}]},
        {"key": order.key, "revision": 0, "conflicts": [
            {"code": "duplicate-order", "reason": "entered electronically since"}]}]},
        episode.who)
    episode.journal.append("conflict-decided", {
        "key": mar.key, "revision": 0, "code": "merged-chart", "decision": "accept",
        "reason": "the surviving chart", "person": "Dana Reyes", "retarget_to": "pat-new",
        "retarget_encounter": "enc-new"}, episode.who)
    plan = plan_submission(derive(episode.journal.read()), episode)
    assert [h.key for h in plan.held] == [order.key]
    assert "in conflict, waiting for a decision (duplicate-order)" in plan.held[0].why
    moved = next(e for e in plan.entries if e.key == mar.key)
    assert (moved.patient_id, moved.encounter_id) == ("pat-new", "enc-new")
    result = submit(episode, ToOutbox(tmp_path / "out", None), AuditLog(tmp_path / "a.log"))
    assert sorted(o.patient for o in result.outcomes) == ["Patient/pat-new", "Patient/pat-old"]
    by_patient = {o.patient: o for o in result.outcomes}
    assert by_patient["Patient/pat-new"].lines == 1
    assert {s for b in bundles(tmp_path / "out") for s in subjects(b)} == \
        {"Patient/pat-new", "Patient/pat-old"}


def test_a_downtime_patient_waits_for_the_registration_decision(tmp_path):
    episode, _ = new_episode(tmp_path / "rec")
    entries, pages = data.registration(mrn="DT600001", number="DTE600001", seed=82)
    fill(episode, entries, pages)
    plan = plan_submission(derive(episode.journal.read()), episode)
    assert not plan.entries and len(plan.held) == 2
    assert all("not linked nor created yet" in h.why for h in plan.held)
    decide_registration(episode, entries[0], "create")
    first = submit(episode, ToOutbox(tmp_path / "out", None), AuditLog(tmp_path / "a.log"))
    assert [o.patient for o in first.outcomes] == ["downtime MRN DT600001"]
    # a later entry for that patient goes with the registration again (creating nothing
    # twice: ifNoneExist), without its pages sent before
    more, _ = data.one_of_each("DT600001", "DTE600001", seed=83)
    fill(episode, more[:1], [])
    again = submit(episode, ToOutbox(tmp_path / "out2", None), AuditLog(tmp_path / "a.log"))
    [bundle] = bundles(tmp_path / "out2")
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("Encounter") == 1
    assert "DocumentReference" not in kinds  # the registration's pages went the first time
    assert again.outcomes[0].lines == 2
    state = derive(episode.journal.read())
    assert all(state.submissions.is_sent(e.key, e.revision) for e in entries + more[:1])
    assert any(isinstance(e, Registration) for e in state.entries.in_force())


def test_close_needs_every_issued_page_back_and_transcribed_or_lost(tmp_path):
    episode, _ = new_episode(tmp_path / "rec")
    entries, pages = data.one_of_each("pat-c", "enc-c", seed=84)
    fill(episode, entries, pages[:3])  # the note's page never came back
    note_form = pages[3].form_id
    episode.journal.append("registry-collected", {
        "workstation": "ws-4W-1", "source": "share", "seen": 1, "records": [
            {"form_id": note_form, "kind": "note", "patient_id": "pat-c",
             "encounter_id": "enc-c", "unit": "4W", "snapshot_id": "S1", "event": "printed",
             "at": "2026-11-24T07:00:00Z", "by": "rn", "detail": "", "pages": 1}]},
        episode.who)
    transcribed(episode, pages[:2])
    left = unaccounted(derive(episode.journal.read()))
    assert [(u.form_id, u.text.rsplit(": ", 1)[-1]) for u in left] == sorted(
        [(pages[2].form_id, "back, not transcribed"), (note_form, "not back")],
        key=lambda x: [p.form_id for p in pages].index(x[0]))
    with pytest.raises(CloseError) as refused:
        close_episode(episode, "done", "Lee Park")
    first, *listed = str(refused.value).splitlines()
    assert first.endswith("cannot be closed: 2 issued pages are not accounted for (back "
                          "and transcribed, or marked lost)")
    assert len(listed) == 2 and all(line.startswith("  4W: ") for line in listed)
    transcribed(episode, pages[2:3])
    episode.journal.append("page-lost", {"form_id": note_form, "page": None,
                                         "reason": "went with the patient", "person":
                                         "Jo Kim, RN"}, episode.who)
    with pytest.raises(CloseError, match="--by must say something"):
        close_episode(episode, "done", "  ")
    closed = close_episode(episode, "every page accounted for", "Lee Park")
    assert closed["pages"] == 4 and closed["entries"] == len(entries)
    with pytest.raises(CloseError, match="already closed"):
        close_episode(episode, "again", "Lee Park")
    with pytest.raises(EpisodeClosed, match="it takes no more submissions"):
        submit(episode, ToOutbox(tmp_path / "out", None), AuditLog(tmp_path / "a.log"))


def test_the_page_of_a_retargeted_entry_goes_with_it_to_the_survivor(tmp_path):
    # a vitals page of a chart merged since: its entry is retargeted on the person's
    # accepting the merge; the scanned page the Provenance points at goes along, not to the
    # chart merged away (found end to end: tests/test_backentry_e2e.py)
    episode, _ = new_episode(tmp_path / "rec")
    entries, pages = data.one_of_each("pat-old", "enc-old", seed=82)
    fill(episode, entries, pages)
    vitals = next(e for e in entries if e.kind == "vitals")
    episode.journal.append("conflicts-checked", {"against": {}, "entries": [
        {"key": vitals.key, "revision": 0, "conflicts": [
            {"code": "merged", "reason": "pat-old was merged into pat-new"}]}]}, episode.who)
    episode.journal.append("conflict-decided", {
        "key": vitals.key, "revision": 0, "code": "merged", "decision": "accept",
        "reason": "the surviving chart", "person": "Dana Reyes", "retarget_to": "pat-new"},
        episode.who)
    plan = plan_submission(derive(episode.journal.read()), episode)
    by_page = {(p.form_id, p.page): p.patient_id for p in plan.pages}
    assert by_page[(vitals.source.form_id, vitals.source.page)] == "pat-new"
    others = {(e.source.form_id, e.source.page) for e in entries if e is not vitals}
    assert {by_page[k] for k in others} == {"pat-old"}
    submit(episode, ToOutbox(tmp_path / "out", None), AuditLog(tmp_path / "a.log"))
    [survivor] = [b for b in bundles(tmp_path / "out") if "Patient/pat-new" in subjects(b)]
    assert subjects(survivor) == {"Patient/pat-new"}
    docs = [e["resource"] for e in survivor["entry"]
            if e["resource"]["resourceType"] == "DocumentReference"]
    assert [d["identifier"][0]["value"] for d in docs] == [
        f"{vitals.source.form_id}/p{vitals.source.page}"]


def test_a_page_nothing_is_typed_from_is_accounted_for_once_back(tmp_path):
    # the packet's census and face sheets are printed from the chart to be read: nobody
    # transcribes them (neither `reconcile enter` nor an import has a kind for them), so
    # back is enough; one not back is still waited for (found end to end:
    # tests/test_backentry_e2e.py, where a printed packet could not otherwise be closed)
    from reconcile.filing import Filer
    from tests.reconcile_helpers import Payload, page, record

    episode, _ = new_episode(tmp_path / "rec")
    forms = [("DT-CENSUS2222", "census", "", ""), ("DT-FACE222222", "facesheet", "p1", "e1"),
             ("DT-FACE333333", "facesheet", "p2", "e2")]
    episode.journal.append("registry-collected", {
        "workstation": "ws-4W-1", "source": "share", "seen": 3, "records": [
            record(f, kind, pat, enc, pages=1) for f, kind, pat, enc in forms]}, episode.who)
    Filer(episode).file_pages([page(f"{f}.png", Payload(f, kind, pat, enc, 1, 1))
                               for f, kind, pat, enc in forms[:2]])
    left = unaccounted(derive(episode.journal.read()))
    assert [(u.form_id, u.text.rsplit(": ", 1)[-1]) for u in left] == [
        ("DT-FACE333333", "not back")]
