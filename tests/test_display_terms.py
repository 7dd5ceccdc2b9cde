"""What a nurse reads (issue 15): units as clinicians write them, short test names, blood
pressure as one reading, a continuous infusion's frequency, the census columns fitted to the
screen and sorted by the attending's surname. Plain functions: no screen, no PDF."""

from __future__ import annotations

from dataclasses import replace

import pytest

from downtime.tui.census_columns import census_cells, census_columns, surname
from downtime.tui.screens.census import SORTS
from snapshots import blood_pressure
from snapshots.allergy_status import AllergyStatus
from snapshots.chart import CODE_STATUS_MISSING, CensusRow, MedOrder, Observation
from snapshots.clinical_terms import dose_text, short_name, unit_text, vital_rank, with_unit


@pytest.mark.parametrize(("code", "shown"), [
    ("Cel", "°C"), ("[degF]", "°F"), ("mm[Hg]", "mmHg"), ("10*3/uL", "×10³/µL"),
    ("10*9/L", "×10⁹/L"), ("/min", "/min"), ("{beats}/min", "/min"), ("%", "%"),
    ("kg/m2", "kg/m²"), ("meq/L", "mEq/L"), ("umol/L", "µmol/L"), ("ug/mL", "mcg/mL"),
    ("U", "units"), ("[iU]", "units"), ("U/L", "units/L"), ("ug", "mcg"), ("{INR}", ""),
    ("{cells}", "cells"), (None, ""), ("", ""),
    # the source's own human-readable text is shown as it wrote it
    ("degrees C", "degrees C"), ("beats per minute", "beats per minute"),
])
def test_ucum_codes_are_shown_as_clinicians_write_them(code, shown):
    assert unit_text(code) == shown


def test_values_doses_and_rates_carry_the_written_unit():
    assert with_unit("37.4", "Cel") == "37.4 °C"
    assert with_unit("135/92", "mm[Hg]") == "135/92 mmHg"
    assert with_unit("1.1", "{INR}") == "1.1"  # a ratio has no unit to show
    assert with_unit("", "Cel") == ""
    # "U" is on the do-not-use lists (read as 0 or 4): insulin 4 U is "4 units"
    assert dose_text("4 U") == "4 units"
    assert dose_text("75 mL/h") == "75 mL/h"
    assert dose_text("250 ug") == "250 mcg"
    assert dose_text("1–2 {tbl}") == "1–2 tablet"
    assert dose_text("per sliding scale") == "per sliding scale"  # not a quantity: as is
    assert dose_text(None) == ""


@pytest.mark.parametrize(("code", "display", "name"), [
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "SpO2"),
    ("2708-6", "Oxygen saturation in Arterial blood", "SpO2"),
    ("6690-2", "Leukocytes [#/volume] in Blood", "WBC"),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "Hgb"),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "Na"),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "K"),
    ("8867-4", "Heart rate", "HR"), ("9279-1", "Respiratory rate", "RR"),
    ("8310-5", "Body temperature", "Temp"), ("85354-9", "Blood pressure panel", "BP"),
    ("777-3", "Platelets [#/volume] in Blood", "Plt"),
    # a code the table does not know keeps its own name, up to the LOINC property
    ("1234-5", "Ammonia [Moles/volume] in Plasma", "Ammonia"),
    (None, "Bedside glucose", "Bedside glucose"), ("", None, "?"),
])
def test_short_names_by_loinc_code(code, display, name):
    assert short_name(code, display) == name


def test_vital_signs_come_in_the_order_they_are_read_out():
    names = ["Weight", "SpO2", "Temp", "RR", "HR", "BP", "Something else"]
    assert sorted(names, key=vital_rank) == ["BP", "HR", "RR", "Temp", "SpO2", "Weight",
                                             "Something else"]


def _obs(oid: str, code: str, value: float, when: str = "2026-11-24T08:00:00Z",
         flag: str | None = "N", restricted: bool = False,
         reference: str | None = None) -> Observation:
    return Observation(oid, code, code, f"{value:g}", value, "mm[Hg]", when, reference, flag,
                       restricted)


def test_blood_pressure_panel_components_are_one_reading():
    rows = [_obs("bp1#0", blood_pressure.SYSTOLIC, 135, reference="90–140"),
            _obs("hr1", "8867-4", 77),
            _obs("bp1#1", blood_pressure.DIASTOLIC, 92, flag="H", reference="60–90")]
    out = blood_pressure.paired(rows)
    assert [o.code for o in out] == [blood_pressure.PANEL, "8867-4"]
    bp = out[0]
    assert (bp.id, bp.value, bp.value_num, bp.flag, bp.reference) == \
        ("bp1", "135/92", 135, "H", "90–140/60–90")  # the worse flag; systolic for trends
    assert f"{short_name(bp.code, bp.display)} {with_unit(bp.value, bp.unit)}" == \
        "BP 135/92 mmHg"


def test_separate_readings_taken_at_the_same_time_are_paired_and_no_others():
    rows = [_obs("s2", blood_pressure.SYSTOLIC, 150, "2026-11-24T12:00:00Z"),
            _obs("d2", blood_pressure.DIASTOLIC, 88, "2026-11-24T12:00:00Z", restricted=True),
            _obs("s1", blood_pressure.SYSTOLIC, 140, "2026-11-24T08:00:00Z"),
            _obs("d0", blood_pressure.DIASTOLIC, 70, "2026-11-24T04:00:00Z")]
    out = blood_pressure.paired(rows)
    assert [(o.id, o.value) for o in out] == [("s2", "150/88"), ("s1", "140"), ("d0", "70")]
    assert out[0].restricted  # either half restricted: the reading is
    assert [short_name(o.code, o.display) for o in out] == ["BP", "Systolic BP",
                                                            "Diastolic BP"]


def test_two_panels_taken_at_once_keep_their_own_halves():
    rows = [_obs("a#0", blood_pressure.SYSTOLIC, 120), _obs("b#0", blood_pressure.SYSTOLIC, 160),
            _obs("b#1", blood_pressure.DIASTOLIC, 95), _obs("a#1", blood_pressure.DIASTOLIC, 80)]
    assert [o.value for o in blood_pressure.paired(rows)] == ["120/80", "160/95"]


def _order(**kw) -> MedOrder:
    base = dict(id="m1", medication="Heparin 25,000 units in D5W 250 mL", dose=None,
                rate="18 mL/h", route="Intravenous",
                frequency="Heparin 25,000 units in D5W 250 mL intravenous", times=(),
                prn=False, prn_reason=None, iv=True, status="active", status_note=None,
                instructions="Heparin 25,000 units in D5W 250 mL intravenous",
                prescriber=None, authored_at=None, last_given=None)
    return MedOrder(**{**base, **kw})


def test_a_continuous_infusion_says_continuous_not_its_drug_text():
    heparin = _order()
    assert heparin.continuous and heparin.frequency_text == "continuous"
    # an order text that says more than the drug and route is kept beside it
    titrated = _order(instructions="Heparin 25,000 units in D5W 250 mL IV, titrate to aPTT",
                      frequency="Heparin 25,000 units in D5W 250 mL IV, titrate to aPTT")
    assert titrated.frequency_text.startswith("continuous — ") and "aPTT" in \
        titrated.frequency_text
    # a scheduled order, or one with a rate and a frequency of its own, is not continuous
    timed = _order(rate="100 mL/h", frequency="Q8H", times=("06:00", "14:00", "22:00"))
    assert not timed.continuous and timed.frequency_text == "Q8H"
    pill = _order(medication="Metoprolol", rate=None, dose="25 mg", frequency="BID")
    assert not pill.continuous and pill.frequency_text == "BID"


@pytest.mark.parametrize(("attending", "name"), [
    ("Dr. Minh Lindqvist", "Lindqvist"), ("Lindqvist, Minh", "Lindqvist"),
    ("Minh Lindqvist, MD", "Lindqvist"), ("Minh Lindqvist MD", "Lindqvist"),
    ("van der Berg, Anna", "van der Berg"), ("", ""), (None, ""),
])
def test_the_attendings_surname(attending, name):
    assert surname(attending) == name


def _row(n: int, name: str, attending: str | None = "Dr. Ada Quill",
         code: str | None = "Full code", isolation: str | None = None,
         alert: bool = False) -> CensusRow:
    return CensusRow(
        encounter_id=f"e{n}", patient_id=f"p{n}", unit="4W", room=None, bed=f"4W-{n:03d}-A",
        name=name, age="53y", sex="F", mrn=f"MRN{1000000 + n}", birth_date=None,
        attending=attending, allergy=AllergyStatus((), "nka"), code_status=code,
        isolation=isolation, fall_risk=None, name_alert=alert, admitted_at=None,
        deceased=False, encounter_class=None)


WARD = [_row(1, "KAMINSKI, Jennifer", "Dr. Donna Fernandes", "DNR — comfort care",
             "Airborne isolation (TB rule-out)"),
        _row(2, "SMITH, John", "Dr. Minh Lindqvist", None, "Contact isolation (MRSA)",
             alert=True),
        _row(3, "ŁUKASIEWICZ, Björn", "Dr. Zoë Walker", "Full code", "Droplet isolation"),
        _row(4, "ABE, Kenji", "Dr. Sarah Larsen", "DNR/DNI")]


def _cells(width: int) -> list[list[str]]:
    widths = [w for _, w in census_columns(width, WARD)]
    return [[str(c) for c in census_cells(r, widths)] for r in WARD]


def test_at_120_columns_names_attendings_code_status_and_isolation_are_not_cut():
    columns = census_columns(120, WARD)
    assert sum(w for _, w in columns) + len(columns) <= 120 - 2  # a blank each, a scroll bar
    assert [t for t, _ in columns] == ["Bed", "Name", "Age", "MRN", "Attending", "Alg",
                                       "Code status", "Isolation"]
    first, second = _cells(120)[:2]
    assert first[1] == "KAMINSKI, Jennifer" and first[4] == "Dr. Donna Fernandes"
    # the isolation's kind and reason ("isolation" is the column's title)
    assert first[6] == "DNR — comfort care" and first[7] in (
        "Airborne isolation (TB rule-out)", "Airborne (TB rule-out)")
    assert "…" not in "".join("".join(c) for c in _cells(120))
    assert second[1] == "⚠SMITH, John" and second[6] == CODE_STATUS_MISSING


def test_at_80_columns_the_name_is_whole_before_anything_else():
    columns = census_columns(80, WARD)
    assert sum(w for _, w in columns) + len(columns) <= 80 - 2
    widths = dict(zip(("bed", "name", "age", "mrn", "att", "alg", "code", "iso"),
                      (w for _, w in columns), strict=True))
    assert widths["name"] >= len("KAMINSKI, Jennifer")
    cells = _cells(80)
    assert cells[0][1] == "KAMINSKI, Jennifer"
    # a missing code status keeps its one wording; the others take their short forms
    assert cells[1][6] == CODE_STATUS_MISSING and widths["code"] >= len(CODE_STATUS_MISSING)
    assert cells[0][6] in ("DNR — comfort care", "DNR")
    assert all(len(c[7]) <= widths["iso"] or c[7].startswith(("Airborne", "Contact"))
               for c in cells)


def test_a_long_name_is_whole_at_80_columns_and_a_too_long_one_leaves_every_column_a_place():
    long_name = "KAMINSKI-WOJCIECHOWSKA, Jennifer"  # 32: what 80 columns can give a name
    columns = census_columns(80, [*WARD, _row(8, long_name)])
    assert dict(columns)["Name"] >= len(long_name)
    assert sum(w for _, w in columns) + len(columns) <= 78
    rows = [*WARD, _row(9, "WOLFESCHLEGELSTEINHAUSENBERGERDORFF, Hubert Blaine Maria Olga")]
    columns = census_columns(80, rows)
    assert sum(w for _, w in columns) + len(columns) <= 78
    assert all(w >= 3 for _, w in columns)


def test_sorted_by_attending_is_by_surname():
    key = dict(SORTS)["attending"]
    rows = [_row(1, "A", "Dr. Zoë Walker"), _row(2, "B", "Dr. Amanda Jones"),
            _row(3, "C", "Lindqvist, Minh"), _row(4, "D", None), _row(5, "E", "Dr. Yara Adams")]
    assert [r.name for r in sorted(rows, key=key)] == ["E", "B", "C", "A", "D"]


def test_census_rows_and_headers_say_the_missing_code_status_in_one_wording():
    row = replace(WARD[0], code_status=None)
    assert row.code_status_text == CODE_STATUS_MISSING == "not recorded"


def test_a_panel_keeps_its_halves_beside_a_lone_systolic_taken_at_the_same_time():
    rows = [_obs("lone", blood_pressure.SYSTOLIC, 150), _obs("p#1", blood_pressure.DIASTOLIC, 92),
            _obs("p#0", blood_pressure.SYSTOLIC, 135)]
    assert [o.value for o in blood_pressure.paired(rows)] == ["150", "135/92"]
