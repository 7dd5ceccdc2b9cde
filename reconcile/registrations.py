"""Downtime registrations: who was that patient? A person decides, for each registration in
force, to link it to an EHR patient or to create a new one; the decision is a
`registration-decided` event (reconcile/decisions.py) and the submitter builds from it.

- `match_all`: each registration in force with its candidates (reconcile/matching.py: the
  server's `Patient/$match` where offered, else the local score, over the live server or a
  FHIR export's Patients) and the decision standing, if any.
- `link` / `create`: a person's decision, journaled with the match's grade and who decided.
  Nothing is decided without a named person, whatever the grade: "certain" is a suggestion
  confirmed by a person (`confirm_certain` confirms every certain one at once, naming the
  person, and only where the match offered exactly one certain candidate). Linking to a
  patient the match did not offer is refused unless forced with a reason; creating a new
  patient when a certain or probable candidate exists needs a reason (a second chart of one
  person is how records split). A decision already standing is changed only with a reason.
- `linked_patients`: what `build_bundles` takes as `links` (downtime MRN -> the EHR's
  Patient resource as read now from the server or the export); a linked patient no longer
  there, or merged into another since, is an error naming the registration: decide again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapshots.errors import ToolkitError, oserror_text

from .decisions import REGISTRATION_DECIDED, Decisions
from .entries import Registration
from .fhir_codes import BundleSettings
from .journal import Event, Journal
from .matching import DEFAULT_SETTINGS, Candidate, MatchResult, match_registration
from .state import EpisodeState

if TYPE_CHECKING:
    from snapshots.fhir_client import FhirClient


class RegistrationError(ToolkitError):
    """A registration decision that cannot be taken as asked (one line: which, why)."""

    reason = "registration"


@dataclass(frozen=True)
class RegistrationMatch:
    registration: Registration
    result: MatchResult
    decided: dict[str, Any] | None  # the standing registration-decided event's data


@dataclass(frozen=True)
class Against:
    """What the match ran against: a server (client) or an export's Patients."""

    client: FhirClient | None = None
    patients: tuple[dict, ...] | None = None
    where: str = ""  # the server's URL or the export's path, for the journal

    def describe(self) -> dict[str, str]:
        return {"url" if self.client is not None else "export": self.where}


def registrations_in_force(state: EpisodeState) -> list[Registration]:
    return [e for e in state.entries.in_force() if isinstance(e, Registration)]


def registration_of(state: EpisodeState, mrn: str) -> Registration:
    found = [r for r in registrations_in_force(state) if r.downtime_mrn == mrn.strip()]
    if not found:
        known = ", ".join(r.downtime_mrn for r in registrations_in_force(state)[:8])
        raise RegistrationError(f"no downtime registration {mrn!r:.30} is entered in this "
                                f"episode" + (f" (there are: {known})" if known else ""))
    return found[0]


def match_one(reg: Registration, against: Against,
              settings: BundleSettings = DEFAULT_SETTINGS) -> MatchResult:
    return match_registration(reg, client=against.client, patients=against.patients,
                              settings=settings)


def match_all(state: EpisodeState, against: Against,
              settings: BundleSettings = DEFAULT_SETTINGS) -> list[RegistrationMatch]:
    """Each registration in force, its candidates and its standing decision."""
    return [RegistrationMatch(reg, match_one(reg, against, settings),
                              state.decisions.registrations.get(reg.downtime_mrn))
            for reg in registrations_in_force(state)]


def corrected_since(decided: Mapping[str, Any], reg: Registration) -> bool:
    """Whether the registration was corrected after the person decided on it (check the
    decision again: the demographics it was made on are not those in force)."""
    return int(decided.get("revision", 0)) < reg.revision


def _person(person: str) -> str:
    if not person or not person.strip():
        raise RegistrationError("a registration is decided by a named person (--by NAME)")
    return " ".join(person.split())


def _standing(decisions: Decisions, mrn: str, decision: str, patient_id: str | None,
              reason: str | None) -> bool:
    """Whether the same decision already stands (nothing to record); a different one
    standing needs a reason to change it."""
    held = decisions.registrations.get(mrn)
    if held is None:
        return False
    if held["decision"] == decision and held.get("patient_id") == patient_id:
        return True
    if not (reason or "").strip():
        was = f"link to Patient/{held['patient_id']}" if held["decision"] == "link" \
            else "create a new patient"
        raise RegistrationError(f"{mrn} is already decided ({was}, by {held['person']}): "
                                "give --reason to change the decision")
    return False


def _data(reg: Registration, decision: str, patient_id: str | None, grade: str | None,
          person: str, result: MatchResult, against: Against, **more: Any) -> dict[str, Any]:
    data = {"key": reg.key, "revision": reg.revision, "downtime_mrn": reg.downtime_mrn,
            "decision": decision,
            "patient_id": patient_id, "grade": grade, "person": person, "via": result.via,
            "against": against.describe()}
    data.update({k: v for k, v in more.items() if v})
    return data


def link(journal: Journal, state: EpisodeState, mrn: str, patient_id: str, person: str,
         result: MatchResult, against: Against, who: str, *, force_reason: str | None = None,
         reason: str | None = None) -> Event | None:
    """A person links the registration to an EHR patient: one the match offered, or
    another only with `force_reason`. None when that very link already stands."""
    person = _person(person)
    reg = registration_of(state, mrn)
    patient_id = patient_id.strip().removeprefix("Patient/")
    if _standing(state.decisions, reg.downtime_mrn, "link", patient_id, reason):
        return None
    offered = next((c for c in result.candidates if c.patient_id == patient_id), None)
    if offered is None and not (force_reason or "").strip():
        listed = ", ".join(f"{c.patient_id} ({c.grade})" for c in result.candidates) or "none"
        raise RegistrationError(f"Patient/{patient_id} is not a candidate the match offered "
                                f"for {reg.downtime_mrn} (offered: {listed}): link to it only "
                                "with --force REASON")
    target = offered.patient if offered is not None else _must_exist(against, patient_id)
    if (into := merged_into(target)) is not None:
        raise RegistrationError(f"Patient/{patient_id} was merged into {into}: link "
                                f"{reg.downtime_mrn} to the surviving chart")
    event = journal.append(REGISTRATION_DECIDED, _data(
        reg, "link", patient_id, offered.grade if offered else None, person, result, against,
        forced=force_reason, reason=reason), who)
    state.apply(event)
    return event


def _must_exist(against: Against, patient_id: str) -> dict:
    """A forced link still goes to a patient the EHR has (a typo links to nobody)."""
    if against.client is not None:
        return against.client.read("Patient", patient_id)  # FhirRefused (404) if not
    found = next((p for p in against.patients or () if p.get("id") == patient_id), None)
    if found is None:
        raise RegistrationError(f"Patient/{patient_id} is not in {against.where}")
    return found


def merged_into(patient: Mapping[str, Any]) -> str | None:
    """The chart a merged Patient was merged into (its `link` of type replaced-by)."""
    for x in patient.get("link") or []:
        if isinstance(x, Mapping) and x.get("type") == "replaced-by":
            return (x.get("other") or {}).get("reference") or "another patient"
    return None


def create(journal: Journal, state: EpisodeState, mrn: str, person: str,
           result: MatchResult, against: Against, who: str, *,
           reason: str | None = None) -> Event | None:
    """A person says the registered patient is new to the EHR: a Patient and Encounter are
    created with the downtime numbers. A certain or probable candidate needs a reason."""
    person = _person(person)
    reg = registration_of(state, mrn)
    if _standing(state.decisions, reg.downtime_mrn, "create", None, reason):
        return None
    strong = [c for c in result.candidates if c.grade in ("certain", "probable")]
    if strong and not (reason or "").strip():
        raise RegistrationError(f"{reg.downtime_mrn} has {_listed(strong)}: creating a new "
                                "patient would make a second chart of one person; give "
                                "--reason if they are not this patient")
    best = result.candidates[0].grade if result.candidates else None
    event = journal.append(REGISTRATION_DECIDED, _data(
        reg, "create", None, best, person, result, against, reason=reason), who)
    state.apply(event)
    return event


def confirm_certain(journal: Journal, state: EpisodeState, matches: Sequence[RegistrationMatch],
                    person: str, against: Against, who: str) -> list[Event]:
    """A named person confirms every undecided registration whose match offered exactly one
    certain candidate (one write); the others wait for a decision one by one."""
    person = _person(person)
    items = [(REGISTRATION_DECIDED, _data(m.registration, "link", c.patient_id, c.grade,
                                          person, m.result, against, confirmed="certain"))
             for m in matches if m.decided is None and (c := m.result.suggested) is not None]
    events = journal.append_many(items, who) if items else []
    for event in events:
        state.apply(event)
    return events


def _listed(candidates: Iterable[Candidate]) -> str:
    return ", ".join(f"a {c.grade} candidate (Patient/{c.patient_id})" for c in candidates)


# --- for the submitter ---------------------------------------------------------------------


def undecided(state: EpisodeState) -> list[Registration]:
    """Registrations in force with no decision yet: their entries wait (submitting them
    would create a patient no person said is new)."""
    return [r for r in registrations_in_force(state)
            if r.downtime_mrn not in state.decisions.registrations]


def linked_patients(decisions: Decisions, *, client: FhirClient | None = None,
                    patients: Iterable[dict] | None = None) -> dict[str, dict]:
    """downtime MRN -> the EHR's Patient resource (read now from `client`, or found among
    an export's `patients`) for every registration a person linked: `build_bundles`'
    `links`. A linked patient gone, or merged into another since, is RegistrationError."""
    pool = {p.get("id"): p for p in patients or () if p.get("resourceType") == "Patient"}
    out = {}
    for mrn, d in decisions.registrations.items():
        if d["decision"] != "link":
            continue
        pid = d["patient_id"]
        resource = client.read("Patient", pid) if client is not None else pool.get(pid)
        if not resource:
            raise RegistrationError(f"{mrn} is linked to Patient/{pid}, which the EHR no "
                                    "longer has: decide it again")
        if (into := merged_into(resource)) is not None:
            raise RegistrationError(f"{mrn} is linked to Patient/{pid}, merged into {into} "
                                    "since: decide it again (link to the surviving chart)")
        out[mrn] = resource
    return out


# --- a FHIR export's Patients ----------------------------------------------------------------


def read_patients(path: Path) -> tuple[dict, ...]:
    """The Patients of a FHIR export: an NDJSON file, a JSON Bundle or array, or a folder
    of those. Read into memory only (an export is patient data)."""
    files = sorted(p for p in path.iterdir() if p.suffix in (".ndjson", ".json")) \
        if path.is_dir() else [path]
    out: list[dict] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise RegistrationError(oserror_text(e, "cannot read the export", file)
                                    if isinstance(e, OSError) else f"{file}: not UTF-8") from None
        out += [r for r in _resources(text, file)
                if isinstance(r, dict) and r.get("resourceType") == "Patient"]
    return tuple(out)


def _resources(text: str, file: Path) -> Iterable[dict]:
    try:
        if file.suffix == ".ndjson":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RegistrationError(f"{file} line {e.lineno}: not JSON ({e.msg})") from None
    if isinstance(data, Mapping) and data.get("resourceType") == "Bundle":
        return [e.get("resource") or {} for e in data.get("entry") or []]
    return data if isinstance(data, list) else [data]
