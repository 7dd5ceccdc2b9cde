"""Back-entry Bundles: 10,000 entries (MAR rows half, vitals rows a quarter, orders, notes)
of 400 patients, with a scanned page (30 KB image) for every 12 lines, to validated
transaction Bundles as bytes. Target (issue 12, section 9): under 10 s.

Ours: reconcile.bundles.build_bundles (plain dicts) with its Checker (every resource by the
official R4 schema's emitted subset compiled with fastjsonschema, compiled afresh inside the
timing; one resource of each shape by fhir.resources) and orjson. The naive path: the same
resources, each through its fhir.resources model (validated) and dumped by it, one by one,
then each Bundle assembled and dumped.
"""

from __future__ import annotations

import gc
import json

from tests.bench.common import BenchRow, median_timed

ENTRIES, PATIENTS, PAGE_BYTES = 10_000, 400, 30_000
TARGET_SECONDS = 10.0


def _ours(entries, pages) -> tuple[int, int, object]:
    from reconcile.bundles import build_bundles
    from reconcile.fhir_validation import Checker, schema_check, type_checks

    schema_check.cache_clear()  # the compile is part of the cost of one run in a process
    type_checks.cache_clear()
    checker = Checker()
    built = build_bundles(entries, pages, checker=checker)
    size = sum(len(b.to_bytes()) for b in built)
    return size, sum(len(b.bundle["entry"]) for b in built), checker


def _naive(entries, pages) -> tuple[int, int]:
    from fhir.resources.R4B import get_fhir_model_class

    from reconcile.bundles import build_bundles

    built = build_bundles(entries, pages, checker=_NoCheck())
    size = resources = 0
    for b in built:
        entries_json = []
        for entry in b.bundle["entry"]:
            resource = entry["resource"]
            model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            entries_json.append({**entry, "resource": json.loads(model.model_dump_json())})
            resources += 1
        bundle = get_fhir_model_class("Bundle").model_validate(
            {**b.bundle, "entry": entries_json})
        size += len(bundle.model_dump_json())
    return size, resources


class _NoCheck:
    def check_bundle(self, bundle: dict, where: str) -> None:
        pass


def run() -> list[BenchRow]:
    from fhir.resources.R4B import get_fhir_model_class

    from tests.back_entry_data import many

    entries, pages = many(ENTRIES, PATIENTS, page_bytes=PAGE_BYTES)
    for rtype in ("Bundle", "Patient", "Encounter", "MedicationRequest", "Provenance",
                  "MedicationAdministration", "Observation", "DocumentReference"):
        get_fhir_model_class(rtype)  # the models' import, outside both timings
    gc.collect()
    ours, (size, resources, checker) = median_timed(lambda: _ours(entries, pages), runs=3)
    naive, (naive_size, naive_resources) = median_timed(lambda: _naive(entries, pages),
                                                        runs=1)
    assert resources == naive_resources, (resources, naive_resources)
    name = (f"{ENTRIES:,} entries ({len(pages)} scanned pages) -> {resources:,} resources in "
            f"{PATIENTS} Bundles, validated ({checker.schema_checked:,} by schema, "
            f"{checker.model_checked} shapes by models)")
    return [
        BenchRow(name, ours, "s", naive=naive, target=f"< {TARGET_SECONDS:g} s",
                 met=ours < TARGET_SECONDS),
        BenchRow("  the same, in resources per second", resources / ours, "resources/s",
                 naive=naive_resources / naive),
    ]


if __name__ == "__main__":
    for row in run():
        print(row, f"{row.ratio:.1f}x" if row.ratio else "")
