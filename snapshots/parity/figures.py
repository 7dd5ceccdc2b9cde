"""The figures a parity check measures (settings.FIGURES names each) and the criteria over
them: a figure above its limit fails."""

from __future__ import annotations

from .result import Criterion, Difference, SampledChart


def figures_of(differences: list[Difference], *, patients: int, missing: int, extra: int,
               duplicated: int, identity: int, differing: int, lacking: int,
               with_history: int, sample: list[SampledChart],
               counts: tuple[dict[str, int], dict[str, int]]) -> dict[str, float]:
    kinds: dict[str, int] = {}
    for d in differences:
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    fields = [d for d in differences if d.kind == "field"]
    a, b = counts
    per_type = {f"count_difference.{t}": abs(a.get(t, 0) - b.get(t, 0))
                for t in sorted(set(a) | set(b))}
    return {
        "patients_missing": missing,
        "patients_extra": extra,
        "patients_duplicated": duplicated,
        "identity_mismatches": identity,
        "identity_mismatch_share": _share(identity, patients),
        "charts_differing": differing,
        "charts_differing_share": _share(differing, patients),
        "lacking_medication_history": lacking,
        "lacking_medication_history_share": _share(lacking, with_history),
        "sampled_charts_differing": sum(1 for s in sample if s.differences),
        "sampled_lacking_medication_history": sum(1 for s in sample
                                                  if s.lacking_medication_history),
        "differences": len(differences),
        "field_differences": len(fields),
        "records_missing": kinds.get("missing-record", 0),
        "records_extra": kinds.get("extra-record", 0),
        "timestamp_differences": sum(1 for d in fields if "timestamp" in d.tags),
        "code_differences": sum(1 for d in fields if "code" in d.tags),
        "code_set_differences": kinds.get("code-set", 0),
        "required_field_differences": kinds.get("required-field", 0),
        "count_differences": sum(per_type.values()),
        **per_type,
    }


def _share(n: int, of: int) -> float:
    return round(n / of, 6) if of else 0.0


def judge(figures: dict[str, float], criteria: dict[str, float]) -> list[Criterion]:
    """Each criterion with the value measured; a per-type figure of a type neither source
    holds is 0."""
    return [Criterion(name, limit, figures.get(name, 0), figures.get(name, 0) <= limit)
            for name, limit in criteria.items()]
