"""Small text helpers shared by the screens (no Textual: plain strings and Rich Text)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

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


def allergy_marker(status: AllergyStatus) -> Text:
    """The census column: ALG (red) / NKA / ??? (no information)."""
    if status.kind == "allergies":
        return Text(" ALG ", style="bold white on red")
    if status.kind == "nka":
        return Text(" NKA ", style="green")
    return Text(" ??? ", style="bold black on yellow")


def allergy_line(status: AllergyStatus) -> Text:
    """The chart header's allergy line, never empty, never ambiguous."""
    if status.kind == "allergies":
        return Text(f" ALLERGIES: {status.summary} ", style="bold white on red")
    if status.kind == "nka":
        return Text(" No known allergies ", style="bold black on green")
    return Text(" No allergy information — ask the patient / family ",
                style="bold black on yellow")


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


# Short names for the common vital signs (LOINC), so a row fits 80 columns.
VITAL_SHORT = {"8867-4": "Heart rate", "8480-6": "BP systolic", "8462-4": "BP diastolic",
               "9279-1": "Resp. rate", "8310-5": "Temperature", "59408-5": "SpO2",
               "2708-6": "SpO2", "29463-7": "Weight", "8302-2": "Height",
               "39156-5": "BMI", "72514-3": "Pain score"}


def vital_name(code: str, display: str) -> str:
    return VITAL_SHORT.get(code, display)


def lab_name(display: str) -> str:
    """A LOINC long name as a nurse says it: "Creatinine [Mass/volume] in Serum or Plasma"
    -> "Creatinine" (the unit column says the rest)."""
    return (display or "?").split(" [")[0].strip() or display
