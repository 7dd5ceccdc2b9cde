"""Transcription files for the bulk-import tests, as a site's spreadsheet would save them: every
kind of entry, and bad rows of many kinds with the column and reason each must be told by."""

from __future__ import annotations

import csv
import io
import json

from reconcile.import_format import COLUMNS
from reconcile.staff import StaffList
from tests.reconcile_helpers import record

MAR, RX, VTL, NTE, REG = ("DT-MAR3333333", "DT-RX33333333", "DT-VTL3333333", "DT-NTE3333333",
                          "DT-REG3333333")
FORMS = [record(MAR, "mar", "pat-1", "enc-1"), record(RX, "orders", "pat-1", "enc-1"),
         record(VTL, "vitals", "pat-1", "enc-1"), record(NTE, "note", "pat-1", "enc-1"),
         record(REG, "registration", "DT900001", "DTE900001")]
STAFF = StaffList.from_table({
    "4W": [{"initials": "AB", "name": "Alice Brown", "role": "RN", "practitioner_id": "prac-1"},
           {"initials": "CD", "name": "Carl Dunn"}, {"initials": "C.D.", "name": "Cy Day"}],
    "*": [{"initials": "JS", "name": "Dr. Jane Smith", "practitioner_id": "prac-9"}]}, "t")
STAFF_TOML = ('[reconcile.staff]\n4W = [{initials = "AB", name = "Alice Brown", '
              'practitioner_id = "prac-1"}, {initials = "CD", name = "Carl Dunn"}, '
              '{initials = "C.D.", name = "Cy Day"}]\n'
              '"*" = [{initials = "JS", name = "Dr. Jane Smith"}]\n')

T = "2026-11-24T08:00"  # local time, as a clerk types it from the paper
GOOD = [  # every kind (the values as a spreadsheet holds them)
    dict(kind="mar", form_id=MAR, page=1, line=1, written_by="AB", paper_time=T,
         order_id="mr-1", drug="Metoprolol 25 mg PO", rxnorm="866924", dose=" 25 ", dose_unit="mg",
         route="PO"),
    dict(kind="mar", form_id=MAR, page=1, line=2, written_by="a.b.", paper_time="2026-11-24T09:00",
         drug="Ceftriaxone", dose=1, dose_unit="g", route="IV", outcome="held",
         reason="NPO for procedure", order_line=f"{RX}/p1/l1"),
    dict(kind="mar", form_id=MAR, page=1, line=3, written_by="AB", paper_time="2026-11-24T10:15",
         drug="Morphine", dose=2, dose_unit="mg", route="IV", prn=True, prn_reason="pain 7/10",
         order_line=f"{RX}/p1/l2", performer="JS"),
    dict(kind="mar", form_id=MAR, page=1, line=4, written_by="AB",
         paper_time="2026-11-24T11:00Z", drug="Metoprolol", dose=" 25 ", dose_unit="mg",
         route="PO", outcome="refused", reason="patient refused, nauseous"),
    dict(kind="order", form_id=RX, page=1, line=1, written_by="JS", paper_time=T,
         drug="Ceftriaxone 1 g IV", rxnorm="1665021", dose=1, dose_unit="g", route="IV",
         frequency="q24h"),
    dict(kind="order", form_id=RX, page=1, line=2, written_by="AB", paper_time=T,
         drug="Morphine 2 mg IV", dose=2, dose_unit="mg", route="IV", frequency="q4h",
         prn=True, prn_reason="pain > 6", mode="verbal", prescriber="JS", read_back=True),
    dict(kind="vitals", form_id=VTL, page=1, line=1, written_by="AB", paper_time=T,
         heart_rate=88, bp_systolic=128, bp_diastolic=82, temperature=99.1,
         temperature_unit="[degF]", spo2=97, respiratory_rate=16, pain=3),
    dict(kind="note", form_id=NTE, page=1, line=1, written_by="JS", paper_time=T,
         title="Downtime progress note",
         text="Seen at 08:00, comfortable.\nPlan: continue ceftriaxone, \"NPO\" after midnight."),
    dict(kind="registration", form_id=REG, page=1, line=1, written_by="AB",
         paper_time="2026-11-24T07:40+01:00", family="Okafor", given="Chidi Emeka",
         birth_date="1961-04-09", sex="male", address_line="12 Harbour Rd", city="Millbrook",
         postal_code="40211", phone="555-0142", encounter_class="EMER",
         identifiers="urn:oid:2.16.840.1.113883.4.1|123-45-6789"),
]
BAD = [  # (row, the column it must be told by, words of the reason)
    (dict(kind="medication", form_id=MAR, page=1, line=9), "kind", "one of mar, order"),
    (dict(kind="mar", form_id="DT-12345", page=1, line=1, unit="4W", patient_id="pat-1",
          encounter_id="enc-1", written_by="AB", paper_time=T, drug="X", dose=1,
          dose_unit="mg", route="PO"), "form_id", "is not a form id"),
    (dict(kind="mar", form_id=MAR, page=2, line=1, written_by="ZZ", paper_time=T, drug="X",
          dose=1, dose_unit="mg", route="PO"), "written_by", "not on the staff list of unit 4W"),
    (dict(kind="mar", form_id=MAR, page=2, line=2, written_by="CD", paper_time=T, drug="X",
          dose=1, dose_unit="mg", route="PO"), "written_by", "ambiguous on unit 4W"),
    (dict(kind="mar", form_id=MAR, page=2, line=3, written_by="AB",
          paper_time="24/11/2026 8am", drug="X", dose=1, dose_unit="mg", route="PO"),
     "paper_time", "not an ISO 8601 time"),
    (dict(kind="mar", form_id=MAR, page=2, line=4, written_by="AB", paper_time=T, drug="X",
          dose="two", dose_unit="mg", route="PO"), "dose", "valid number"),
    (dict(kind="mar", form_id=MAR, page=2, line=5, written_by="AB", paper_time=T, drug="X",
          dose=1, dose_unit="mg", route="PO", outcome="held"), "reason", "needs the reason"),
    (dict(kind="mar", form_id=MAR, page=2, line=6, written_by="AB", paper_time=T, drug="X",
          dose=1, dose_unit="mg", route="PO", text="given late"), "text",
     "not a field of a mar row"),
    (dict(kind="mar", form_id=MAR, page=2, line=7, written_by="AB", paper_time=T, drug="X",
          dose=1, dose_unit="mg", route="PO", order_line="RX page 1"), "order_line",
     "not a paper line"),
    (dict(kind="order", form_id=RX, page=2, line=1, written_by="AB", paper_time=T, drug="X",
          dose=1, dose_unit="mg", route="PO", frequency="BID", mode="verbal"), "prescriber",
     "needs its prescriber"),
    (dict(kind="order", form_id=RX, page=2, line=2, written_by="AB", paper_time=T, drug="X",
          dose=1, dose_unit="mg", route="PO", frequency="BID", mode="shouted"), "mode",
     "'written', 'verbal' or 'telephone'"),
    (dict(kind="vitals", form_id=VTL, page=2, line=1, written_by="AB", paper_time=T,
          temperature=37, temperature_unit="F"), "temperature_unit", "not a UCUM unit"),
    (dict(kind="vitals", form_id=VTL, page=2, line=2, written_by="AB", paper_time=T,
          bp_systolic=120), "bp_diastolic", "needs bp_systolic and bp_diastolic"),
    (dict(kind="vitals", form_id=VTL, page=2, line=3, written_by="AB", paper_time=T),
     "vitals", "no reading"),
    (dict(kind="note", form_id="DT-QQQQQQQQQQ", page=1, line=1, written_by="JS",
          paper_time=T, text="x"), "patient_id", "not in the episode's registries"),
    (dict(kind="registration", form_id=REG, page=2, line=1, written_by="AB", paper_time=T,
          given="", birth_date="1961-04-09"), "family", "no name"),
    (dict(kind="registration", form_id=REG, page=2, line=2, written_by="AB", paper_time=T,
          family="Doe", sex="M"), "sex", "'male', 'female'"),
    (dict(kind="registration", form_id=REG, page=2, line=3, written_by="AB", paper_time=T,
          family="Doe", birth_date="1961-13-40"), "birth_date", "date"),
    (dict(kind="registration", form_id=REG, page=2, line=4, written_by="AB", paper_time=T,
          family="Doe", identifiers="ssn 123"), "identifiers", "system|value"),
    (dict(kind="note", form_id=NTE, page=2, line=1, written_by="JS", paper_time=T,
          text="x", revision="first"), "revision", "valid integer"),
]


def as_csv(rows: list[dict]) -> bytes:
    used = {k for r in rows for k in r}
    out = io.StringIO()
    writer = csv.DictWriter(out, [c for c in COLUMNS if c in used], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()  # a spreadsheet's "CSV UTF-8"


def as_json(rows: list[object]) -> bytes:
    return ("[\n" + ",\n".join(json.dumps(r, indent=1) for r in rows) + "\n]\n").encode()
