"""The allergy and order findings in `downtime browse` at 80x24, through Pilot, on a real
build: the census marks NKDA as NKDA and a lost allergy with "!"; the chart says what
conflicts, what did not load and what could not be read; the header keeps the code status on
screen however many allergies there are."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import pytest
from textual.widgets import DataTable, Static

from downtime.tui.row_table import RowTable
from downtime.tui.screens.chart import ChartScreen
from downtime.tui.widgets import PatientHeader
from snapshots import sealed
from tests.factory import Keys, add_patient
from tests.fhir_source import AS_OF, allergy_ward, build, iso
from tests.tui_helpers import Clock, Site, settle, unlock, write_pub

pytestmark = pytest.mark.usefixtures("utc")
MANY = ["Penicillin G benzathine", "Sulfamethoxazole / trimethoprim", "Latex", "Peanut",
        "Iodinated contrast media", "Morphine sulfate", "Codeine", "Vancomycin",
        "Ciprofloxacin", "Shellfish", "Egg protein", "Adhesive tape", "Aspirin", "Ibuprofen",
        "Strawberries", "Bee venom", "Chlorhexidine", "Amoxicillin"]


@pytest.fixture(scope="module")
def ward(tmp_path_factory):
    root = tmp_path_factory.mktemp("tui-allergies")
    conn = build(allergy_ward(root / "source")).conn
    add_patient(conn, "zz", "MANY, Allergies", "4W-099-A", allergies=MANY,
                code_status="DNR/DNI")
    conn.commit()
    keys = Keys()
    store = root / "store"
    store.mkdir()
    sealed.seal(conn, store / f"unit-4W-000001{sealed.SUFFIX}", scope="unit:4W", sequence=1,
                as_of=iso(AS_OF), source="tests/fhir_source.py", counts={"patients": 9},
                recipients=[keys.unit.recipient], signing_key=keys.signing, units=["4W"])
    return root, keys, store


def _site(ward, tmp_path) -> Site:
    root, keys, store = ward
    return Site(tmp_path, keys, Clock(AS_OF + timedelta(minutes=12)), store,
                write_pub(keys, tmp_path / "builder.pub"), tmp_path / "audit.log")


def _text(widget) -> str:
    return str(widget.render())


async def _open(app, pilot, name: str) -> ChartScreen:
    census = app.screen
    index = next(i for i, r in enumerate(census.shown) if r.name == name)
    census.query_one("#census", RowTable).move_cursor(index)
    await pilot.press("enter")
    await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                 and app.screen.loads >= 1 and app.screen.data is not None
                 and app.screen.data.header.name == name)
    await pilot.pause()
    return app.screen


def test_census_marks_what_each_allergy_record_is(ward, tmp_path):
    site = _site(ward, tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            table = app.screen.query_one("#census", RowTable)
            lines = {line.split()[1]: line for line in
                     (table.render_line(y).text for y in range(1, 10)) if line.strip()}
            assert " NKDA " in lines["NODRUG,"] and " NKA " in lines["NONE,"]
            assert "NKA!" in lines["LOST,"] and " ALG " in lines["PENN,"]
            legend = _text(app.screen.query_one("#census-legend"))
            assert "NKDA none to drugs" in legend and "! not loaded" in legend
    asyncio.run(go())


def test_chart_shows_conflict_broken_allergy_lost_records_and_latest_lab(ward, tmp_path):
    site = _site(ward, tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            chart = await _open(app, pilot, "PENN, Cal")
            summary = _text(chart.query_one("#summary-text", Static))
            assert summary.startswith("⚠ ALLERGY–ORDER: Piperacillin-tazobactam 3.375 g IV — "
                                      "allergy: Penicillin G (same class: penicillins)\n")
            await pilot.press("2")
            await pilot.pause()
            alerts = _text(chart.query_one("#meds-alerts", Static))
            assert "Cefazolin 1 g IV" in alerts and "reminder, not a pharmacy system" in alerts
            table = chart.query_one("#meds-table", DataTable)
            zosyn = next(i for i in range(table.row_count)
                         if "Piperacillin" in str(table.get_row_at(i)[0]))
            table.move_cursor(row=zosyn)
            await pilot.pause()
            why = _text(chart.query_one("#meds-why", Static))
            assert why == ("⚠ Penicillin G: piperacillin is a penicillin, as is penicillin G "
                           "(same class) (order by name, allergy RxNorm 7980)\n")
            names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
            assert sum(n.startswith("⚠ALG ") for n in names) == 2
            assert not any(n.startswith("⚠ALG") and "Metoprolol" in n for n in names)
            await pilot.press("escape")

            chart = await _open(app, pilot, "LOST, Eve")
            header = _text(chart.query_one(PatientHeader))
            assert "No known allergies (recorded)" in header
            assert "1 allergy record could not be loaded: see the source" in header
            assert "1 medication order (active) could not be loaded: see the source" in header
            await pilot.press("escape")

            chart = await _open(app, pilot, "BROKEN, Dee")
            summary = _text(chart.query_one("#summary-text", Static))
            assert "• Sulfa drugs" in summary
            assert "⚠ record partly unreadable: code is plain text" in summary
            assert "criticality '3' is not a code" in summary
            await pilot.press("escape")

            chart = await _open(app, pilot, "NODRUG, Ada")
            header = _text(chart.query_one(PatientHeader))
            assert "No known drug allergies (recorded)" in header
            assert "nothing recorded about food or environmental allergies" in header
            await pilot.press("escape")

            chart = await _open(app, pilot, "KALIUM, Hal")
            summary = _text(chart.query_one("#summary-text", Static))
            assert "K 4 mmol/L  (06:00)  earlier 3.3 mmol/L L (24 Nov 06:00)" in summary
            assert "Abnormal labs" not in summary
    asyncio.run(go())


def test_header_keeps_the_code_status_on_screen_with_many_allergies(ward, tmp_path):
    site = _site(ward, tmp_path)

    async def go():
        app = site.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await unlock(app, pilot)
            chart = await _open(app, pilot, "MANY, Allergies")
            header = chart.query_one(PatientHeader)
            text = _text(header)
            width = header.size.width
            lines = sum(max(1, math.ceil(len(line) / width)) for line in text.split("\n"))
            assert lines <= 8 and header.region.height >= lines  # nothing clipped
            assert "Code: DNR/DNI" in text
            assert "more: see 1 Summary" in text
            summary = _text(chart.query_one("#summary-text", Static))
            for allergy in MANY:  # every one of them is on the summary
                assert f"• {allergy}" in summary
    asyncio.run(go())
