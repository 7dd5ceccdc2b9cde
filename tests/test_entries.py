"""Back-entry records: every kind to JSON and back unchanged (as a journal stores them), and
what does not hold together refused in one line naming the entry."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from reconcile.entries import (
    ENTRY_VERSION,
    EntryError,
    MarAdministration,
    VitalsRow,
    entry_from_json,
    entry_to_json,
    make_entry,
)
from tests import back_entry_data as data


def all_kinds():
    entries, _ = data.one_of_each()
    registered, _ = data.registration()
    return entries + registered


@pytest.mark.parametrize("entry", all_kinds(), ids=lambda e: f"{e.kind}-{e.source.line}")
def test_every_kind_goes_to_json_and_back_unchanged(entry):
    text = json.dumps(entry_to_json(entry))
    back = entry_from_json(json.loads(text))
    assert back == entry and type(back) is type(entry)
    stored = json.loads(text)
    assert stored["version"] == ENTRY_VERSION and stored["kind"] == entry.kind
    assert stored["paper_time"].endswith("Z") and stored["source"]["form_id"].startswith("DT-")


def test_a_newer_version_or_a_broken_record_is_one_line_naming_where():
    entry = data.one_of_each()[0][3]
    stored = entry_to_json(entry)
    with pytest.raises(EntryError, match=r"^journal line 7: entry version 2 is newer"):
        entry_from_json(stored | {"version": 2}, "journal line 7")
    with pytest.raises(EntryError, match=r"^journal line 7: mar\.paper_time"):
        entry_from_json(stored | {"paper_time": "yesterday"}, "journal line 7")
    with pytest.raises(EntryError, match="needs a UTC offset"):
        entry_from_json(stored | {"paper_time": "2026-12-01T08:00:00"}, "journal line 7")
    with pytest.raises(EntryError, match="kind"):
        entry_from_json(stored | {"kind": "lab"}, "journal line 7")


def test_what_does_not_hold_together_is_refused():
    base = data.common("DT-ABCDEFGHJK", 1, 1, "pat-1", "enc-1", data.START)
    with pytest.raises(EntryError, match="a dose held needs the reason"):
        make_entry("mar", **base, drug=data.Drug(text="x"),
                   dose=data.Quantity(value=1, unit="mg"), route="PO", outcome="held")
    with pytest.raises(EntryError, match="PRN dose given needs the reason"):
        make_entry("mar", **base, drug=data.Drug(text="x"),
                   dose=data.Quantity(value=1, unit="mg"), route="PO", prn=True)
    with pytest.raises(EntryError, match="verbal order needs its prescriber"):
        make_entry("order", **base, drug=data.Drug(text="x"),
                   dose=data.Quantity(value=1, unit="mg"), route="PO", frequency="BID",
                   mode="verbal")
    with pytest.raises(EntryError, match="not a UCUM unit of temperature"):
        make_entry("vitals", **base, readings=(
            data.VitalReading(measure="temperature", value=99, unit="F"),))
    with pytest.raises(EntryError, match="not a form id"):
        make_entry("note", **{**base, "source": data.PageLine(form_id="X", page=1, line=1)},
                   text="x")
    with pytest.raises(EntryError, match="needs a UTC offset"):
        make_entry("note", **{**base, "paper_time": datetime(2026, 12, 1, 8)}, text="x")
    with pytest.raises(EntryError, match="no entry kind 'lab'"):
        make_entry("lab", **base)


def test_entries_are_frozen_and_a_correction_is_a_new_revision():
    entry = next(e for e in all_kinds() if isinstance(e, VitalsRow))
    with pytest.raises(AttributeError):
        entry.revision = 1  # type: ignore[misc]
    mar = next(e for e in all_kinds() if isinstance(e, MarAdministration))
    assert mar.key == f"{mar.source.form_id}/p1/l{mar.source.line}"
