"""The allergy-against-order reminder: each active (or held) medication order of a patient
against each recorded allergy, by ingredient and by drug class (snapshots.drug_classes).

What is matched: RxNorm ingredient codes where the record carries one the table knows; else
the ingredient names in the text (the medication's name, the allergy's substance), word by
word: "Piperacillin-tazobactam 3.375 g IV" contains piperacillin, a penicillin. A drug
allergy the table cannot place (erythromycin) is still matched to orders of that very drug:
the same RxNorm code, or its name in the order's (same_drug). Brand names, other classes and
interactions are not checked. It is a reminder for downtime, not a pharmacy
system, and every screen and page that shows it says so (DISCLAIMER).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .drug_classes import (
    BY_KEY,
    CLASS_OF,
    LONGEST,
    NAMED_CLASS,
    RELATED,
    RXNORM,
    RXNORM_INGREDIENTS,
)

DISCLAIMER = ("The allergy check is a reminder, not a pharmacy system. It matches ingredient names "
              "and RxNorm ingredient codes against 5 drug classes (penicillins, "
              "cephalosporins, sulfonamide antibiotics, NSAIDs, opioids), and any other drug "
              "allergy against orders of that very drug (code or name); brand names, other "
              "classes and interactions are not checked.")


@dataclass(frozen=True)
class Found:
    """What a text or code names: ingredients, classes named as such, and how it was read."""

    ingredients: tuple[str, ...]
    classes: tuple[str, ...]  # classes the text names itself ("sulfa", "penicillins")
    how: str  # "RxNorm 7980" | "by name"

    @property
    def all_classes(self) -> tuple[str, ...]:
        found = [CLASS_OF[i] for i in self.ingredients if i in CLASS_OF] + list(self.classes)
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Conflict:
    order_id: str
    medication: str
    allergy_id: str
    substance: str
    basis: str  # "ingredient" | "class" | "related class" | "same drug" (outside the table)
    why: str  # what matched, in words
    how: str  # "RxNorm 7980" or "by name": how the allergy and the order were read
    restricted: bool = False  # the order is masked until break-glass
    on_hold: bool = False
    group: str = ""  # the class that links them ("penicillins"), for a class match

    @property
    def short(self) -> str:
        """One line: "Piperacillin-tazobactam 3.375 g IV — allergy: Penicillin G (same class:
        penicillins)"."""
        link = {"ingredient": "same ingredient", "same drug": "same drug",
                "class": f"same class: {self.group}",
                "related class": f"related class: {self.group}"}.get(self.basis, self.basis)
        return f"{self.order} — allergy: {self.substance} ({link})"

    @property
    def order(self) -> str:
        return self.medication + (" (ON HOLD)" if self.on_hold else "")

    @property
    def text(self) -> str:
        """ "Piperacillin-tazobactam 3.375 g IV — allergy: Penicillin G: piperacillin is a
        penicillin, as is penicillin g (same class; matched by name)"."""
        return f"{self.order} — allergy: {self.substance}: {self.why} ({self.how})"

    def masked_text(self) -> str:
        return f"a restricted order — allergy: {self.substance} (break glass to see the order)"


_WORD = re.compile(r"[a-z]+")
# ingredient names as printed where lower case would misread them
_PRINTED = {"penicillin g": "penicillin G", "penicillin v": "penicillin V"}


def _printed(ingredient: str) -> str:
    return _PRINTED.get(ingredient, ingredient)


def read(text: str | None, system: str | None = None, code: str | None = None) -> Found:
    """The ingredients and classes a medication or substance names."""
    if system == RXNORM and isinstance(code, str) and code in RXNORM_INGREDIENTS:
        ingredients = RXNORM_INGREDIENTS[code]
        return Found(ingredients, (), f"RxNorm {code}")
    words = _WORD.findall((text or "").lower())
    found, classes = [], []
    i = 0
    while i < len(words):
        for n in range(min(LONGEST, len(words) - i), 0, -1):
            phrase = " ".join(words[i:i + n])
            if phrase in CLASS_OF:
                found.append(phrase)
                i += n
                break
        else:
            if words[i] in NAMED_CLASS:
                classes.append(NAMED_CLASS[words[i]])
            i += 1
    return Found(tuple(dict.fromkeys(found)), tuple(dict.fromkeys(classes)), "by name")


def match(order: Found, allergy: Found) -> tuple[str, str, str] | None:
    """(basis, why, the class that links them) of the strongest link between an order and an
    allergy, or None."""
    shared = [i for i in order.ingredients if i in allergy.ingredients]
    if shared:
        return "ingredient", f"contains {_printed(shared[0])}, the allergy's substance", ""
    # what the order is made of: its ingredients' classes, or a class its name names
    # ("Penicillin 500 mg" names no ingredient the table knows, but a penicillin)
    members = [(i, CLASS_OF[i]) for i in order.ingredients if i in CLASS_OF] + \
        [("the order", k) for k in order.classes]
    allergy_classes = allergy.all_classes
    for label, key in members:
        if key in allergy_classes:
            group = BY_KEY[key]
            also = next((i for i in allergy.ingredients if CLASS_OF.get(i) == key), None)
            tail = f", as is {_printed(also)}" if also else f"; the allergy is to {group.name}"
            verb = "names" if label == "the order" else "is"
            return "class", f"{_printed(label)} {verb} {group.member}{tail} (same class)", \
                group.name
    for label, key in members:
        for allergy_key in allergy_classes:
            note = RELATED.get((allergy_key, key))
            if note:
                verb = "names" if label == "the order" else "is"
                return "related class", f"{_printed(label)} {verb} {BY_KEY[key].member}; " \
                    f"{note}", BY_KEY[key].name
    return None


@dataclass(frozen=True)
class AllergyCheck:
    """The check of one patient: conflicts found, and what it could not look at."""

    conflicts: tuple[Conflict, ...]
    orders: int  # orders checked
    allergies: int  # allergies checked
    unplaced: tuple[str, ...]  # drug allergies the table cannot place (not checked)
    state: str  # "checked" | "no-allergy-information" | "no-known-allergies" | "no-orders"

    @property
    def summary(self) -> str:
        """One line for when nothing matched (or could be checked)."""
        if self.state == "no-allergy-information":
            return "Allergy check not possible: no allergy information recorded."
        if self.state == "no-orders":
            return "Allergy check: no active orders."
        if self.conflicts:
            n = len(self.conflicts)
            return f"{n} order{'' if n == 1 else 's'} may conflict with a recorded allergy."
        if self.state == "no-known-allergies":
            return "Allergy check: nothing to match (only 'no known' statements recorded)."
        orders = f"{self.orders} order{'' if self.orders == 1 else 's'}"
        allergies = f"{self.allergies} allerg{'y' if self.allergies == 1 else 'ies'}"
        text = f"Allergy check: no match found ({orders}, {allergies})."
        if self.unplaced:
            text += f" Not in the check's class table (checked by name and code only): " \
                    f"{', '.join(self.unplaced)}."
        return text


def check(allergies: Iterable, orders: Sequence, kind: str) -> AllergyCheck:
    """Each order (snapshots.chart.MedOrder: active or on hold) against each allergy
    (snapshots.chart.Allergy, no-known statements left out); `kind` is the AllergyStatus kind."""
    items = [a for a in allergies if not a.no_known]
    if kind == "unknown":
        return AllergyCheck((), len(orders), 0, (), "no-allergy-information")
    if not orders:
        return AllergyCheck((), 0, len(items), (), "no-orders")
    if not items:
        return AllergyCheck((), len(orders), 0, (), "no-known-allergies")
    read_allergies = [(a, read(a.substance, a.system, a.code)) for a in items]
    conflicts = []
    for m in orders:
        found = read(m.medication, getattr(m, "system", None), getattr(m, "code", None))
        placed = bool(found.ingredients or found.classes)
        for a, named in read_allergies:
            if _unplaced(a, named):  # no class to match: only that very drug
                same = same_drug(m, a)
                if same:
                    conflicts.append(Conflict(m.id, m.medication, a.id, a.substance, *same,
                                              bool(m.restricted), m.status == "on-hold"))
                continue
            link = match(found, named) if placed else None
            if link:
                how = found.how if found.how == named.how else f"order {found.how}, " \
                    f"allergy {named.how}"
                if how == "by name":
                    how = "matched by name"
                conflicts.append(Conflict(m.id, m.medication, a.id, a.substance, link[0],
                                          link[1], how, bool(m.restricted),
                                          m.status == "on-hold", link[2]))
    unplaced = tuple(a.substance for a, named in read_allergies if _unplaced(a, named))
    return AllergyCheck(tuple(conflicts), len(orders), len(items), unplaced, "checked")


def _unplaced(allergy, named: Found) -> bool:
    """A drug allergy the class table knows nothing of."""
    return not named.all_classes and not named.ingredients and _is_drug(allergy)


def same_drug(order, allergy) -> tuple[str, str, str] | None:
    """(basis, why, how) when an order is of the very drug an allergy the table cannot place
    names: the same RxNorm code, or the allergy's substance, word for word, in the order's
    name ("Erythromycin 250 mg tablet" against an allergy to erythromycin). No class is
    inferred: that is what the table is for."""
    code = getattr(order, "code", None)
    if allergy.system == RXNORM and allergy.code and getattr(order, "system", None) == \
            RXNORM and code == allergy.code:
        return "same drug", f"is {allergy.substance}, the allergy's substance", \
            f"RxNorm {code}"
    substance = _WORD.findall((allergy.substance or "").lower())
    words = _WORD.findall((order.medication or "").lower())
    n = len(substance)
    if n and any(words[i:i + n] == substance for i in range(len(words) - n + 1)):
        return "same drug", f"names {allergy.substance}, the allergy's substance", \
            "matched by name"
    return None


def _is_drug(allergy) -> bool:
    """A medication allergy (by category, or by an RxNorm code) the table knows nothing of."""
    return "medication" in (allergy.category or "").split(",") or allergy.system == RXNORM
