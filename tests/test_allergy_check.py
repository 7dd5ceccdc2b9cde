"""The allergy-against-order reminder on a real build: by ingredient, by class, by related
class, RxNorm codes where the record has them and ingredient names otherwise; what it cannot
check is said, and bad input never breaks it."""

from __future__ import annotations

import pytest

from snapshots import chart, drug_classes
from snapshots.allergy_check import DISCLAIMER, read
from tests.fhir_source import RXNORM, SNOMED, allergy, build, inpatient, order, unit, write
from tests.shared import ROOT


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    resources = [*unit()]
    for pid, bed in (("pcn", "A"), ("sulfa", "B"), ("opioid", "C"), ("asa", "D"),
                     ("nkda", "E"), ("none", "F"), ("macrolide", "G"), ("odd", "H"),
                     ("ery", "J")):
        resources += inpatient(pid, pid.capitalize(), "Test", bed)
    resources += [
        # the HL7 example's coding (RxNorm 7980 Penicillin G) and the demo's pip-tazo order
        allergy("al-pcn", "pcn", (RXNORM, "7980", "Penicillin G"), category=["medication"]),
        order("mr-zosyn", "pcn", "Piperacillin-tazobactam 3.375 g IV", "1659149"),
        order("mr-cefazolin", "pcn", "Cefazolin 1 g IV"),
        order("mr-metoprolol", "pcn", "Metoprolol tartrate 25 mg tablet", "866514"),
        order("mr-amox-old", "pcn", "Amoxicillin 500 mg capsule", status="stopped"),
        allergy("al-sulfa", "sulfa", {"text": "Sulfa drugs"}),
        order("mr-smx", "sulfa", "Sulfamethoxazole 800 mg / trimethoprim 160 mg tablet"),
        order("mr-furosemide", "sulfa", "Furosemide 40 mg tablet", "310798"),
        allergy("al-codeine", "opioid", (RXNORM, "2670", "Codeine"), category=["medication"]),
        order("mr-oxy", "opioid", "Oxycodone 5 mg tablet", "1049221", status="on-hold"),
        allergy("al-asa", "asa", {"text": "aspirin"}),
        order("mr-asa", "asa", "Aspirin 81 mg chewable tablet"),
        order("mr-pcn", "asa", "Penicillin 500 mg"),  # names a class, not an ingredient
        allergy("al-nkda", "nkda", (SNOMED, "409137002", "No known drug allergy")),
        order("mr-zosyn2", "nkda", "Piperacillin-tazobactam 3.375 g IV"),
        order("mr-zosyn3", "none", "Piperacillin-tazobactam 3.375 g IV"),
        allergy("al-ery", "macrolide", (RXNORM, "4053", "Erythromycin"),
                category=["medication"]),
        allergy("al-peanut", "macrolide", (SNOMED, "91935009", "Peanut"), category=["food"]),
        order("mr-x", "macrolide", "Pantoprazole 40 mg tablet"),
        # a drug allergy outside the class table: orders of that very drug are still found
        allergy("al-ery2", "ery", (RXNORM, "4053", "Erythromycin"), category=["medication"]),
        order("mr-ery", "ery", "Erythromycin 250 mg tablet"),
        order("mr-ees", "ery", "E.E.S. 400 filmtab", "4053"),  # a brand name, coded
        order("mr-azithro", "ery", "Azithromycin 500 mg tablet"),  # a macrolide: no class
        # bad input: a code that is a number, an order without a usable medication
        allergy("al-odd", "odd", "Penicillin", criticality=3),  # code as plain text
        order("mr-odd", "odd", "", medicationCodeableConcept={"coding": "7980"}),
        order("mr-odd2", "odd", "Ampicillin 1 g IV", medicationCodeableConcept=[
            {"text": "Ampicillin 1 g IV"}]),
    ]
    return build(write(folder, resources)).conn


def _found(db, pid):
    return {c.order_id: c for c in chart.allergy_check(db, pid).conflicts}


def test_penicillin_allergy_against_piperacillin_and_cefazolin(db):
    found = _found(db, "pcn")
    assert set(found) == {"mr-zosyn", "mr-cefazolin"}  # not metoprolol, not a stopped order
    zosyn = found["mr-zosyn"]
    assert zosyn.basis == "class" and zosyn.substance == "Penicillin G"
    assert zosyn.why == "piperacillin is a penicillin, as is penicillin G (same class)"
    assert zosyn.how == "order by name, allergy RxNorm 7980"
    assert zosyn.text.startswith("Piperacillin-tazobactam 3.375 g IV — allergy: Penicillin G")
    cefazolin = found["mr-cefazolin"]
    assert cefazolin.basis == "related class" and "about 1-2%" in cefazolin.why


def test_sulfa_allergy_flags_the_antibiotic_not_furosemide(db):
    found = _found(db, "sulfa")
    assert set(found) == {"mr-smx"}
    assert found["mr-smx"].why.endswith("the allergy is to sulfonamide antibiotics (same class)")
    assert found["mr-smx"].how == "matched by name"


def test_codeine_allergy_and_a_held_oxycodone_order(db):
    (conflict,) = _found(db, "opioid").values()
    assert conflict.order_id == "mr-oxy" and conflict.on_hold and conflict.basis == "class"
    assert "oxycodone is an opioid, as is codeine" in conflict.why
    assert conflict.short == "Oxycodone 5 mg tablet (ON HOLD) — allergy: Codeine (same class: " \
                             "opioids)"


def test_same_ingredient_and_a_class_named_order(db):
    found = _found(db, "asa")
    assert found["mr-asa"].basis == "ingredient"
    assert "pcn" not in found and "mr-pcn" not in found  # aspirin allergy, penicillin order


def test_what_cannot_be_checked_is_said(db):
    nkda = chart.allergy_check(db, "nkda")
    assert nkda.conflicts == () and nkda.state == "no-known-allergies"
    none = chart.allergy_check(db, "none")
    assert none.state == "no-allergy-information"
    assert none.summary == "Allergy check not possible: no allergy information recorded."
    macrolide = chart.allergy_check(db, "macrolide")
    assert macrolide.conflicts == () and macrolide.unplaced == ("Erythromycin",)
    assert "Not in the check's class table (checked by name and code only): Erythromycin." \
        in macrolide.summary  # peanut: not a drug
    assert "not a pharmacy system" in DISCLAIMER


def test_a_drug_allergy_outside_the_table_still_finds_that_very_drug(db):
    found = _found(db, "ery")
    assert set(found) == {"mr-ery", "mr-ees"}  # azithromycin: a class the table lacks
    assert found["mr-ery"].basis == "same drug" and found["mr-ery"].how == "matched by name"
    assert found["mr-ery"].why == "names Erythromycin, the allergy's substance"
    assert found["mr-ees"].how == "RxNorm 4053"
    assert found["mr-ery"].short == "Erythromycin 250 mg tablet — allergy: Erythromycin " \
                                    "(same drug)"
    assert chart.allergy_check(db, "ery").unplaced == ("Erythromycin",)  # no class checks


def test_bad_input_is_checked_as_far_as_it_can_be_read(db):
    # an allergy whose code is plain text and an order whose concept is a list are still
    # read; an order named by nothing is passed over, not a crash
    assert chart.header(db, "odd").allergy.allergies[0].substance == "Penicillin"
    found = _found(db, "odd")
    assert set(found) == {"mr-odd2"}
    assert found["mr-odd2"].why == ("ampicillin is a penicillin; the allergy is to penicillins "
                                    "(same class)")


def test_class_table_is_consistent_and_documented():
    seen: dict[str, str] = {}
    for group in drug_classes.CLASSES:
        for ingredient in group.ingredients:
            assert ingredient not in seen, f"{ingredient} in {seen.get(ingredient)} and " \
                                           f"{group.key}"
            seen[ingredient] = group.key
            assert read(ingredient).ingredients == (ingredient,)
    for code, ingredients in drug_classes.RXNORM_INGREDIENTS.items():
        assert any(i in drug_classes.CLASS_OF for i in ingredients), code
        assert read(None, RXNORM, code).how == f"RxNorm {code}"
    doc = (ROOT / "docs" / "allergy-check.md").read_text()
    for group in drug_classes.CLASSES:
        assert group.name in doc
        for ingredient in group.ingredients:
            assert ingredient in doc, f"docs/allergy-check.md does not list {ingredient}"
    for code in drug_classes.RXNORM_INGREDIENTS:
        assert f"`{code}`" in doc, f"docs/allergy-check.md does not list RxNorm {code}"
