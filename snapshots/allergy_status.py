"""A patient's allergy record as every screen and form shows it (part of snapshots.chart).

Three states, each shown as what it is: allergies recorded; only "no known ... allergy"
statements, each with its scope (NKDA says nothing about food or latex); nothing at all. An
allergy whose record could not be read in part carries a warning, and allergy records that
did not load at all are counted, so no state can look more complete than the source was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from . import no_known

NO_ALLERGY_INFO = "No allergy information"
NO_KNOWN_ALLERGIES = "No known allergies"
UNNAMED = "(substance not recorded)"


@dataclass(frozen=True)
class Allergy:
    id: str
    substance: str
    reaction: str | None
    severity: str | None
    criticality: str | None
    coded: bool
    no_known: bool
    verification_status: str | None
    category: str | None = None
    no_known_scope: str | None = None  # a no-known statement's scope: all, drug, food...
    unreadable: str | None = None  # what of the record could not be read
    code: str | None = None
    system: str | None = None

    @property
    def warning(self) -> str | None:
        """What the chart must say next to this allergy, if anything."""
        if self.unreadable:
            return f"record partly unreadable: {self.unreadable}"
        return None


@dataclass(frozen=True)
class AllergyStatus:
    """Which of the three states a patient's allergy record is in, and its items."""

    items: tuple[Allergy, ...]
    kind: str  # "allergies" | "nka" (only no-known statements) | "unknown"
    not_loaded: int = 0  # allergy records of the source that are not in the snapshot

    @property
    def allergies(self) -> tuple[Allergy, ...]:
        return tuple(a for a in self.items if not a.no_known)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes of the no-known statements that no recorded allergy contradicts (a
        penicillin allergy beside NKDA: the allergy is shown, NKDA is not)."""
        found = []
        for a in self.items:
            scope = a.no_known_scope or "all"
            if a.no_known and scope not in found and not any(
                    no_known.contradicts(scope, b.category) for b in self.allergies):
                found.append(scope)
        return tuple(s for s in no_known.SCOPES if s in found)

    @property
    def no_known_text(self) -> str:
        """ "No known drug allergies", or "" when no statement stands."""
        return no_known.statement(self.scopes) if self.scopes else ""

    @property
    def open_text(self) -> str:
        """What the statements leave open ("nothing recorded about food or environmental
        allergies"), when they do not cover every allergy."""
        return no_known.not_covered(self.scopes) if self.kind == "nka" else ""

    @property
    def open_short(self) -> str:
        """The same, for a table cell: "food, environmental: not recorded"."""
        return no_known.not_covered_short(self.scopes) if self.kind == "nka" else ""

    @property
    def not_loaded_text(self) -> str:
        if not self.not_loaded:
            return ""
        n = self.not_loaded
        return f"{n} allergy record{'' if n == 1 else 's'} could not be loaded: see the source"

    @property
    def marker(self) -> str:
        """The census column, five characters at most: ALG, NKA, NKDA, NKFA..., ??? (no
        information); "!" when an allergy record did not load (in place of a "+")."""
        base = "ALG" if self.kind == "allergies" else \
            (no_known.abbreviation(self.scopes) if self.kind == "nka" else "???")
        if self.not_loaded:
            base = base.removesuffix("+") + "!"
        return base

    @property
    def unreadable_count(self) -> int:
        return sum(1 for a in self.allergies if a.warning)

    @property
    def summary(self) -> str:
        if self.kind == "unknown":
            text = NO_ALLERGY_INFO
        elif self.kind == "nka":
            text = "; ".join(x for x in (self.no_known_text, self.open_text) if x)
        else:
            text = ", ".join(allergy_text(a) for a in self.allergies)
            if self.no_known_text:
                text += f"; {self.no_known_text}"
        if self.not_loaded:
            text += f" — {self.not_loaded_text}"
        return text


def allergy_text(a: Allergy) -> str:
    """Substance (reaction), with a ⚠ where the record could not all be read."""
    text = a.substance
    if a.reaction:
        text += f" ({a.reaction})"
    if a.warning:
        text += " ⚠"
    return text


# The columns every reader of allergies takes, in Allergy's order (patient_id first when
# read for many patients). A snapshot of schema 2 has no no_known_scope nor unreadable.
COLUMNS = ("id, substance, reaction, severity, criticality, coded, no_known, "
           "verification_status, category, no_known_scope, unreadable, code, system")
LEGACY_COLUMNS = ("id, substance, reaction, severity, criticality, coded, no_known, "
                  "verification_status, category, NULL, NULL, code, system")
CURRENT = ("coalesce(clinical_status, 'active') = 'active' AND coalesce(verification_status, "
           "'') NOT IN ('refuted', 'entered-in-error')")
ORDER = "no_known, criticality = 'high' DESC, substance"


def from_row(r: tuple | sqlite3.Row) -> Allergy:
    # schema 2 kept no scope: its code says it (that mapper knew no-known statements by code)
    scope = r[9] or ((no_known.scope_of_code(r[11]) or "all") if r[6] else None)
    return Allergy(r[0], r[1] or UNNAMED, r[2], r[3], r[4], bool(r[5]), bool(r[6]), r[7],
                   r[8] or None, scope, r[10] or (None if r[1] or r[6] else
                                                   "no substance recorded"), r[11], r[12])


def status_of(items: Iterable[Allergy], not_loaded: int = 0) -> AllergyStatus:
    found = tuple(items)
    if not found:
        return AllergyStatus(found, "unknown", not_loaded)
    if all(a.no_known for a in found):
        return AllergyStatus(found, "nka", not_loaded)
    return AllergyStatus(found, "allergies", not_loaded)


def read(db: sqlite3.Connection, patient_id: str, not_loaded: int = 0) -> AllergyStatus:
    sql = f"SELECT {{}} FROM allergies WHERE patient_id = ? AND {CURRENT} ORDER BY {ORDER}"
    try:
        rows = db.execute(sql.format(COLUMNS), (patient_id,)).fetchall()
    except sqlite3.OperationalError:  # a snapshot of schema 2
        rows = db.execute(sql.format(LEGACY_COLUMNS), (patient_id,)).fetchall()
    return status_of(map(from_row, rows), not_loaded)


def read_all(db: sqlite3.Connection) -> dict[str, list[Allergy]]:
    """Every patient's current allergy items, in one query (the census)."""
    sql = f"SELECT patient_id, {{}} FROM allergies WHERE {CURRENT} ORDER BY patient_id, {ORDER}"
    try:
        rows = db.execute(sql.format(COLUMNS)).fetchall()
    except sqlite3.OperationalError:
        rows = db.execute(sql.format(LEGACY_COLUMNS)).fetchall()
    found: dict[str, list[Allergy]] = {}
    for r in rows:
        found.setdefault(r[0], []).append(from_row(r[1:]))
    return found
