"""What R4 allows at the top level of the resource types the build checks, and which names are
R4 types at all: read from the R4B models of fhir.resources, and kept in `r4_elements.json`.

Why a table: loading those models (pydantic classes) costs about half a second of every build
process, on every build, for a handful of element names. The table is made from the models
(`python -m snapshots.r4model` writes it) and `tests/test_snap_r4model.py` checks that it still
says exactly what the installed fhir.resources says, so an upgrade cannot leave it stale. A type
outside the table is still asked of the models.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("r4_elements.json")
# The types whose resources the build checks element by element (census-deciding and mapped).
CHECKED_TYPES = ("Patient", "Encounter", "Location", "Practitioner", "PractitionerRole",
                 "Organization", "Medication", "AllergyIntolerance", "Condition",
                 "MedicationRequest", "MedicationAdministration", "Observation", "Procedure",
                 "DocumentReference", "Flag")
PRIMITIVE = (str, int, float, bool)
_KIND_OF = {"array": list, "object": dict, "value": PRIMITIVE}


@cache
def _table() -> dict:
    return json.loads(TABLE.read_text(encoding="utf-8"))


def is_model_name(name: str) -> bool:
    """Whether fhir.resources' R4B has a model of that name (any resource or datatype)."""
    return name in _names()


@cache
def _names() -> frozenset[str]:
    return frozenset(_table()["models"])


@cache
def element_kinds(rtype: str) -> dict[str, type | tuple[type, ...]]:
    """Top-level element -> the Python type its JSON must have (list, dict or a primitive)."""
    kinds = _table()["elements"].get(rtype)
    if kinds is None:
        return model_element_kinds(rtype)
    return {name: _KIND_OF[kind] for name, kind in kinds.items()}


def model_element_kinds(rtype: str) -> dict[str, type | tuple[type, ...]]:
    """The same, from the R4B model itself (loads it)."""
    from fhir.resources.R4B import get_fhir_model_class

    kinds: dict[str, type | tuple[type, ...]] = {}
    for name, f in get_fhir_model_class(rtype).model_fields.items():
        if name == "fhir_comments":
            continue
        text = str(f.annotation)
        kinds[f.alias or name] = list if "List[" in text else dict if "abc." in text \
            else PRIMITIVE
    return kinds


def model_names() -> list[str]:
    """Every name fhir.resources' R4B resolves to a model (`get_fhir_model_class`)."""
    from fhir.resources.R4B import fhirtypes, get_fhir_model_class

    found = []
    for attr in sorted(dir(fhirtypes)):
        if not attr.endswith("Type") or attr.startswith("_"):
            continue
        try:
            get_fhir_model_class(attr[:-4])
        except (KeyError, ValueError, AttributeError, ImportError):
            continue
        found.append(attr[:-4])
    return found


def from_models() -> dict:
    """The table, made afresh from the installed fhir.resources."""
    names = {list: "array", dict: "object", PRIMITIVE: "value"}
    return {"fhir.resources": _version(), "models": model_names(),
            "elements": {t: {e: names[k] for e, k in model_element_kinds(t).items()}
                         for t in CHECKED_TYPES}}


def _version() -> str:
    from importlib.metadata import version

    return version("fhir.resources")


if __name__ == "__main__":
    TABLE.write_text(json.dumps(from_models(), indent=1, sort_keys=True) + "\n",
                     encoding="utf-8")
    print(f"wrote {TABLE}")
