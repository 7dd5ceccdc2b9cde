"""Recorded "no known allergy" statements and what each one covers.

"No known drug allergy" (NKDA) says nothing about food or latex: each statement keeps its
scope, so the chart and the forms can say exactly what was recorded. The SNOMED CT codes are
those of the HL7 Switzerland allergy value sets (CH Term, `CHAllergyIntoleranceValueSet`) and
the HL7 FHIR R4 examples (`allergyintolerance-nka`, `-nkda`, `-nkla`); docs/allergy-check.md
lists them with their sources.
"""

from __future__ import annotations

import re

SNOMED = "http://snomed.info/sct"

# SNOMED CT "no known ... allergy (situation)" -> the scope of the statement
NO_KNOWN_CODES: dict[str, str] = {
    "716186003": "all",  # No known allergy
    "409137002": "drug",  # No known drug allergy
    "429625007": "food",  # No known food allergy
    "428607008": "environmental",  # No known environmental allergy
    "716184000": "latex",  # No known latex allergy (HL7 R4 example allergyintolerance-nkla)
    "1003774007": "latex",  # No known Hevea brasiliensis latex allergy
    "428197003": "insect",  # No known insect allergy
    "716220001": "animal",  # No known animal allergy
}

# Order in which scopes are listed, the words for each, and the census abbreviation.
SCOPES = ("all", "drug", "food", "environmental", "latex", "insect", "animal")
SCOPE_WORDS = {"all": "", "drug": "drug", "food": "food", "environmental": "environmental",
               "latex": "latex", "insect": "insect", "animal": "animal"}
ABBREVIATIONS = {"all": "NKA", "drug": "NKDA", "food": "NKFA", "environmental": "NKEA",
                 "latex": "NKLA", "insect": "NKIA", "animal": "NKAA"}

# The AllergyIntolerance.category values (R4) each scope speaks for: an allergy of one of
# these categories (or of none: it could be anything) contradicts the statement.
SCOPE_CATEGORIES = {"all": frozenset({"food", "medication", "environment", "biologic"}),
                    "drug": frozenset({"medication", "biologic"}),
                    "food": frozenset({"food"}),
                    "environmental": frozenset({"environment"}),
                    "latex": frozenset({"environment"}), "insect": frozenset({"environment"}),
                    "animal": frozenset({"environment"})}

# Free text some systems send instead of a code: "NKDA", "No known drug allergies"...
_ABBREVIATED = {"nka": "all", "nkda": "drug", "nkma": "drug", "nkfa": "food",
                "nkea": "environmental", "nkla": "latex"}
_WORDED = re.compile(r"^no known (?:(drug|medication|food|environmental|environment|latex|"
                     r"insect|animal) )?allerg(?:y|ies)(?: \(situation\))?$")
_TEXT_SCOPE = {None: "all", "medication": "drug", "environment": "environmental"}


def scope_of_code(code: object) -> str | None:
    return NO_KNOWN_CODES.get(code) if isinstance(code, str) else None


def scope_of_text(text: object) -> str | None:
    """The scope a free-text "no known ... allergy" names, or None when it names none."""
    if not isinstance(text, str):
        return None
    words = " ".join(re.sub(r"[^a-z() ]", " ", text.lower()).split())
    if words in _ABBREVIATED:
        return _ABBREVIATED[words]
    found = _WORDED.match(words)
    if not found:
        return None
    return _TEXT_SCOPE.get(found.group(1), found.group(1))


def statement(scopes: tuple[str, ...]) -> str:
    """ "No known allergies", "No known drug allergies", "No known drug or food allergies"."""
    if not scopes or "all" in scopes:
        return "No known allergies"
    words = [SCOPE_WORDS[s] for s in SCOPES if s in scopes]
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return f"No known {joined} allergies"


def not_covered(scopes: tuple[str, ...]) -> str:
    """What the statements leave open, in words: "" when they cover every allergy."""
    if not scopes or "all" in scopes:
        return ""
    main = [w for w in ("drug", "food", "environmental") if w not in scopes]
    if not main:
        return ""
    joined = main[0] if len(main) == 1 else ", ".join(main[:-1]) + " or " + main[-1]
    return f"nothing recorded about {joined} allergies"


def not_covered_short(scopes: tuple[str, ...]) -> str:
    """The same, short, for a table cell: "food, environmental: not recorded"."""
    if not scopes or "all" in scopes:
        return ""
    main = [w for w in ("drug", "food", "environmental") if w not in scopes]
    return f"{', '.join(main)}: not recorded" if main else ""


def abbreviation(scopes: tuple[str, ...]) -> str:
    """The census marker: NKA, NKDA...; several narrow statements: the first and "+"."""
    if not scopes or "all" in scopes:
        return "NKA"
    ordered = [s for s in SCOPES if s in scopes]
    return ABBREVIATIONS[ordered[0]] + ("+" if len(ordered) > 1 else "")


def contradicts(scope: str, category: str | None) -> bool:
    """Whether an allergy of `category` (None: not recorded) contradicts a statement."""
    covered = SCOPE_CATEGORIES.get(scope, SCOPE_CATEGORIES["all"])
    if not category:
        return True
    return any(c in covered for c in category.split(","))
