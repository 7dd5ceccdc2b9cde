"""Times as people read them on the station: the journal keeps UTC ISO 8601 (and `--json`
shows it so), the terminal and the custody report show the station's local time the way the
forms print it (`04 Dec 19:30`, with the year where a date may be far off)."""

from __future__ import annotations

from datetime import datetime


def local_text(text: str | None, year: bool = False) -> str:
    """`04 Dec 19:30` (or `04 Dec 2026 19:30`) in local time; "—" for none; a text that is
    not a time is given back as it is, never dropped."""
    if not text:
        return "—"
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if when.tzinfo is None:  # written without a zone: the station's own time already
        when = when.astimezone()
    return when.astimezone().strftime("%d %b %Y %H:%M" if year else "%d %b %H:%M")
