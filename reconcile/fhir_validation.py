"""Checking what reconciliation emits against the official HL7 FHIR R4 JSON schema and the R4B
models of fhir.resources, fast enough to check every resource of every Bundle.

The schema: the official `fhir.schema.json` is 3.4 MB; compiled whole by fastjsonschema it
takes about 20 s and validates a resource in 6 ms (its top level is a oneOf over all 146
resource types). What a back-entry Bundle can hold is eight types, so `r4_emitted.schema.json`
(beside this module) holds the official schema's definitions reachable from those eight,
unchanged, with one exception: `ResourceList` (what `Bundle.entry.resource` and `contained`
may be) lists those eight types only; its root sends each resource to its own type's
definition by `resourceType`. Compiled once per process (about 0.6 s) it checks a resource
in tens of microseconds. `python -m reconcile.fhir_validation SCHEMA` writes it from
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
from collections.abc import Callable, Iterable
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
    them. The root sends a resource to its type's definition by `resourceType` (draft-07
    if/then: the definitions read the same under draft-07 as under the official draft-06)
    rather than trying every type as ResourceList's oneOf does (8 full checks a resource)."""
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
    dispatch = [{"if": {"properties": {"resourceType": {"const": t}}},
                 "then": {"$ref": f"#/definitions/{t}"}} for t in types]
    return {"$schema": "http://json-schema.org/draft-07/schema#", "id": official["id"],
            "description": "The official FHIR R4 JSON schema's definitions reachable from "
                           f"{', '.join(types)}; ResourceList narrowed to those types "
                           "(reconcile/fhir_validation.py).",
            "type": "object", "required": ["resourceType"],
            "properties": {"resourceType": {"enum": list(types)}},
            "allOf": dispatch,
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
    """The check of one type alone, only to say *what* is wrong once the root refused
    (its own message names the if/then, not the element)."""
    import fastjsonschema

    root = {k: v for k, v in _subset().items() if k not in ("allOf", "properties", "type",
                                                             "required")}
    return fastjsonschema.compile({**root, "$ref": f"#/definitions/{rtype}"})


@cache
def type_checks() -> dict[str, Callable[[object], object]]:
    """Each emitted type's own compiled check, taken from the one compile: fastjsonschema
    makes a function per definition beside the root's (`validate_..._definitions_<type>`).
    The root tries each type's `if` (an exception each miss): going straight to the type's
    function halves the time. A type not found there (another fastjsonschema) is checked by
    the root, just as validly; tests/test_bundles.py says when that happens."""
    root = schema_check()
    names = {k.rsplit("__definitions_", 1)[-1]: v for k, v in root.__globals__.items()
             if k.startswith("validate_") and "__definitions_" in k and callable(v)}
    return {t: names.get(t.lower(), root) for t in EMITTED_TYPES}


def schema_problem(resource: dict) -> str | None:
    """None when `resource` is valid R4 by the schema, else the schema's first complaint."""
    import fastjsonschema

    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    try:
        type_checks().get(rtype, schema_check())(resource)
    except fastjsonschema.JsonSchemaValueException:
        if rtype not in EMITTED_TYPES:
            return f"resourceType {rtype!r} is not one reconciliation emits"
        try:
            _type_check(rtype)(resource)
        except fastjsonschema.JsonSchemaValueException as e:
            return f"{e.message[:200]}"
        return "valid by its type's schema, yet refused at the root"  # never seen
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


def shape(resource: object) -> frozenset[str]:
    """The element paths of `resource` (list positions folded, values left out)."""
    paths: set[str] = set()
    _walk(resource, "", paths)
    return frozenset(paths)


def _walk(node: object, prefix: str, paths: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}"
            paths.add(path)
            if isinstance(value, dict | list):
                _walk(value, path, paths)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _walk(item, prefix, paths)


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
            key = (resource["resourceType"], shape(resource))
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
