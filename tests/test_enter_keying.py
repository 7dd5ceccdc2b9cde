"""What a clerk keys, read as the paper says it (reconcile.keying, reconcile.keyed_entries),
without the screens: times within the episode's days, doses, initials asked not guessed,
vitals units and ranges, the order and registration lines, a form found from a scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from downtime.tui.clerk import FormNotFound, read_target
from reconcile.entries import Drug, Person
from reconcile.episode import Window
from reconcile.keyed_entries import (
    MarRow,
    PageContext,
    birth_date,
    entry_line_text,
    mar_entry,
    order_entry,
    vitals_entry,
)
from reconcile.keying import AskWho, KeyingError, People, paper_time, quantity, reading
from reconcile.rules import FormInfo
from reconcile.staff import StaffList
from tests.enter_helpers import STAFF, qr

pytestmark = pytest.mark.usefixtures("utc")
START = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # an episode over midnight
WINDOW = Window(START, START + timedelta(hours=14))
NOW = START + timedelta(days=2)


def ctx(issued=START) -> PageContext:
    return PageContext("DT-MARPAGE222", 1, "mar", "p1", "e1", "4W", WINDOW, issued,
                       Person(name="Pat Clerk"), People(StaffList.from_table(STAFF, "t")))


def test_paper_times_fall_on_the_episodes_days():
    assert paper_time("2130", WINDOW, START, NOW) == datetime(2026, 11, 24, 21, 30,
                                                              tzinfo=UTC)
    assert paper_time("930", WINDOW, START, NOW) == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    with pytest.raises(KeyingError, match="not within the episode"):
        paper_time("1500", WINDOW, START, NOW)
    with pytest.raises(KeyingError, match="not a time"):
        paper_time("2460", WINDOW, START, NOW)
    # a window open at its end runs to now
    assert paper_time("0100", Window(START, None), START, START + timedelta(hours=6)).day == 25


def test_doses_and_vitals_in_ucum():
    assert (quantity("5mg").value, quantity("10 units").unit, quantity("2 tabs").unit) == \
        (5.0, "[iU]", "{tab}")
    with pytest.raises(KeyingError, match="not a dose"):
        quantity("five mg")
    assert reading("temperature", "98.6F").unit == "[degF]"
    assert reading("temperature", "37.2").unusual is None
    assert "outside" in reading("temperature", "39.8").unusual
    with pytest.raises(KeyingError, match="write 98.6F"):
        reading("temperature", "98.6")
    with pytest.raises(KeyingError, match="cannot be"):
        reading("spo2", "104")
    with pytest.raises(KeyingError, match="not below"):
        reading("blood_pressure", "80/120")
    with pytest.raises(KeyingError, match="not a unit"):
        reading("heart_rate", "88mmHg")


def test_initials_resolve_or_are_asked():
    people = People(StaffList.from_table(STAFF, "t"))
    assert people.person("4W", "a.b.").name == "Alice Brown"
    assert people.person("ICU", "JS").name == "Dr Jane Smith"  # on every unit's list
    with pytest.raises(AskWho) as ask:
        people.person("4W", "CD")
    assert len(ask.value.candidates) == 2
    with pytest.raises(AskWho) as ask:
        people.person("4W", "ZZ")
    assert ask.value.candidates == ()
    people.answer("4W", "zz", Person(name="Zoe Zed", initials="ZZ"))
    assert people.person("4W", "ZZ").name == "Zoe Zed"


def test_lines_to_entries_and_back():
    row = MarRow(1, Drug(text="metoprolol"),
                 quantity("25 mg"), "25 mg", "PO", "due 0900", due=("0900",))
    e = mar_entry("2130 AB r asleep", row, ctx(), 101, NOW)
    assert (e.outcome, e.reason, e.paper_time.day) == ("refused", "asleep", 24)
    assert entry_line_text(e, {1: row}) == "2130 AB r asleep"
    with pytest.raises(KeyingError, match="needs the reason"):
        mar_entry("2130 AB h", row, ctx(), 101, NOW)
    v, unusual = vitals_entry("0200 37 130 150/95 24 91 - 80 AB", ctx(), 1, NOW)
    assert [r.measure for r in v.readings][-1] == "weight" and unusual == []
    assert entry_line_text(v) == "0200 37 130 150/95 24 91 - 80 AB"
    o = order_entry("2230 heparin 5000 units subcut q8h JS", ctx(), 1, NOW)
    assert (o.dose.unit, o.route, o.frequency, o.prescriber.name) == \
        ("[iU]", "subcut", "q8h", "Dr Jane Smith")
    with pytest.raises(KeyingError, match="is for a verbal"):
        order_entry("2230 heparin 5000 units subcut q8h JS by AB", ctx(), 1, NOW)
    with pytest.raises(KeyingError, match="reads two ways"):
        birth_date("03/12/1950")


def test_a_form_from_a_scan_or_a_typed_id():
    forms = {"DT-MARPAGE222": FormInfo("DT-MARPAGE222", "mar", "p1", "e1", "4W", "S", 2)}
    assert read_target("dt-marpage222 p2", forms).page == 2
    assert read_target(qr("DT-MARPAGE222", "mar", 2), forms).page == 2
    # not in a registry, but the QR names the patient
    t = read_target(qr("DT-VTLSHEET22", "vitals", 1, "p9", "e9"), forms)
    assert (t.kind, t.patient_id, t.info) == ("vitals", "p9", None)
    with pytest.raises(FormNotFound, match="has 2 pages"):
        read_target("DT-MARPAGE222 3", forms)
    with pytest.raises(FormNotFound, match="in no collected registry"):
        read_target("DT-VTLSHEET22", forms)
    with pytest.raises(FormNotFound, match="scan the page's QR"):
        read_target("hello", forms)
    forms["DT-FACE222222"] = FormInfo("DT-FACE222222", "facesheet", "p1", "e1", "4W", "S")
    with pytest.raises(FormNotFound, match="nothing on it is back-entered"):
        read_target("DT-FACE222222", forms)


def test_enter_refuses_a_station_set_up_wrong_before_the_screen_starts(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    config = tmp_path / "downtime.toml"
    config.write_text('[reconcile]\nfolder = "episodes"\nidentity = "keys/him-1.age"\n')
    downtime = str(Path(sys.executable).parent / "downtime")

    def enter():
        return subprocess.run([downtime, "--config", str(config), "reconcile", "enter"],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    out = enter()
    assert out.returncode != 0 and "no identity file here" in out.stderr
    assert "\x1b[" not in out.stdout  # the TUI never started
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "him-1.age").write_text("x")
    out = enter()
    assert out.returncode != 0 and "no open episode" in out.stderr
