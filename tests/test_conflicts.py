"""The conflict checks against a FHIR export folder: a seeded conflict of every kind (issue 12,
§4) found with its reason and no conflict where there is none; the run and the decisions
journaled and read back (Decisions.standing / ready); merged charts retargeted; decisions by
policy; bad input one line; nothing in plaintext on disk."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from reconcile.backentry import ToRecord, record_entries
from reconcile.conflict_decisions import (
    DecisionError,
    decide,
    decide_by_policy,
    edited,
    journal_check,
    open_by_patient,
    retarget_of,
)
from reconcile.conflict_settings import ConflictSettings, ConflictSettingsError
from reconcile.conflicts import CODES, check_conflicts
from reconcile.current_state import CurrentStateError, from_export
from reconcile.state import derive
from tests.conflict_data import STAFF, WORDS, episode_with_entries, write_export
from tests.reconcile_helpers import new_episode


@pytest.fixture
def seeded_episode(tmp_path):
    ep, state, cases = episode_with_entries(tmp_path)
    return ep, state, cases, from_export(write_export(tmp_path / "export"))


def test_every_seeded_conflict_is_found_with_its_reason_and_none_elsewhere(seeded_episode):
    _, state, cases, current = seeded_episode
    checked = check_conflicts(state, current, staff=STAFF)
    assert [c["key"] for c in checked] == [e.key for e, _ in cases]
    seen = set()
    for (entry, expected), got in zip(cases, checked, strict=True):
        codes = {c["code"] for c in got["conflicts"]}
        assert codes == expected, (entry.key, got["conflicts"])
        for c in got["conflicts"]:
            assert WORDS[c["code"]] in c["reason"], c["reason"]
            assert c["reason"].count(" — ") == 1  # who and what, then the problem
            seen.add(c["code"])
    assert seen == set(CODES)  # every kind seeded is found
    merged = next(c for item in checked for c in item["conflicts"] if c["code"] == "merged")
    assert merged["retarget_to"] == "p-alive"


def test_what_the_toolkit_sent_from_a_line_is_not_that_lines_duplicate(seeded_episode, tmp_path):
    # after submission the EHR holds the paper's own order and dose, by the line's identifier:
    # a check run again finds the line, not a second order or a dose charted twice
    _, state, cases, _ = seeded_episode
    heparin = next(e for e, _ in cases if e.kind == "order" and "Heparin" in e.drug.text)
    metop = next(e for e, want in cases if want == {"administration-duplicate"})
    sent = [{"resourceType": "MedicationRequest", "id": "mr-sent", "status": "active",
             "intent": "order", "medicationCodeableConcept": {"text": "Heparin 5000 units SC"},
             "identifier": [{"system": "urn:x-line", "value": heparin.key}],
             "subject": {"reference": "Patient/p-alive"},
             "encounter": {"reference": "Encounter/e-alive"},
             "authoredOn": heparin.paper_time.isoformat(),
             "dosageInstruction": [{"route": {"text": "SC"}, "doseAndRate": [
                 {"doseQuantity": {"value": 5000, "unit": "[iU]"}}]}]},
            {"resourceType": "MedicationAdministration", "id": "ma-sent", "status": "completed",
             "identifier": [{"system": "urn:x-line", "value": metop.key}],
             "medicationCodeableConcept": {"text": "Metoprolol tartrate 25 mg tablet"},
             "subject": {"reference": "Patient/p-alive"},
             "effectiveDateTime": metop.paper_time.isoformat(),
             "request": {"reference": "MedicationRequest/mr-metop"},
             "dosage": {"route": {"text": "Oral"}, "dose": {"value": 25, "unit": "mg"}}}]
    checked = _codes(state, _export_with(tmp_path / "after", sent))
    assert checked[heparin.key] == set()
    assert checked[metop.key] == {"administration-duplicate"}  # the EHR's own, still found
    # the same resources not made from these lines are what they were: duplicates
    for res in sent:
        res["identifier"][0]["value"] = "DT-ELSEWHERE/p1/l1"
    checked = _codes(state, _export_with(tmp_path / "other", sent))
    assert checked[heparin.key] == {"order-duplicate"}


def _export_with(folder, extra: list[dict]):
    """The seeded EHR export and `extra` resources besides."""
    write_export(folder)
    for res in extra:
        with (folder / f"{res['resourceType']}.ndjson").open("a") as f:
            f.write(json.dumps(res) + "\n")
    return folder


def _codes(state, folder) -> dict[str, set[str]]:
    return {c["key"]: {x["code"] for x in c["conflicts"]}
            for c in check_conflicts(state, from_export(folder), staff=STAFF)}


def test_an_allergy_left_on_a_merged_chart_is_the_survivors(seeded_episode, tmp_path):
    # the merge moved the chart but not the penicillin allergy: it still names p-old
    _, state, cases, _ = seeded_episode
    amoxicillin = next(e for e, want in cases if want == {"allergy"})
    folder = write_export(tmp_path / "merged")
    lines = (folder / "AllergyIntolerance.ndjson").read_text().splitlines()
    moved = [json.loads(line) for line in lines]
    for allergy in moved:
        allergy["patient"]["reference"] = "Patient/p-old"
    (folder / "AllergyIntolerance.ndjson").write_text(
        "".join(json.dumps(a) + "\n" for a in moved))
    checked = {c["key"]: c["conflicts"]
               for c in check_conflicts(state, from_export(folder), staff=STAFF)}
    [found] = checked[amoxicillin.key]
    assert found["code"] == "allergy" and "Penicillin G" in found["reason"]
    assert found["allergy_ids"] == ["al-pcn"] and found["reason"].count("Penicillin G") == 1


def test_windows_come_from_the_settings(seeded_episode):
    _, state, cases, current = seeded_episode
    narrow = ConflictSettings(duplicate_order_hours=1, duplicate_administration_minutes=1,
                              window_grace_minutes=4 * 60)
    checked = {c["key"]: {x["code"] for x in c["conflicts"]}
               for c in check_conflicts(state, current, narrow, STAFF)}
    codes = {code for v in checked.values() for code in v}
    # the EHR's pantoprazole is 6 h after the paper's; the EHR dose 6 min before the paper's
    assert "order-duplicate" not in codes and "administration-duplicate" not in codes
    early = next(e for e, want in cases if want == {"out-of-window"})
    assert checked[early.key] == set()  # 3 h before the start, within 4 h of grace


def test_a_check_run_and_decisions_are_journaled_and_read_back(seeded_episode):
    ep, state, cases, current = seeded_episode
    journal_check(ep.journal, state, current, "clerk@him-1", staff=STAFF)
    again = derive(ep.journal.read())
    [run] = [e for e in ep.journal.read() if e.type == "conflicts-checked"]
    assert run.data["against"]["source"] == "export"
    assert len(run.data["entries"]) == len(cases)
    clear = cases[0][0]
    assert again.decisions.standing(clear.key, 0) == "clear" and again.decisions.ready(
        clear.key, 0)
    dup = next(e for e, want in cases if want == {"order-duplicate"})
    assert again.decisions.standing(dup.key, 0) == "in-conflict"
    decide(ep.journal, again, dup.key, "order-duplicate", "reject", "already in the EHR",
           "Pat Lee, PharmD", "pharm@him-1")
    merged = next(e for e, want in cases if want == {"merged"})
    decide(ep.journal, again, merged.key, "merged", "accept", "same person, merged chart",
           "Dana Reyes", "clerk@him-1")
    mismatch = next(e for e, want in cases if want == {"dose-mismatch"})
    events = decide(ep.journal, again, mismatch.key, "dose-mismatch", "edit",
                    "misread 7500 for 5000", "Dana Reyes", "clerk@him-1",
                    ["dose=5000 [iU]"])
    assert [e.type for e in events] == ["entry-recorded", "conflict-decided"]
    assert events[-1].data["revision_to"] == 1
    assert events[0].data["via"] == "decision"  # typed by who decided, not at the TUI

    read = derive(ep.journal.read())  # all of it from the journal alone
    assert read.decisions.standing(dup.key, 0) == "rejected" and not read.decisions.ready(
        dup.key, 0)
    assert read.decisions.standing(merged.key, 0) == "decided"
    assert retarget_of(read, merged.key, 0) == "p-alive"
    assert read.decisions.decided[(dup.key, 0, "order-duplicate")]["person"] == \
        "Pat Lee, PharmD"
    corrected = read.entries.current(mismatch.key).entry
    assert corrected.revision == 1 and corrected.dose.value == 5000
    assert corrected.entered_by.name == "Dana Reyes" and corrected.entered_at > \
        mismatch.entered_at
    assert corrected.paper_time == mismatch.paper_time  # the paper's time stays the paper's
    assert read.decisions.standing(mismatch.key, 1) == "unchecked"
    # checked again, the corrected revision is clear; the rejected one stays rejected
    journal_check(ep.journal, read, current, "clerk@him-1", staff=STAFF)
    final = derive(ep.journal.read())
    assert final.decisions.standing(mismatch.key, 1) == "clear"
    assert final.decisions.standing(dup.key, 0) == "rejected"
    assert dup.key not in {c["key"] for items in open_by_patient(final).values()
                           for c in items}


def test_a_decision_on_a_conflict_that_is_not_open_is_refused_in_one_line(seeded_episode):
    ep, state, cases, current = seeded_episode
    dup = next(e for e, want in cases if want == {"order-duplicate"})
    with pytest.raises(DecisionError, match="not checked yet"):
        decide(ep.journal, state, dup.key, "order-duplicate", "reject", "x", "P", "w")
    journal_check(ep.journal, state, current, "w", staff=STAFF)
    clear = cases[0][0]
    bad = [((clear.key, "allergy", "accept", "ok", "P"), "has no open allergy conflict"),
           (("DT-AAAAAAAAAA/p1/l1", "allergy", "accept", "ok", "P"), "no such entry"),
           ((dup.key, "nonsense", "accept", "ok", "P"), "no conflict code 'nonsense'"),
           ((dup.key, "order-duplicate", "accept", " ", "P"), "needs its reason"),
           ((dup.key, "order-duplicate", "accept", "ok", ""), "the person"),
           ((dup.key, "order-duplicate", "maybe", "ok", "P"), "not accept, edit or reject"),
           ((dup.key, "order-duplicate", "edit", "ok", "P"), "needs FIELD=VALUE")]
    for args, words in bad:
        with pytest.raises(DecisionError, match=words) as e:
            decide(ep.journal, state, *args, "w")
        assert "\n" not in str(e.value)
    decide(ep.journal, state, dup.key, "order-duplicate", "reject", "dup", "P", "w")
    with pytest.raises(DecisionError, match="not open \\(decided reject by P\\)"):
        decide(ep.journal, state, dup.key, "order-duplicate", "accept", "x", "P", "w")
    entry = cases[0][0]
    for edits, words in ((["nope=1"], "no field nope"), (["dose"], "not FIELD=VALUE"),
                         (["dose=two mg"], "not a quantity"),
                         (["paper_time=yesterday"], "paper_time")):
        with pytest.raises(DecisionError, match=words):
            edited(entry, edits)


def test_decisions_by_policy(seeded_episode):
    ep, state, cases, current = seeded_episode
    journal_check(ep.journal, state, current, "w", staff=STAFF)
    events = decide_by_policy(ep.journal, state, "reject-duplicates", "Drill Lead", "w")
    assert {e.data["code"] for e in events} == {"order-duplicate", "order-completed",
                                                "administration-duplicate", "entered-twice"}
    assert all(e.data["decision"] == "reject" and e.data["policy"] == "reject-duplicates"
               for e in events)
    read = derive(ep.journal.read())
    left = {c["code"] for items in open_by_patient(read).values() for c in items}
    assert "allergy" in left and "order-duplicate" not in left
    decide_by_policy(ep.journal, read, "accept-all", "Drill Lead", "w")
    read = derive(ep.journal.read())
    assert open_by_patient(read) == {}
    merged = next(e for e, want in cases if want == {"merged"})
    assert retarget_of(read, merged.key, 0) == "p-alive"
    with pytest.raises(DecisionError, match="no decision policy 'yolo'"):
        decide_by_policy(ep.journal, read, "yolo", "x", "w")


def test_bad_export_and_settings_are_one_line(tmp_path):
    with pytest.raises(CurrentStateError, match="does not exist"):
        from_export(tmp_path / "nowhere")
    folder = write_export(tmp_path / "export")
    with (folder / "Patient.ndjson").open("a") as f:
        f.write("{not json\n")
    current = from_export(folder)
    assert len(current.faults) == 1 and "Patient.ndjson:" in current.faults[0]
    assert "p-alive" in current.patients
    for table, words in (({"duplicate_order_hours": -1}, "0 or more"),
                         ({"duplicate_order_hours": "1"}, "must be a number"),
                         ({"windows": 1}, "unknown key"), ([], "must be a table")):
        with pytest.raises(ConflictSettingsError, match=words):
            ConflictSettings.from_table(table, "downtime.toml")


def test_nothing_in_plaintext_on_disk(seeded_episode, tmp_path):
    ep, state, cases, current = seeded_episode
    journal_check(ep.journal, state, current, "w", staff=STAFF)
    decide_by_policy(ep.journal, state, "accept-none", "Drill Lead", "w")
    for path in (tmp_path / "episodes").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (b"ALVAREZ", b"Alvarez", b"MRN200001", b"Penicillin", b"p-alive"):
                assert secret not in data, path


def test_entries_of_a_downtime_registration_wait_for_its_link(tmp_path):
    from tests.back_entry_data import registration

    ep, _ = new_episode(tmp_path / "episodes")
    state = derive(ep.journal.read())
    entries, _ = registration()
    record_entries(ep.journal, state.entries, [ToRecord(e, "tui") for e in entries], "t")
    current = from_export(write_export(tmp_path / "export"))
    ehr = lambda: {c["code"] for item in check_conflicts(state, current)  # noqa: E731
                   for c in item["conflicts"]}
    before = ehr()
    assert "patient-unknown" not in before  # a new patient: not looked for in the EHR
    ep.journal.append("registration-decided", {
        "key": entries[0].key, "downtime_mrn": entries[0].patient_id, "decision": "link",
        "patient_id": "p-old", "grade": "certain", "person": "Dana Reyes"}, "t")
    state = derive(ep.journal.read())
    # linked to p-old: checked against that chart (merged since), the downtime encounter
    # number is the registration's own, not looked for
    assert ehr() - before == {"merged"}
    assert json.dumps(check_conflicts(state, current, now=entries[0].paper_time +
                                      timedelta(days=1))).count("future") == 0


def test_the_custody_lists_the_decision_that_corrected_a_line(seeded_episode):
    # an edit makes a new revision, which is the one in force: the conflict it decided (on
    # the revision before) stays in the custody's and the report's conflicts, with what was
    # corrected; an earlier revision's conflict nobody decided is not listed (found end to
    # end: tests/test_backentry_e2e.py)
    from reconcile.custody_entries import conflict_rows

    ep, state, cases, current = seeded_episode
    journal_check(ep.journal, state, current, "clerk@him-1", staff=STAFF)
    mismatch = next(e for e, want in cases if want == {"dose-mismatch"})
    decide(ep.journal, derive(ep.journal.read()), mismatch.key, "dose-mismatch", "edit",
           "misread 7500 for 5000", "Dana Reyes", "clerk@him-1", ["dose=5000 [iU]"])
    journal_check(ep.journal, derive(ep.journal.read()), current, "clerk@him-1", staff=STAFF)
    rows = [r for r in conflict_rows(derive(ep.journal.read())) if r["key"] == mismatch.key]
    assert [(r["revision"], r["code"], r["decision"]["decision"]) for r in rows] == [
        (0, "dose-mismatch", "edit")]
    assert rows[0]["decision"]["edits"] == ["dose=5000 [iU]"]
    assert rows[0]["decision"]["revision_to"] == 1
