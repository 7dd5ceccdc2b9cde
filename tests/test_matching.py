"""Patient matching of downtime registrations, graded as $match grades, on synthetic
near-duplicates: a typo in the name, day and month swapped, the same name with another birth
date, twins, a duplicate chart, an identifier on the form. Nothing is ever decided here."""

from __future__ import annotations

from datetime import date

import pytest

from reconcile.entries import Address, Identifier
from reconcile.matching import MatchResult, match_locally, match_registration
from tests.back_entry_data import EHR_LOOKALIKES as EHR
from tests.back_entry_data import registered as registration


def grades(found) -> dict[str, str]:
    return {c.patient_id: c.grade for c in found}


def test_exact_name_birth_date_sex_and_address_is_certain_and_only_suggested():
    found = match_locally(registration("Smith", "Jonathan", date(1970, 3, 4)), EHR)
    assert grades(found) == {"p-smith": "certain"}
    result = MatchResult("x", "local", tuple(found))
    assert result.suggested is not None and result.suggested.patient_id == "p-smith"
    assert "same name" in found[0].reasons and "same address" in found[0].reasons


def test_a_typo_in_the_name_is_probable_never_certain():
    found = match_locally(registration("Smyth", "Jonathon", date(1970, 3, 4)), EHR)
    assert grades(found) == {"p-smith": "probable"}
    assert any(r.startswith("name alike") for r in found[0].reasons)
    assert MatchResult("x", "local", tuple(found)).suggested is None


def test_day_and_month_swapped_is_probable_and_said():
    found = match_locally(registration("Smith", "Jonathan", date(1970, 4, 3)), EHR)
    assert grades(found) == {"p-smith": "probable"}
    assert any("day and month swapped" in r for r in found[0].reasons)


def test_the_same_name_with_another_birth_date_is_only_possible():
    found = match_locally(registration("Garcia", "Maria", date(1983, 7, 12), "female",
                                       Address(line="4 Elm St", postal_code="40100")), EHR)
    assert grades(found) == {"p-garcia-1950": "possible"}
    assert any("birth date differs (1983-07-12 / 1950-01-01)" in r for r in found[0].reasons)


def test_twins_the_other_one_is_only_possible_and_said_to_be_a_twin():
    found = match_locally(registration("Okafor", "Amara", date(2001, 5, 6), "female"), EHR)
    assert grades(found) == {"p-twin-a": "certain", "p-twin-b": "possible"}
    twin = next(c for c in found if c.patient_id == "p-twin-b")
    assert any("twin or sibling" in r for r in twin.reasons)
    # with a typo in the twin's name: neither certain
    found = match_locally(registration("Okafor", "Amarra", date(2001, 5, 6), "female"), EHR)
    assert grades(found) == {"p-twin-a": "probable", "p-twin-b": "possible"}


def test_a_duplicate_chart_leaves_nothing_above_probable():
    copy = dict(EHR[0], id="p-smith-dup")
    found = match_locally(registration("Smith", "Jonathan", date(1970, 3, 4)), [*EHR, copy])
    assert grades(found) == {"p-smith": "probable", "p-smith-dup": "probable"}
    assert all(any("duplicate chart or a twin" in r for r in c.reasons) for c in found)
    assert MatchResult("x", "local", tuple(found)).suggested is None


def test_an_identifier_on_the_form_makes_a_close_name_certain_and_a_clash_holds_it_back():
    ssn = Identifier(system="urn:oid:2.16.840.1.113883.4.1", value="123-45-6789")
    found = match_locally(registration("Smyth", "Jonathan", date(1970, 3, 4), address=None,
                                       identifiers=(ssn,)), EHR)
    assert grades(found) == {"p-smith": "certain"}
    other = Identifier(system=ssn.system, value="999-99-9999")
    found = match_locally(registration("Smith", "Jonathan", date(1970, 3, 4),
                                       identifiers=(other,)), EHR)
    assert grades(found) == {"p-smith": "possible"}
    assert any("identifier of the same system differs" in r for r in found[0].reasons)


def test_someone_else_entirely_is_no_candidate_and_a_registration_without_pool_is_empty():
    assert match_locally(registration("Brown", "Peter", date(1999, 9, 19)), EHR) == []
    result = match_registration(registration("Brown", "Peter", date(1999, 9, 19)))
    assert result.via == "local" and result.candidates == ()


@pytest.mark.parametrize("sex", ["female"])
def test_a_sex_that_differs_holds_a_match_back(sex):
    found = match_locally(registration("Smith", "Jonathan", date(1970, 3, 4), sex), EHR)
    assert grades(found) == {"p-smith": "possible"}
    assert any("sex differs" in r for r in found[0].reasons)
