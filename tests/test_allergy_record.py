"""What a patient's allergy record becomes in a real build: each "no known ... allergy" as
what it is (NKDA is not NKA), and an allergy whose record is broken kept with whatever text it
has and a warning, never unnamed without one, never a crash."""

from __future__ import annotations

import json

import pytest

from snapshots import chart
from tests.fhir_source import RXNORM, SNOMED, allergy, build, inpatient, unit, write
from tests.shared import SAMPLES

HL7 = SAMPLES / "hl7-examples"


def _example(name: str) -> dict:
    return json.loads((HL7 / f"AllergyIntolerance-{name}.json").read_text())


def _gaps(db, reason: str) -> list[tuple]:
    return db.execute("SELECT patient_id, resource_id, detail FROM gaps WHERE reason = ?",
                      (reason,)).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("allergies")
    resources = [*unit()]
    people = [("mom", "Nkahome", "Ada", "A"), ("example", "Chalmers", "Peter", "B"),
              ("nkda", "Drugfree", "Ben", "C"), ("nkda-food", "Peanut", "Cleo", "D"),
              ("nkda-pcn", "Merged", "Dora", "E"), ("broken", "Broken", "Egon", "F"),
              ("texts", "Textual", "Fay", "G"), ("nothing", "Unknown", "Gus", "H")]
    for pid, family, given, bed in people:
        resources += inpatient(pid, family, given, bed)
    # the official HL7 R4 examples, as published: NKA and NKDA for "mom"; a latex NK
    # statement, a penicillin G (RxNorm) and a cashew (food) allergy for "example"
    resources += [_example(n) for n in ("nka", "nkda", "nkla", "medication", "example")]
    nkda = (SNOMED, "409137002", "No known drug allergy")
    resources += [
        allergy("al-nkda", "nkda", nkda),
        allergy("al-nkda2", "nkda-food", nkda),
        allergy("al-peanut", "nkda-food", (SNOMED, "91935009", "Peanut"), category=["food"]),
        allergy("al-nkda3", "nkda-pcn", nkda),
        allergy("al-pcn", "nkda-pcn", (RXNORM, "7980", "Penicillin G"),
                category=["medication"]),
        # broken shapes: a plain string where a CodeableConcept belongs, a number for a code
        allergy("al-str", "broken", "Sulfa drugs", criticality=3,
                reaction=[{"manifestation": ["hives"], "severity": "very bad"}]),
        allergy("al-list", "broken", [{"text": "Latex"}], category=["skin"]),
        allergy("al-num", "broken", 12345),
        allergy("al-nocode", "broken", None, reaction=[{"manifestation": [{"text": "rash"}]}]),
        allergy("al-noname", "broken", {"coding": [{"system": SNOMED, "code": "91936005"}]}),
        allergy("al-status", "broken", {"text": "Shellfish"}, clinicalStatus="active",
                verificationStatus=["confirmed"]),
        # free text instead of a code
        allergy("al-text", "texts", {"text": "NKDA"}),
        allergy("al-text2", "texts", {"text": "No known food allergies"}),
    ]
    return build(write(folder, resources)).conn


def test_nka_and_nkda_of_the_hl7_examples(built):
    mom = chart.header(built, "mom").allergy
    assert mom.kind == "nka" and mom.scopes == ("all", "drug")
    assert mom.summary == "No known allergies" and mom.marker == "NKA"
    nkda = chart.header(built, "nkda").allergy
    assert nkda.kind == "nka" and nkda.scopes == ("drug",)
    assert nkda.no_known_text == "No known drug allergies"
    assert nkda.marker == "NKDA"
    # what NKDA leaves open is said, not implied
    assert nkda.open_text == "nothing recorded about food or environmental allergies"
    assert "No known allergies" not in nkda.summary


def test_latex_statement_beside_allergies_it_does_not_cover(built):
    example = chart.header(built, "example").allergy
    assert example.kind == "allergies"
    names = [a.substance for a in example.allergies]
    assert "Penicillin G" in names and "Cashew nuts" in names
    assert example.scopes == ("latex",)  # a penicillin or cashew allergy says nothing of latex
    assert example.summary.endswith("; No known latex allergies")
    assert example.marker == "ALG"


def test_nkda_beside_a_food_allergy_is_no_conflict(built):
    status = chart.header(built, "nkda-food").allergy
    assert [a.substance for a in status.allergies] == ["Peanut"]
    assert status.no_known_text == "No known drug allergies"
    assert not [g for g in _gaps(built, "warning:allergy-conflict") if g[0] == "nkda-food"]


def test_nkda_beside_a_drug_allergy_shows_the_allergy_only(built):
    status = chart.header(built, "nkda-pcn").allergy
    assert [a.substance for a in status.allergies] == ["Penicillin G"]
    assert status.scopes == () and "No known" not in status.summary
    conflict = [g for g in _gaps(built, "warning:allergy-conflict") if g[0] == "nkda-pcn"]
    assert conflict and "no known drug allergies" in conflict[0][2]


def test_a_broken_allergy_keeps_its_text_and_says_what_is_unreadable(built):
    items = {a.id: a for a in chart.header(built, "broken").allergy.items}
    sulfa = items["al-str"]
    assert sulfa.substance == "Sulfa drugs"  # the text the record has, not "(unnamed)"
    assert sulfa.criticality is None and sulfa.reaction == "hives"
    assert "criticality '3'" in sulfa.warning and "plain text" in sulfa.warning
    assert "reaction.severity 'very bad'" in sulfa.warning
    assert items["al-list"].substance == "Latex" and "a list" in items["al-list"].warning
    assert "category 'skin'" in items["al-list"].warning
    assert items["al-num"].substance == "12345" and "JSON int" in items["al-num"].warning
    # no code at all: the substance is not made up, and the chart says it is missing
    assert items["al-nocode"].substance == chart.allergy_status_module.UNNAMED
    assert items["al-nocode"].warning == "record partly unreadable: no substance recorded"
    assert "91936005 without a name" in items["al-noname"].warning
    assert items["al-noname"].substance == chart.allergy_status_module.UNNAMED
    shellfish = items["al-status"]  # status as text: read; an unreadable one never hides it
    assert shellfish.substance == "Shellfish" and "clinicalStatus is plain text" in \
        shellfish.warning
    assert all(a.warning for a in items.values() if a.id != "al-status") and \
        shellfish.warning
    gaps = {rid for _, rid, _ in _gaps(built, "warning:unreadable-allergy")}
    assert {"al-str", "al-list", "al-num", "al-nocode", "al-noname", "al-status"} <= gaps
    assert ("broken", "al-nocode") in {(p, r) for p, r, _ in
                                       _gaps(built, "warning:missing-substance")}


def test_free_text_no_known_statements(built):
    status = chart.header(built, "texts").allergy
    assert status.kind == "nka" and status.scopes == ("drug", "food")
    assert status.no_known_text == "No known drug or food allergies"
    assert status.marker == "NKDA+"
    assert {r for _, r, _ in _gaps(built, "warning:no-known-free-text")} >= {"al-text",
                                                                            "al-text2"}


def test_no_allergy_record_is_no_information(built):
    status = chart.header(built, "nothing").allergy
    assert status.kind == "unknown" and status.marker == "???"
    assert status.summary == chart.NO_ALLERGY_INFO


def test_census_rows_agree_with_the_header(built):
    from downtime.tui.session import census_rows

    for row in census_rows(built):
        assert row.allergy == chart.header(built, row.patient_id).allergy
    assert [r.allergy for r in census_rows(built)] == [r.allergy for r in chart.census(built)]


def test_a_snapshot_of_schema_2_still_reads(tmp_path):
    """A workstation may open a snapshot built before schema 3 (no no_known_scope,
    unreadable, record_status): the scope comes from the stored code, nothing breaks."""
    from downtime.tui.session import census_rows

    folder = write(tmp_path / "src", [*unit(), *inpatient("p1", "Old", "Ann", "A"),
                                      allergy("al-1", "p1", (SNOMED, "409137002", "NKDA"))])
    db = build(folder).conn
    for table, column in (("allergies", "no_known_scope"), ("allergies", "unreadable"),
                          ("gaps", "record_status")):
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    status = chart.header(db, "p1").allergy
    assert status.marker == "NKDA" and status.no_known_text == "No known drug allergies"
    assert census_rows(db)[0].allergy == status
    assert chart.not_loaded(db, "p1") == ()
