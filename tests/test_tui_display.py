"""What the screens show a nurse (issue 15), on a running app: after F2 or F3 the list starts
at its first row, with its first patients on screen; the census uses the width there is; the
orders tab shows a long infusion line whole at 120 columns; vital signs as they are read out,
blood pressure as one reading."""

from __future__ import annotations

import asyncio

from downtime.tui.row_table import RowTable
from downtime.tui.screens.chart import ChartScreen
from snapshots import sealed
from snapshots.schema import insert_rows
from tests.factory import AS_OF, add_patient, iso, lineage
from tests.tui_helpers import make_site, settle, stable_db, unlock, use_utc

use_utc()


def run(coro):
    return asyncio.run(coro)


def drawn(app) -> list[str]:
    table = app.screen.query_one("#census", RowTable)
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


def _ward(site, count: int = 30) -> None:
    """4W with `count` more patients, and an ICU: a list longer than the screen, two units."""
    conn = stable_db()
    surnames = ["ADAMS", "BAKER", "CLARK", "DAVIS", "EVANS", "FOSTER", "GREEN", "HARRIS"]
    for i in range(count):
        add_patient(conn, f"q{i}", f"{surnames[i % 8]}, Pat{i:02d}", f"4W-5{i:02d}-A",
                    nka=True, mrn=f"MRN00003{i:02d}")
    insert_rows(conn, "units", [{"id": "unit-ICU", "code": "ICU", "name": "ICU",
                                 "kind": "icu", "src_type": "Location", "src_id": "u2",
                                 "src_version": "1", "src_updated": iso(AS_OF),
                                 "src_hash": "h"}])
    add_patient(conn, "i1", "ZHANG, Wei", "ICU-01-A", unit="ICU", nka=True, mrn="MRN0000201")
    conn.commit()
    out = site.store / f"house-{2:06d}{sealed.SUFFIX}"
    sealed.seal(conn, out, scope="house", sequence=2, as_of=iso(AS_OF), source="tests",
                counts={"patients": count + 6},
                recipients=[site.keys.pharmacy.recipient, site.keys.escrow.recipient],
                signing_key=site.keys.signing, units=["4W", "ICU"])


def test_after_f2_and_f3_the_list_starts_at_its_first_row_on_screen(tmp_path):
    site = make_site(tmp_path)
    _ward(site)

    async def go():
        app = site.app(identity=site.keys.pharmacy)
        async with app.run_test(size=(80, 14)) as pilot:
            await unlock(app, pilot)
            screen = app.screen
            table = screen.query_one("#census", RowTable)
            assert table.row_count == 36
            for keys in (("f2",), ("f2", "f2"), ("f3",), ("f3",)):
                await pilot.press("pagedown", "pagedown", "down")  # well down the list
                await pilot.pause()
                assert table.cursor_row > 10 and table.scroll_offset.y > 0
                await pilot.press(*keys)
                await pilot.pause()
                # the cursor on the first row, the list scrolled to its top
                assert table.cursor_row == 0, keys
                assert round(table.scroll_offset.y) == 0, keys
                assert screen.current_patient() == screen.shown[0].patient_id
                assert screen.shown[0].name in drawn(app)[1], keys
    run(go())


def test_the_census_uses_the_width_there_is(tmp_path):
    site = make_site(tmp_path)
    _ward(site)

    async def go(width: int) -> list[str]:
        app = site.app(identity=site.keys.pharmacy)
        async with app.run_test(size=(width, 14)) as pilot:
            await unlock(app, pilot)
            await pilot.pause()
            return drawn(app)

    wide, narrow = run(go(120)), run(go(80))
    assert wide[0].split()[-3:] == ["Code", "status", "Isolation"]
    assert "Dr. Ada Quill" in wide[1] and "⚠SMITH, John" in wide[1]
    assert "…" not in "".join(wide)
    assert all(len(line) <= 118 for line in wide) and all(len(line) <= 78 for line in narrow)
    assert "⚠SMITH, John" in narrow[1] and "OKAFOR, Grace" in narrow[3]
    assert "not recorded" in narrow[3] and "not recorded" in wide[3]  # one wording


def _chart_db():
    conn = stable_db()
    rows = []
    for n, (code, value, unit) in enumerate((("8480-6", 135, "mm[Hg]"), ("8462-4", 92, "mm[Hg]"))):
        oid = f"bp-p1#{n}"  # one panel's components, as snapshots.map_clinical stores them
        rows.append({"id": oid, "patient_id": "p1", "category": "vital-signs", "code": code,
                     "display": "x", "value_num": value, "unit": unit,
                     "effective_at": iso(AS_OF), "restricted": 0,
                     **lineage("Observation", oid)})
    rows.append({"id": "t-p1", "patient_id": "p1", "category": "vital-signs",
                 "code": "8310-5", "display": "Body temperature", "value_num": 37.4,
                 "unit": "Cel", "effective_at": iso(AS_OF), "restricted": 0,
                 **lineage("Observation", "t-p1")})
    rows.append({"id": "w-p1", "patient_id": "p1", "category": "laboratory",
                 "code": "6690-2", "display": "Leukocytes [#/volume] in Blood",
                 "value_num": 6.5, "unit": "10*3/uL", "effective_at": iso(AS_OF),
                 "restricted": 0, **lineage("Observation", "w-p1")})
    insert_rows(conn, "observations", rows)
    insert_rows(conn, "med_orders", [{
        "id": "mo-long", "patient_id": "p1", "encounter_id": "enc-p1",
        "medication": "Heparin 25,000 units in dextrose 5% in water 250 mL premixed bag",
        "rate": "18 mL/h", "route": "Intravenous",
        "frequency": "Heparin 25,000 units in dextrose 5% in water 250 mL premixed bag "
                     "intravenous",
        "instructions": "Heparin 25,000 units in dextrose 5% in water 250 mL premixed bag "
                        "intravenous", "prn": 0, "iv": 1, "status": "active",
        **lineage("MedicationRequest", "mo-long")}])
    conn.commit()
    return conn


def test_chart_shows_bp_as_one_reading_units_as_written_and_a_long_infusion_whole(tmp_path):
    site = make_site(tmp_path)
    from tests.factory import sealed_snapshot

    sealed_snapshot(site.store, site.keys, _chart_db(), sequence=2)

    async def go():
        app = site.app()
        async with app.run_test(size=(120, 40)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")  # SMITH, John
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1)
            screen = app.screen
            summary = str(screen.query_one("#summary-text").render())
            assert "BP\u00a0135/92" in summary and "Temp\u00a037.4\u00a0°C" in summary
            assert "WBC 6.5 ×10³/µL" in summary
            assert summary.index("BP\u00a0135/92") < summary.index("HR\u00a0")
            await pilot.press("2")
            await pilot.pause()
            meds = screen.query_one("#meds-table")
            cells = [str(meds.get_row_at(i)[0]) for i in range(meds.row_count)]
            heparin = next(c for c in cells if c.startswith("Heparin"))
            assert heparin == ("Heparin 25,000 units in dextrose 5% in water 250 mL premixed "
                               "bag\n18 mL/h · Intravenous · continuous")
            await pilot.press("3")
            await pilot.pause()
            vitals = screen.query_one("#vitals-table")
            rows = [[str(c) for c in vitals.get_row_at(i)] for i in range(vitals.row_count)]
            assert rows[0][:2] == ["BP", "135/92 mmHg"]
            assert [r[0] for r in rows] == ["BP", "Systolic BP", "HR", "Temp", "Weight"]
            assert ["Temp", "37.4 °C"] == next(r for r in rows if r[0] == "Temp")[:2]
    run(go())
