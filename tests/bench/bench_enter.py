"""Back-entry typing (issue 12 §9): keystrokes and seconds per MAR line and per vitals row in
`downtime reconcile enter`, measured by a Pilot script typing a realistic page, beside the
marks the paper has (each character written, spaces not counted; a circle round a held or
refused dose counts one). The app runs headless at 120x36 with the journal on disk (each
line is one fsynced journal write, as at the station); seconds are from the first key of a
line to the line shown as recorded. The "naive" column holds the paper's marks: the target
is fewer keystrokes than marks.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from tests.bench.common import BenchRow


def _marks(line: str) -> int:
    return len(line.replace(" ", "").replace("-", ""))


# a day's MAR page as a nurse fills it: (row moves before the line, the line typed, marks)
# (".AB": the time written is the one printed in the row's next box, 0900)
MAR_PAGE = [(0, ".AB", _marks("0900 AB")),
            (0, "1300 AB h NPO for surgery", _marks("1300 AB NPO for surgery") + 1),
            (2, "0800 AB pain 6/10", _marks("0800 AB pain 6/10")),
            (0, "1400 CJ pain 4/10", _marks("1400 CJ pain 4/10")),
            (0, "1530 CJ 500 mg pain 3/10", _marks("1530 CJ 500mg pain 3/10"))]
SCHEDULED = [(".AB", 6), ("0910AB", 6)]  # at the time printed in the box, and another
VITALS_PAGE = ["0800 36.8 82 128/76 16 97 AB", "1000 37.1 88 132/80 18 96 2 AB",
               "1200 37.6 94 124/78 18 95 - AB", "1400 38.2 104 118/70 20 94 4 CJ",
               "1530 37.9 98 120/72 18 96 CJ"]


async def _type_page(app, screen_type, form: str, lines: list[tuple[int, str]]
                     ) -> tuple[list[int], list[float], list[float]]:
    from downtime.tui.screens.form_pick import FormPickScreen
    from tests.tui_helpers import PASSPHRASE, settle

    keys, seconds, latency = [], [], []
    async with app.run_test(size=(120, 36)) as pilot:
        app.screen.query_one("#user").value = "Pat Clerk"
        app.screen.query_one("#passphrase").value = PASSPHRASE
        app.screen.query_one("#passphrase").focus()
        await pilot.press("enter")
        await settle(app, pilot, lambda: isinstance(app.screen, FormPickScreen))
        await pilot.press(*form, "enter")
        await settle(app, pilot, lambda: isinstance(app.screen, screen_type))
        screen = app.screen
        for moves, text in lines:
            before = len(screen.opened.typed)
            t0 = time.perf_counter()
            await pilot.press(*(["down"] * moves), *text)
            t1 = time.perf_counter()
            await pilot.press("enter")
            while len(screen.opened.typed) == before:
                if time.perf_counter() - t0 > 10:
                    message = screen.query_one("#entry-message").render()
                    raise RuntimeError(f"{text!r} was not recorded: {message}")
                await pilot.pause(0.001)
            seconds.append(time.perf_counter() - t0)
            latency.append(time.perf_counter() - t1)
            keys.append(moves + len(text) + 1)
    return keys, seconds, latency


def run() -> list[BenchRow]:
    os.environ["TZ"] = "UTC"
    time.tzset()
    from downtime.tui.screens.entry_kinds import MarScreen, VitalsScreen
    from tests.enter_helpers import MAR, STAFF, VITALS, enter_site, qr

    if not any(p["initials"] == "CJ" for p in STAFF["4W"]):
        STAFF["4W"].append({"initials": "CJ", "name": "Chris Jones", "role": "RN"})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        site = enter_site(Path(tmp) / "a")
        keys, secs, lat = asyncio.run(_type_page(site.app(), MarScreen, qr(MAR, "mar"),
                                                 [(m, t) for m, t, _ in MAR_PAGE]))
        marks = sum(m for *_, m in MAR_PAGE) / len(MAR_PAGE)
        per_key = sum(keys) / len(keys)
        rows.append(BenchRow(f"MAR line: keystrokes (a realistic page, {len(MAR_PAGE)} lines:"
                             " given, held, PRN; naive = the paper's marks)", per_key, "keys",
                             naive=marks, target="fewer keystrokes than marks",
                             met=per_key < marks))
        rows.append(BenchRow("MAR line: seconds from first key to recorded (Pilot's keys, "
                             "~50 ms each, included)", sum(secs) / len(secs), "s"))
        rows.append(BenchRow("MAR line: Enter to recorded and shown (parse, journal fsync, "
                             "table)", sum(lat) / len(lat), "s"))
        for text, paper in SCHEDULED:
            rows.append(BenchRow(f"MAR line, a scheduled dose given ('{text}' Enter; naive = "
                                 "marks)", len(text) + 1, "keys", naive=paper,
                                 target="fewer keystrokes than marks",
                                 met=len(text) + 1 < paper))
        site = enter_site(Path(tmp) / "b")
        keys, secs, lat = asyncio.run(_type_page(site.app(), VitalsScreen, VITALS,
                                                 [(0, t) for t in VITALS_PAGE]))
        marks = sum(_marks(t) for t in VITALS_PAGE) / len(VITALS_PAGE)
        per_key = sum(keys) / len(keys)
        rows.append(BenchRow(f"vitals row: keystrokes ({len(VITALS_PAGE)} time columns; naive"
                             " = the paper's marks)", per_key, "keys", naive=marks,
                             target="fewer keystrokes than marks", met=per_key < marks))
        rows.append(BenchRow("vitals row: seconds from first key to recorded (Pilot's keys "
                             "included)", sum(secs) / len(secs), "s"))
        rows.append(BenchRow("vitals row: Enter to recorded and shown", sum(lat) / len(lat),
                             "s"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
