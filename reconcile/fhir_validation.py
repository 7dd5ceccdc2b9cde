"""Checking what reconciliation emits against the official HL7 FHIR R4 JSON schema and the R4B
models of fhir.resources, fast enough to check every resource of every Bundle.

The schema: the official `fhir.schema.json` is 3.4 MB; compiled whole by fastjsonschema it
takes about 20 s and validates a resource in 6 ms (its top level is a oneOf over all 146
resource types). What a back-entry Bundle can hold is eight types, so `r4_emitted.schema.json`
(beside this module) holds the official schema's definitions reachable from those eight,
unchanged, with one exception: `ResourceList` (what `Bundle.entry.resource` and `contained`
may be) lists those eight types only. Compiled once per process (about 0.6 s) it checks a
resource in tens of microseconds. `python -m reconcile.fhir_validation SCHEMA` writes it from
the official file; tests/test_bundles.py checks it is still exactly that extraction.

The models: fhir.resources also checks what the schema cannot say (one value per choice
element, among others), at about a millisecond a resource. Every resource is checked by the
schema; by the models, one resource of each *shape* (its type and the set of element paths
it has, values aside): two resources of one shape differ only in values, which the schema
checks (codes, dates, instants, ids, patterns). docs/back-entry-fhir.md says the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from snapshots.errors import ToolkitError

SUBSET = Path(__file__).with_name("r4_emitted.schema.json")
EMITTED_TYPES = ("Bundle", "Patient", "Encounter", "MedicationRequest",
                 "MedicationAdministration", "Observation", "DocumentReference", "Provenance")


class InvalidFhir(ToolkitError):
    """A resource the toolkit built that FHIR R4 does not accept: a bug, said in one line."""

    reason = "invalid-fhir"


def extract_subset(official: dict, types: Iterable[str] = EMITTED_TYPES) -> dict:
    """The definitions of `official` reachable from `types`, with ResourceList narrowed to
    them; its root is a ResourceList."""
    definitions = official["definitions"]
    narrowed = {"oneOf": [{"$ref": f"#/definitions/{t}"} for t in types]}
    keep: dict[str, dict] = {}
    todo = [*types, "ResourceList"]
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep[name] = narrowed if name == "ResourceList" else definitions[name]
        todo.extend(_refs(keep[name]) - keep.keys())
    return {"$schema": official["$schema"], "id": official["id"],
            "description": "The official FHIR R4 JSON schema's definitions reachable from "
                           f"{', '.join(types)}; ResourceList narrowed to those types "
                           "(reconcile/fhir_validation.py).",
            "$ref": "#/definitions/ResourceList",
            "definitions": dict(sorted(keep.items()))}


def _refs(node: object) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.add(ref.rsplit("/", 1)[-1])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


@cache
def _subset() -> dict:
    return json.loads(SUBSET.read_text(encoding="utf-8"))


@cache
def schema_check():
    """The compiled check of one resource (fastjsonschema; compiled once per process)."""
    import fastjsonschema

    return fastjsonschema.compile(_subset())


@cache
def _type_check(rtype: str):
    """The check of one type alone: only to say *what* is wrong once the oneOf of all
    refused (its own message is 'valid exactly by one definition (0 matches found)')."""
    import fastjsonschema

    return fastjsonschema.compile({**_subset(), "$ref": f"#/definitions/{rtype}"})


def schema_problem(resource: dict) -> str | None:
    """None when `resource` is valid R4 by the schema, else the schema's first complaint."""
    import fastjsonschema

    try:
        schema_check()(resource)
    except fastjsonschema.JsonSchemaValueException:
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if rtype not in EMITTED_TYPES:
            return f"resourceType {rtype!r} is not one reconciliation emits"
        try:
            _type_check(rtype)(resource)
        except fastjsonschema.JsonSchemaValueException as e:
            return f"{e.message[:200]}"
        return "valid by its type's schema, yet not by ResourceList's"  # never seen
    return None


def model_problem(resource: dict) -> str | None:
    """None when fhir.resources' R4B model accepts `resource`, else its first complaint."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except Exception as e:  # pydantic's ValidationError, or an unknown type
        return str(e).splitlines()[0][:200] + _first_detail(e)
    return None


def _first_detail(error: Exception) -> str:
    lines = str(error).splitlines()
    return f" ({lines[1].strip()}: {lines[2].strip()[:160]})" if len(lines) > 2 else ""


def shape(resource: object, prefix: str = "") -> Iterator[str]:
    """The element paths of `resource` (list positions folded, values left out)."""
    if isinstance(resource, dict):
        for key, value in resource.items():
            path = f"{prefix}.{key}"
            yield path
            yield from shape(value, path)
    elif isinstance(resource, list):
        for item in resource:
            yield from shape(item, prefix)


class Checker:
    """Checks the resources of Bundles as they are built: every one by the schema, one of
    each shape by the models. Counts what it did, for the docs and the benchmark."""

    def __init__(self, *, models: bool = True) -> None:
        self.models = models
        self.seen_shapes: set[tuple[str, frozenset[str]]] = set()
        self.schema_checked = 0
        self.model_checked = 0

    def check_bundle(self, bundle: dict, where: str) -> None:
        """Every entry's resource, then the Bundle as a whole (its own elements)."""
        for n, entry in enumerate(bundle.get("entry") or []):
            self.check(entry["resource"], f"{where} entry {n}")
        shell = {**bundle, "entry": [{k: v for k, v in e.items() if k != "resource"}
                                     for e in bundle.get("entry") or []]}
        self.check(shell, where)

    def check(self, resource: dict, where: str) -> None:
        problem = schema_problem(resource)
        self.schema_checked += 1
        if problem is None and self.models:
            key = (resource["resourceType"], frozenset(shape(resource)))
            if key not in self.seen_shapes:
                problem = model_problem(resource)
                self.model_checked += 1
                self.seen_shapes.add(key)
        if problem is not None:
            raise InvalidFhir(f"{where} ({resource.get('resourceType')}): not valid FHIR R4: "
                              f"{problem}")


def main(argv: list[str]) -> int:
    """`python -m reconcile.fhir_validation OFFICIAL_SCHEMA`: write r4_emitted.schema.json."""
    official = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    SUBSET.write_text(json.dumps(extract_subset(official), indent=1, sort_keys=False) + "\n",
                      encoding="utf-8")
    print(f"wrote {SUBSET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
