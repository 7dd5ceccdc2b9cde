"""The gap register: everything the build could not take as it was, with the reason.

Nothing is dropped silently. A gap is either an `error` (the record is not in the snapshot) or
a `warning` (it is, but something in it could not be mapped or looks wrong).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Gap:
    where: str
    reason: str
    detail: str
    resource_type: str = ""
    resource_id: str = ""
    patient_id: str = ""
    severity: str = "error"
    record_status: str = ""  # the status of the record, where read (see lost_records)


@dataclass
class GapRegister:
    gaps: list[Gap] = field(default_factory=list)

    def add(self, where: str, reason: str, detail: str = "", *, resource_type: str = "",
            resource_id: str = "", patient_id: str = "", severity: str = "error") -> None:
        self.gaps.append(Gap(where, reason, detail, resource_type, resource_id, patient_id,
                             severity))

    def bad_input(self, where: str, reason: str, detail: str) -> None:
        """Callback for the reader: a line or file that is not a FHIR resource at all (an
        error), or a fault the reader worked around (a warning)."""
        from .reading import WARNING_INPUT

        self.add(where, reason, detail,
                 severity="warning" if reason in WARNING_INPUT else "error")

    def counts(self) -> Counter:
        return Counter((g.severity, g.reason) for g in self.gaps)

    def rows(self, start: int = 0) -> list[dict]:
        return [{"seq": start + i, "where": g.where, "resource_type": g.resource_type,
                 "resource_id": g.resource_id, "patient_id": g.patient_id,
                 "reason": f"{g.severity}:{g.reason}", "detail": g.detail,
                 "record_status": g.record_status or None}
                for i, g in enumerate(self.gaps, 1)]
