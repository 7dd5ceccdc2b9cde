"""The TUI's session model without Textual: which snapshots open, census, search."""

from __future__ import annotations

from datetime import date

import pytest

from downtime.tui.session import Session, census_rows, choose
from snapshots import chart
from snapshots.sealed import SnapshotError
from tests.factory import Keys, add_patient, chart_db, sealed_snapshot
from tests.tui_helpers import seal_house


def test_batched_census_equals_the_read_model():
    conn = chart_db()
    add_patient(conn, "x1", "DOE, Jane", "4W-410-A", allergies=["Peanut"], nka=True)
    conn.execute("INSERT INTO flags (id, patient_id, kind, text, status, since, src_type, "
                 "src_id, src_version, src_updated, src_hash) VALUES ('f2', 'p1', "
                 "'isolation', 'Contact', 'active', '2026-01-01', 'Flag', 'f2', '1', 'x', 'h')")
    conn.execute("UPDATE allergies SET verification_status = 'refuted' WHERE id = 'al-p4-0'")
    today = date(2026, 11, 24)
    assert census_rows(conn, today) == chart.census(conn, today=today)


def test_choose_prefers_house_for_pharmacy_and_units_for_a_workstation(tmp_path):
    keys = Keys()
    sealed_snapshot(tmp_path, keys, sequence=1)
    sealed_snapshot(tmp_path, keys, sequence=4)
    seal_house(tmp_path, keys, sequence=3)
    assert [s.manifest.scope for s in choose(tmp_path, keys.pharmacy.recipient)] == ["house"]
    unit = choose(tmp_path, keys.unit.recipient)
    assert [(s.manifest.scope, s.manifest.sequence) for s in unit] == [("unit:4W", 4)]
    assert choose(tmp_path, Keys().unit.recipient) == []


def test_session_opens_searches_and_closes(tmp_path):
    keys = Keys()
    sealed_snapshot(tmp_path, keys, sequence=2)
    session = Session.open("rn", keys.unit, tmp_path, keys.trusted)
    assert len(session.census) == 5 and session.units == ["4W"]
    assert session.search("") is None
    assert set(session.search("smith")) == {"p1", "p2"}
    assert session.db_for("p3") is session.snapshots[0].db
    assert session.label == "unit:4W #2"
    session.close()
    with pytest.raises(KeyError):
        session.db_for("p3")
    with pytest.raises(SnapshotError):
        Session.open("rn", Keys().unit, tmp_path, keys.trusted)


def test_unranked_search_finds_what_the_read_model_finds():
    from downtime.tui.session import SearchIndex, search_ids

    conn = chart_db()
    add_patient(conn, "x1", "SMITH, Joan", "4W-410-A", mrn="ZZ0000001")
    conn.execute("INSERT INTO patient_search(patient_id, encounter_id, name, mrns, bed) "
                 "VALUES ('x1', 'old-enc', 'Joan SMITH', 'ZZ0000001', '4W-410-A')")
    conn.commit()
    index = SearchIndex.read(conn)
    assert len(index.patient_of) > len(index.everyone)  # a patient with two index rows
    for text in ("smi", "SMITH jo", "4W-40", "okafor", "garc", "MRN", "m", "zz", "", "  ",
                 "s", "4w"):
        expected = sorted(chart.search_patient_ids(conn, text))
        assert sorted(search_ids(conn, text)) == expected, text
        assert sorted(index.search(text)) == expected, text
    # every row matches "4w" (every bed): answered from the count, each patient once
    assert index.search("4w") is index.everyone and len(set(index.everyone)) == 6
