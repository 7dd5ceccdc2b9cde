"""A `Patient/$match` for the sandbox (sekmet 0.1.1 has none), offered only when asked
(`Sandbox.offer_match()`), so that reconciliation's $match path can be tested against a real
server: the operation is then listed on Patient in the CapabilityStatement (sekmet lists the
operations registered with it) and answers a searchset Bundle with `search.score` and the
`match-grade` extension, as FHIR R4 says.

It is a stand-in: it scores the sandbox's Patients (up to 1,000) with reconciliation's own
local scorer (reconcile.matching), so it shows the protocol, not a second opinion.
"""

from __future__ import annotations

from typing import Any

from reconcile.matching import MATCH_GRADE, person_of_patient, score_pair

MAX_PATIENTS = 1000


def offer_match(service: Any, offer: bool = True) -> None:
    """Register the operation with sekmet's FhirService (or withdraw it)."""
    if offer:
        service.register_operation("Patient", "$match", _match)
    else:
        service.operations.pop(("Patient", "$match"), None)


def _match(svc: Any, rtype: str, rid: str | None, params: list, body: Any, ctx: dict) -> Any:
    from sekmet.fhir.common import FhirError
    from sekmet.fhir.service import Result

    parameters = {p.get("name"): p for p in (body or {}).get("parameter") or []
                  if isinstance(p, dict)}
    query = (parameters.get("resource") or {}).get("resource")
    if not isinstance(query, dict) or query.get("resourceType") != "Patient":
        raise FhirError(400, "$match needs a Patient in the 'resource' parameter", "required")
    count = (parameters.get("count") or {}).get("valueInteger") or 10
    only_certain = (parameters.get("onlyCertainMatches") or {}).get("valueBoolean") is True
    wanted = person_of_patient(query)
    found = []
    for resource in svc.search("Patient", [("_count", str(MAX_PATIENTS))]).body.get(
            "entry") or []:
        patient = resource["resource"]
        score, grade, _ = score_pair(wanted, person_of_patient(patient))
        if grade is None or (only_certain and grade != "certain"):
            continue
        found.append((score, grade, patient))
    found.sort(key=lambda f: -f[0])
    entries = [{"fullUrl": f"{svc.base_url}/Patient/{p['id']}", "resource": p, "search": {
        "mode": "match", "score": score, "extension": [
            {"url": MATCH_GRADE, "valueCode": grade}]}} for score, grade, p in found[:count]]
    return Result(200, {"resourceType": "Bundle", "type": "searchset",
                        "total": len(entries), "entry": entries})
