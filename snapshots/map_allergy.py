"""Mapping an AllergyIntolerance: whatever the record says about the substance is kept, and
whatever cannot be read is said (the `unreadable` column, shown with a warning on the chart,
and an `unreadable-allergy` gap), so an allergy is never shown unnamed without a warning nor a
wrong shape turned into "no allergy".

A recorded "no known ... allergy" keeps its scope (snapshots.no_known): NKDA is not NKA.
"""

from __future__ import annotations

from .fhirdata import as_list, code_of, restricted, utc_time
from .mapcontext import MapContext
from .no_known import SNOMED, scope_of_code, scope_of_text
from .reading import Record

CRITICALITY = frozenset({"low", "high", "unable-to-assess"})
SEVERITY = frozenset({"mild", "moderate", "severe"})
CATEGORIES = frozenset({"food", "medication", "environment", "biologic"})
CLINICAL = frozenset({"active", "inactive", "resolved"})
VERIFICATION = frozenset({"unconfirmed", "confirmed", "refuted", "entered-in-error"})
_SHORT_SYSTEMS = {SNOMED: "SNOMED CT", "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm"}


def map_allergy(ctx: MapContext, record: Record, pid: str) -> dict:
    res = record.resource
    unreadable: list[str] = []
    cc, substance = concept(res.get("code"), "code", unreadable)
    coding = _coding(cc)
    scope = _no_known(ctx, record, pid, cc, substance)
    if substance is None and scope is None:
        substance = _from_reaction(res, unreadable)
    if substance is None and scope is None:
        if coding.get("code"):
            unreadable.append(f"substance coded {_system(coding)} {coding['code']} without a "
                              "name")
        else:
            unreadable.append("no substance recorded")
            ctx.gap(record, "missing-substance", "allergy with no substance code or text; "
                    "shown as '(substance not recorded)' with a warning", "warning", pid)
    manifestations, severity = _reactions(res.get("reaction"), unreadable)
    criticality = _one_of(res.get("criticality"), CRITICALITY, "criticality", unreadable)
    categories = _categories(res.get("category"), unreadable)
    clinical = _status(res.get("clinicalStatus"), CLINICAL, "clinicalStatus", unreadable)
    verification = _status(res.get("verificationStatus"), VERIFICATION, "verificationStatus",
                           unreadable)
    if unreadable:
        ctx.gap(record, "unreadable-allergy", "; ".join(unreadable)[:280] + " (shown on the "
                "chart with a warning)", "warning", pid)
    return {
        "id": res["id"], "patient_id": pid, "substance": substance,
        "code": _text(coding.get("code")), "system": _text(coding.get("system")),
        "coded": int(bool(coding.get("code"))), "no_known": int(scope is not None),
        "no_known_scope": scope, "category": ",".join(categories),
        "criticality": criticality, "reaction": ", ".join(manifestations) or None,
        "severity": severity, "clinical_status": clinical, "verification_status": verification,
        "recorded_at": utc_time(res.get("recordedDate")), "restricted": int(restricted(res)),
        "unreadable": "; ".join(unreadable) or None, **ctx.lineage(record),
    }


def concept(value: object, element: str, unreadable: list[str]) -> tuple[dict, str | None]:
    """(the CodeableConcept, its text) of an element that should be one CodeableConcept,
    whatever shape it came in; what is wrong with the shape goes to `unreadable`."""
    if value is None:
        return {}, None
    if isinstance(value, dict):
        return value, _name(value)
    if isinstance(value, str):
        text = value.strip() or None
        unreadable.append(f"{element} is plain text, not a CodeableConcept")
        return {"text": text} if text else {}, text
    if isinstance(value, list):
        unreadable.append(f"{element} is a list (R4 has one CodeableConcept)")
        dicts = [v for v in value if isinstance(v, dict)]
        if dicts:
            return dicts[0], next((n for n in map(_name, dicts) if n), None)
        texts = [str(v).strip() for v in value if isinstance(v, str | int | float) and
                 str(v).strip()]
        return {}, ", ".join(texts) or None
    unreadable.append(f"{element} is a JSON {type(value).__name__} ({str(value)[:40]!r}), not "
                      "a CodeableConcept")
    return {}, str(value)


def _name(cc: dict) -> str | None:
    """The human text of a concept: its text, else a coding's display (never a bare code)."""
    text = cc.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for c in as_list(cc.get("coding")):
        if isinstance(c, dict) and isinstance(c.get("display"), str) and c["display"].strip():
            return c["display"].strip()
    return None


def _coding(cc: dict) -> dict:
    for c in as_list(cc.get("coding")):
        if isinstance(c, dict):
            return c
    return {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else (None if value is None else str(value))


def _system(coding: dict) -> str:
    system = coding.get("system")
    return _SHORT_SYSTEMS.get(system, str(system or "(no system)")) \
        if isinstance(system, str | type(None)) else "(system not text)"


def _no_known(ctx: MapContext, record: Record, pid: str, cc: dict,
              text: str | None) -> str | None:
    """The scope of a recorded "no known ... allergy": by its SNOMED CT code, else by free
    text ("NKDA") when the record carries no code that names something else."""
    codes = [c for c in as_list(cc.get("coding")) if isinstance(c, dict) and c.get("code")]
    for c in codes:
        scope = scope_of_code(c.get("code"))
        if scope and c.get("system") in (SNOMED, None):
            return scope
    named = [scope_of_text(c.get("display")) for c in codes]
    if codes and not all(named):
        return None  # a substance code: whatever the text says, this is an allergy
    scope = scope_of_text(text) or next((s for s in named if s), None)
    if scope:
        ctx.gap(record, "no-known-free-text", f"{str(text)[:60]!r} read as a recorded "
                f"'no known {scope if scope != 'all' else ''} allergy' (no code the toolkit "
                "knows)".replace("  ", " "), "warning", pid)
    return scope


def _from_reaction(res: dict, unreadable: list[str]) -> str | None:
    """A record without `code` whose reaction names the substance (reaction.substance)."""
    for r in as_list(res.get("reaction")):
        if isinstance(r, dict) and r.get("substance") is not None:
            _, text = concept(r.get("substance"), "reaction.substance", unreadable)
            if text:
                unreadable.append("no code: substance taken from reaction.substance")
                return text
    return None


def _reactions(value: object, unreadable: list[str]) -> tuple[list[str], str | None]:
    manifestations: list[str] = []
    severity = None
    for r in as_list(value):
        if isinstance(r, str):
            unreadable.append("reaction is plain text")
            manifestations.append(r.strip())
            continue
        if not isinstance(r, dict):
            unreadable.append(f"reaction is a JSON {type(r).__name__}")
            continue
        for m in as_list(r.get("manifestation")):
            _, text = concept(m, "reaction.manifestation", unreadable)
            if text:
                manifestations.append(text)
        found = _one_of(r.get("severity"), SEVERITY, "reaction.severity", unreadable)
        severity = severity or found
    return [m for m in dict.fromkeys(manifestations) if m], severity


def _one_of(value: object, allowed: frozenset[str], element: str,
            unreadable: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in allowed:
        return value
    unreadable.append(f"{element} {str(value)[:30]!r} is not a code "
                      f"({', '.join(sorted(allowed))})")
    return None


def _categories(value: object, unreadable: list[str]) -> list[str]:
    found = []
    for c in as_list(value):
        if isinstance(c, str) and c in CATEGORIES:
            found.append(c)
        else:
            unreadable.append(f"category {str(c)[:30]!r} is not food, medication, environment "
                              "or biologic")
    return found


def _status(value: object, allowed: frozenset[str], element: str,
            unreadable: list[str]) -> str | None:
    """A status code of its R4 value set, or None. None shows the allergy (as active and not
    refuted): a status that cannot be read must never hide one."""
    if value is None:
        return None
    if isinstance(value, dict):
        code = code_of(value)
        if code is None or code in allowed:
            return code
        unreadable.append(f"{element} {str(code)[:20]!r} is not one of "
                          f"{', '.join(sorted(allowed))}")
        return None
    if isinstance(value, str):  # "active" where a CodeableConcept belongs: the code is clear
        unreadable.append(f"{element} is plain text ({value[:20]!r})")
        code = value.strip().lower()
        return code if code in allowed else None
    unreadable.append(f"{element} is a JSON {type(value).__name__}")
    return None
