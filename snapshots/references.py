"""Resolving FHIR references whatever their form.

`Patient/123`, `https://ehr.example.org/fhir/Patient/123/_history/2`, the `urn:uuid:` fullUrls
of transaction Bundles (Synthea), and conditional references such as
`Location?identifier=https://example.org|42` all resolve to ("Patient", "123"). Merged charts
(Patient.link replaced-by) resolve to the surviving chart.
"""

from __future__ import annotations

import re

_HISTORY = re.compile(r"/_history/[^/]+$")


class Resolver:
    def __init__(self) -> None:
        self._by_url: dict[str, tuple[str, str]] = {}
        self._by_identifier: dict[tuple[str, str, str], str] = {}
        self.replaced_by: dict[str, str] = {}
        self._parsed: dict[str, tuple[str, str]] = {}

    def register(self, resource: dict, full_url: str | None = None) -> None:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if not isinstance(rtype, str) or not isinstance(rid, str):
            return
        if isinstance(full_url, str) and full_url:
            self._by_url[full_url] = (rtype, rid)
        idents = resource.get("identifier")
        for ident in idents if isinstance(idents, list) else ():
            if not isinstance(ident, dict):
                continue
            system, value = ident.get("system") or "", ident.get("value")
            if isinstance(value, str) and value and isinstance(system, str):
                self._by_identifier[(rtype, system, value)] = rid

    def parse(self, reference: object) -> tuple[str, str] | None:
        """("Type", "id") for a Reference object or string; None when it cannot resolve."""
        if isinstance(reference, dict):
            reference = reference.get("reference")
        if isinstance(reference, str):
            cached = self._parsed.get(reference)  # only ever holds what resolved
            if cached is not None:
                return cached
        if not isinstance(reference, str) or not reference or reference.startswith("#"):
            return None
        found = self._parse_text(reference)
        if found is not None and not reference.startswith(("urn:", )) and "?" not in reference:
            self._parsed[reference] = found
        return found

    def _parse_text(self, reference: str) -> tuple[str, str] | None:
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            return self._by_url.get(reference)
        if "?" in reference:
            return self._conditional(reference)
        found = self._by_url.get(reference)
        if found:
            return found
        parts = _HISTORY.sub("", reference).rstrip("/").split("/")
        if len(parts) < 2 or not parts[-2][:1].isupper():
            return None
        return parts[-2], parts[-1]

    def _conditional(self, reference: str) -> tuple[str, str] | None:
        rtype, _, query = reference.partition("?")
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key != "identifier":
                continue
            system, bar, code = value.partition("|")
            if not bar:
                system, code = "", value
            rid = self._by_identifier.get((rtype, system, code))
            if rid:
                return rtype, rid
        return None

    def ref_id(self, reference: object, rtype: str) -> str | None:
        """The id of a reference expected to point at `rtype`; None if it points elsewhere."""
        found = self.parse(reference)
        if not found or found[0] != rtype:
            return None
        return found[1]

    def patient_id(self, reference: object) -> str | None:
        """The surviving chart's id for a Patient reference, following merges."""
        pid = self.ref_id(reference, "Patient")
        if pid not in self.replaced_by:  # nearly always: no merge to follow
            return pid
        seen = set()
        while pid in self.replaced_by and pid not in seen:
            seen.add(pid)
            pid = self.replaced_by[pid]
        return pid
