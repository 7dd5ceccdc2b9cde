"""Small text helpers shared by the screens (no Textual: plain strings and Rich Text)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from snapshots.allergy_status import allergy_text
from snapshots.chart import AllergyStatus, parse_time

BARS = "▁▂▃▄▅▆▇█"
ABNORMAL = {"H", "L", "HH", "LL", "A", "AA"}


def when(value: str | None, now: datetime) -> str:
    """A time as a nurse reads it: "14:05" today, "23 Nov 21:00" otherwise."""
    t = parse_time(value)
    if t is None:
        return "—"
    local, today = t.astimezone(), now.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M")


def sparkline(values: list[float]) -> str:
    """Values (oldest first) as a one-line trend of block characters."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(BARS[min(len(BARS) - 1, int((v - low) / span * (len(BARS) - 1) + 0.5))]
                   for v in values)


def allergy_marker(status: AllergyStatus, width: int = 5) -> Text:
    """The census column: ALG (red) / NKA, NKDA... / ??? (no information); "!" when an allergy
    record of the source did not load."""
    marker = status.marker.center(width)
    if status.kind == "allergies":
        return Text(marker, style="bold white on red")
    if status.not_loaded:
        return Text(marker, style="bold black on yellow")
    if status.kind == "nka":
        return Text(marker, style="green")
    return Text(marker, style="bold black on yellow")


ALLERGY_LINES = 3  # the most the chart header gives the allergy line, at its width


def allergy_line(status: AllergyStatus, width: int = 80) -> Text:
    """The chart header's allergy line, never empty, never ambiguous: what was recorded, what
    it leaves open, what did not load; at most ALLERGY_LINES lines of `width` (the rest is
    "+N more: see 1 Summary"), so the code status below it stays on screen."""
    lost = status.not_loaded_text
    if status.kind == "allergies":
        text = _fitted_allergies(status, width - 2 - (len(lost) + 3 if lost else 0))
        line = Text(f" ALLERGIES: {text} ", style="bold white on red")
    elif status.kind == "nka":
        # green only when nothing is known to be missing from it
        line = Text(f" {status.no_known_text} (recorded) ", style="bold black on yellow"
                    if lost else "bold black on green")
        if status.open_text:
            line.append(f" {status.open_text} ", style="bold black on yellow")
    else:
        line = Text(" No allergy information — ask the patient / family ",
                    style="bold black on yellow")
    if lost:
        line.append(f" ⚠ {lost} ", style="bold white on dark_red")
    return line


def _fitted_allergies(status: AllergyStatus, room: int) -> str:
    """The allergies (and a no-known statement they leave standing), cut at whole items to
    ALLERGY_LINES lines."""
    items = [allergy_text(a) for a in status.allergies]
    if status.no_known_text:
        items.append(status.no_known_text)
    budget = max(20, room * ALLERGY_LINES - len(" ALLERGIES: "))
    text = ", ".join(items)
    if len(text) <= budget:
        return text
    for n in range(len(items) - 1, 0, -1):
        more = f" … +{len(items) - n} more: see 1 Summary"
        text = ", ".join(items[:n]) + more
        if len(text) <= budget:
            return text
    return items[0][: budget - 30] + f"… +{len(items) - 1} more: see 1 Summary"


def flag_text(flag: str | None) -> Text:
    if not flag or flag == "N":
        return Text("")
    style = "bold white on red" if flag in ABNORMAL else "bold"
    return Text(f" {flag} ", style=style)


def short(text: str | None, width: int) -> str:
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "…"


def masked(restricted: bool, text: str, unlocked: bool) -> Text | str:
    if restricted and not unlocked:
        return Text("▒▒ restricted — b: break glass ▒▒", style="italic magenta")
    if restricted:
        return Text(text, style="magenta")
    return text
