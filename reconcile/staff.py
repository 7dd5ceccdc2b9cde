"""The unit staff lists: who the initials on the paper are. A MAR box says "AB"; the Bundle's
Provenance needs a person. `[reconcile.staff]` lists, per unit, the people who may have
written on that unit's paper (and `"*"` for those who write on every unit's, such as
physicians):

    [reconcile.staff]
    4W = [{initials = "AB", name = "Alice Brown", role = "RN", practitioner_id = "prac-17"}]
    "*" = [{initials = "JS", name = "Dr. Jane Smith", role = "MD"}]

Initials are matched without regard to case or dots ("a.b." is AB). Two people of one unit
with the same initials make the initials ambiguous there: `resolve` gives None and the clerk
is asked who it was (once per session), never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from snapshots.errors import ToolkitError

from .entries import Person

EVERY_UNIT = "*"
_KEYS = ("initials", "name", "role", "practitioner_id")


class StaffListError(ToolkitError):
    reason = "config"


@dataclass(frozen=True)
class StaffMember:
    initials: str
    name: str
    role: str = ""
    practitioner_id: str | None = None

    def person(self, written: str | None = None) -> Person:
        return Person(name=self.name, initials=written or self.initials,
                      practitioner_id=self.practitioner_id)


def norm_initials(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


@dataclass(frozen=True)
class StaffList:
    units: dict[str, tuple[StaffMember, ...]] = field(default_factory=dict)

    def members(self, unit: str | None) -> tuple[StaffMember, ...]:
        """The people of a unit's list and of every unit's."""
        return self.units.get(unit or "", ()) + self.units.get(EVERY_UNIT, ())

    def candidates(self, unit: str | None, initials: str) -> list[StaffMember]:
        wanted = norm_initials(initials)
        return [m for m in self.members(unit) if norm_initials(m.initials) == wanted]

    def resolve(self, unit: str | None, initials: str) -> StaffMember | None:
        """The one person with these initials on the unit, or None (nobody, or several)."""
        found = self.candidates(unit, initials)
        return found[0] if len(found) == 1 else None

    def knows(self, unit: str | None, name: str) -> bool:
        """Whether someone of this name is on the unit's list (an author check)."""
        wanted = " ".join(name.casefold().split())
        return any(" ".join(m.name.casefold().split()) == wanted for m in self.members(unit))

    @classmethod
    def from_table(cls, table: Any, where: str) -> StaffList:
        if not isinstance(table, dict):
            raise StaffListError(f"{where}: [reconcile] staff must be a table (unit code = "
                                 "[{initials, name, role, practitioner_id}])")
        return cls({str(unit): tuple(_members(unit, people, where))
                    for unit, people in table.items()})


def _members(unit: str, people: Any, where: str) -> Iterable[StaffMember]:
    if not isinstance(people, list):
        raise StaffListError(f"{where}: [reconcile.staff] {unit} must be a list of people")
    for n, p in enumerate(people, 1):
        here = f"{where}: [reconcile.staff] {unit} person {n}"
        if not isinstance(p, dict):
            raise StaffListError(f"{here} must be a table {{initials, name, ...}}")
        unknown = set(p) - set(_KEYS)
        if unknown:
            raise StaffListError(f"{here}: unknown key(s) {', '.join(sorted(unknown))} "
                                 f"(known: {', '.join(_KEYS)})")
        for key in ("initials", "name"):
            if not isinstance(p.get(key), str) or not p[key].strip():
                raise StaffListError(f"{here} needs {key} (a non-empty string)")
        if not norm_initials(p["initials"]):
            raise StaffListError(f"{here}: initials {p['initials']!r} have no letter")
        yield StaffMember(p["initials"].strip(), p["name"].strip(), str(p.get("role", "")),
                          p.get("practitioner_id") or None)
