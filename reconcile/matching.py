"""Who was that patient? A downtime registration matched against the EHR's patients.

Where the server offers `Patient/$match` (its CapabilityStatement lists the operation on
Patient) the server is asked; otherwise candidates are searched for (identifiers, birth date
and its day/month swap, the first letters of the family name) and scored here: identifiers,
then name (Jaro-Winkler from rapidfuzz, accents and case aside), birth date (same, day and
month swapped, one digit off), sex and address. The grades are $match's: certain, probable,
possible (certainly-not is left out).

Nothing here decides. `match_registration` returns the candidates with their grade and the
reasons in words; a person links the registration to one or creates a new patient. A
"certain" grade is only a suggestion a person confirms, and it is never given to two
candidates at once: when several are alike (a duplicate chart, twins) each is said to be so
and none is graded above probable.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from .entries import Registration
from .fhir_codes import BundleSettings

if TYPE_CHECKING:
    from snapshots.fhir_client import FhirClient

Grade = Literal["certain", "probable", "possible"]
GRADES: tuple[Grade, ...] = ("certain", "probable", "possible")
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
NAME_EXACT, NAME_CLOSE = 0.97, 0.88  # Jaro-Winkler: "Smyth"~"Smith" .89, "John"~"Joan" .87
ADDRESS_ALIKE = 85  # rapidfuzz token_sort_ratio of the street lines
DEFAULT_SETTINGS = BundleSettings()


@dataclass(frozen=True)
class Candidate:
    """An EHR patient who may be the registered one: grade, score 0..1, reasons in words,
    and the Patient resource as read (what a link sends back with the downtime MRN)."""

    patient_id: str
    grade: Grade
    score: float
    reasons: tuple[str, ...]
    patient: dict


@dataclass(frozen=True)
class MatchResult:
    registration: str  # the registration's paper line
    via: Literal["$match", "local"]
    candidates: tuple[Candidate, ...]  # best first

    @property
    def suggested(self) -> Candidate | None:
        """The one candidate graded certain, for a person to confirm; None otherwise."""
        certain = [c for c in self.candidates if c.grade == "certain"]
        return certain[0] if len(certain) == 1 else None


@dataclass(frozen=True)
class Demographics:
    """What matching compares, from a registration or a FHIR Patient, normalised."""

    family: str
    given: str
    birth_date: date | None
    sex: str
    postal_code: str
    street: str
    identifiers: frozenset[tuple[str, str]]


def match_registration(reg: Registration, *, client: FhirClient | None = None,
                       patients: Iterable[dict] | None = None, count: int = 10,
                       settings: BundleSettings = DEFAULT_SETTINGS) -> MatchResult:
    """Candidates for `reg`: from the server's $match when `client`'s server offers it,
    else scored here over `patients` (a FHIR export or snapshot's Patients) or, with a
    client, over the Patients a few searches find."""
    if client is not None and server_offers_match(client):
        return MatchResult(reg.key, "$match", tuple(match_on_server(client, reg, count,
                                                                    settings)))
    pool = list(patients) if patients is not None else \
        list(search_candidates(client, reg)) if client is not None else []
    return MatchResult(reg.key, "local", tuple(match_locally(reg, pool, settings)[:count]))


# --- the server's $match ------------------------------------------------------------------


def server_offers_match(client: FhirClient) -> bool:
    """Whether the server's CapabilityStatement lists `match` among Patient's operations."""
    statement = client.request("GET", "metadata").json()
    for rest in statement.get("rest") or []:
        for resource in rest.get("resource") or []:
            if resource.get("type") != "Patient":
                continue
            for op in resource.get("operation") or []:
                if op.get("name") in ("match", "$match") or \
                        str(op.get("definition", "")).endswith("Patient-match"):
                    return True
    return False


def match_on_server(client: FhirClient, reg: Registration, count: int = 10,
                    settings: BundleSettings = DEFAULT_SETTINGS) -> list[Candidate]:
    """POST Patient/$match with the registration as a Patient; the server's grades and
    scores, with this module's reasons beside them (so a person sees why)."""
    from .resources import patient as patient_resource

    query = patient_resource(reg, settings)
    query["identifier"] = query["identifier"][1:]  # the downtime MRN is nobody's in the EHR
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": query}, {"name": "count", "valueInteger": count},
        {"name": "onlyCertainMatches", "valueBoolean": False}]}
    answer = client.request("POST", "Patient/$match", json=parameters,
                            headers={"Content-Type": "application/fhir+json"}).json()
    mine = person_of_registration(reg, settings)
    out = []
    for entry in answer.get("entry") or []:
        resource, search = entry.get("resource") or {}, entry.get("search") or {}
        grade = next((x.get("valueCode") for x in search.get("extension") or []
                      if x.get("url") == MATCH_GRADE), None)
        if resource.get("resourceType") != "Patient" or grade not in GRADES:
            continue  # certainly-not, or an OperationOutcome
        score = float(search.get("score") or 0.0)
        _, _, reasons = score_pair(mine, person_of_patient(resource))
        out.append(Candidate(resource["id"], grade, score, (
            f"the EHR's $match grades it {grade} ({score:.2f})", *reasons), resource))
    # a server may call two alike patients certain; a person must still tell them apart
    return _never_two_alike(sorted(out, key=lambda c: (GRADES.index(c.grade), -c.score)))


# --- searched and scored here -------------------------------------------------------------


def search_candidates(client: FhirClient, reg: Registration) -> Iterable[dict]:
    """The Patients a handful of searches find: each identifier written on the form, the
    birth date and its day/month swap, the family name's first two letters."""
    searches: list[dict[str, str]] = [{"identifier": f"{i.system}|{i.value}"}
                                      for i in reg.identifiers]
    if reg.birth_date is not None:
        searches.append({"birthdate": reg.birth_date.isoformat()})
        if (swapped := _swapped(reg.birth_date)) is not None:
            searches.append({"birthdate": swapped.isoformat()})
    family = _norm(reg.family)
    if len(family) >= 2:
        searches.append({"family": family[:2]})
    seen: dict[str, dict] = {}
    for params in searches:
        for resource in client.search_resources("Patient", {**params, "_count": "200"}):
            if resource.get("resourceType") == "Patient" and resource.get("id"):
                seen.setdefault(resource["id"], resource)
    return seen.values()


def match_locally(reg: Registration, patients: Iterable[dict],
                  settings: BundleSettings = DEFAULT_SETTINGS) -> list[Candidate]:
    """Every patient scored against the registration; those graded at least possible, best
    first, with no two certain and alike ones left above probable."""
    mine = person_of_registration(reg, settings)
    found = []
    for resource in patients:
        if resource.get("resourceType") != "Patient" or not resource.get("id"):
            continue
        score, grade, reasons = score_pair(mine, person_of_patient(resource))
        if grade is not None:
            found.append(Candidate(resource["id"], grade, score, tuple(reasons), resource))
    return _never_two_alike(sorted(found, key=lambda c: (GRADES.index(c.grade), -c.score)))


def _never_two_alike(found: list[Candidate]) -> list[Candidate]:
    strong = [c for c in found if c.grade in ("certain", "probable")]
    if len(strong) < 2:
        return found
    ids = {c.patient_id for c in strong}
    out = []
    for c in found:
        if c.patient_id in ids:
            others = ", ".join(sorted(ids - {c.patient_id}))
            c = Candidate(c.patient_id, "probable", c.score, (
                *c.reasons, f"another EHR patient is as alike ({others}): a duplicate "
                "chart or a twin? a person must tell them apart"), c.patient)
        out.append(c)
    return out


def score_pair(mine: Demographics, theirs: Demographics) -> tuple[float, Grade | None, list[str]]:
    """The score (0..1), the grade (None: certainly not) and the reasons, in words."""
    reasons: list[str] = []
    shared = {s for s, _ in mine.identifiers} & {s for s, _ in theirs.identifiers}
    id_match = bool(mine.identifiers & theirs.identifiers)
    id_conflict = bool(shared) and not id_match
    if id_match:
        reasons.append("an identifier written on the form is this patient's")
    elif id_conflict:
        reasons.append("an identifier of the same system differs")
    family = _name_sim(mine.family, theirs.family)
    given = _name_sim(mine.given, theirs.given)
    swapped_names = _name_sim(mine.family, theirs.given) >= NAME_CLOSE and \
        _name_sim(mine.given, theirs.family) >= NAME_CLOSE
    if swapped_names and min(family, given) < NAME_CLOSE:
        family = given = NAME_CLOSE
        reasons.append("first and family names swapped")
    name_exact = min(family, given) >= NAME_EXACT
    name_close = min(family, given) >= NAME_CLOSE
    reasons.append(_name_reason(mine, theirs, family, given))
    dob = _dob(mine.birth_date, theirs.birth_date)
    reasons.append(_DOB_WORDS[dob].format(mine=mine.birth_date, theirs=theirs.birth_date))
    sex_conflict = "unknown" not in (mine.sex, theirs.sex) and mine.sex != theirs.sex
    sex_same = mine.sex == theirs.sex and mine.sex != "unknown"
    if sex_conflict:
        reasons.append(f"sex differs ({mine.sex} / {theirs.sex})")
    address = _address_same(mine, theirs)
    if address:
        reasons.append("same address")
    score = (0.35 * id_match + 0.15 * family + 0.15 * given
             + 0.25 * {"same": 1.0, "swapped": 0.6, "one-off": 0.6}.get(dob, 0.0)
             + 0.05 * sex_same + 0.05 * address) / (1.0 if id_match else 0.65)
    grade = _grade(id_match, id_conflict, name_exact, name_close, family >= NAME_CLOSE,
                   given >= NAME_CLOSE, dob, sex_conflict, sex_same, address)
    if grade == "possible" and family >= NAME_CLOSE and dob == "same" and given < NAME_CLOSE:
        reasons.append("same family name and birth date, first name differs: a twin or "
                       "sibling?")
    return round(min(score, 1.0), 3), grade, reasons


def _grade(id_match: bool, id_conflict: bool, name_exact: bool, name_close: bool,
           family_close: bool, given_close: bool, dob: str, sex_conflict: bool,
           sex_same: bool, address: bool) -> Grade | None:
    near = dob in ("swapped", "one-off")
    if id_match and name_close and dob == "same" and not sex_conflict:
        return "certain"
    if name_exact and dob == "same" and sex_same and address and not id_conflict:
        return "certain"
    if not id_conflict and not sex_conflict and (
            (name_close and dob == "same") or (name_exact and near)
            or (id_match and (name_close or dob == "same"))):
        return "probable"
    if id_match or (family_close and dob == "same") or (name_close and dob != "unknown") \
            or (given_close and dob == "same" and not sex_conflict):
        return "possible"
    return None


_DOB_WORDS = {"same": "same birth date", "swapped": "birth date with day and month swapped "
              "({mine} / {theirs})", "one-off": "birth date one digit off ({mine} / {theirs})",
              "differs": "birth date differs ({mine} / {theirs})",
              "unknown": "no birth date to compare"}


def _dob(mine: date | None, theirs: date | None) -> str:
    if mine is None or theirs is None:
        return "unknown"
    if mine == theirs:
        return "same"
    if _swapped(mine) == theirs:
        return "swapped"
    if DamerauLevenshtein.distance(mine.strftime("%Y%m%d"), theirs.strftime("%Y%m%d")) == 1:
        return "one-off"
    return "differs"


def _swapped(d: date) -> date | None:
    if d.day > 12 or d.day == d.month:
        return None
    return date(d.year, d.day, d.month)


def _name_sim(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    return JaroWinkler.normalized_similarity(a, b)


def _name_reason(mine: Demographics, theirs: Demographics, family: float, given: float) -> str:
    if min(family, given) >= NAME_EXACT:
        return "same name"
    return (f"name alike {min(family, given):.0%} ({mine.family} {mine.given} / "
            f"{theirs.family} {theirs.given})")


def _address_same(mine: Demographics, theirs: Demographics) -> bool:
    if mine.postal_code and mine.postal_code == theirs.postal_code:
        return not (mine.street and theirs.street) or \
            fuzz.token_sort_ratio(mine.street, theirs.street) >= ADDRESS_ALIKE
    return False


def _norm(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if c.isalnum() or c.isspace())
    return " ".join(letters.casefold().split())


def person_of_registration(reg: Registration, settings: BundleSettings) -> Demographics:
    address = reg.address
    return Demographics(_norm(reg.family), _norm(" ".join(reg.given[:1])), reg.birth_date,
                        reg.sex, _norm(address.postal_code) if address else "",
                        _norm(address.line) if address else "",
                        frozenset((i.system, i.value) for i in reg.identifiers
                                  if i.system != settings.downtime_mrn_system))


def person_of_patient(resource: dict) -> Demographics:
    names = resource.get("name") or [{}]
    name = next((n for n in names if n.get("use") == "official"), names[0])
    address = (resource.get("address") or [{}])[0]
    try:
        born = date.fromisoformat(resource["birthDate"]) if resource.get("birthDate") else None
    except ValueError:  # a partial date (1961 or 1961-04): no day and month to compare
        born = None
    given = " ".join((name.get("given") or [])[:1])
    return Demographics(_norm(name.get("family") or ""), _norm(given),
                        born, resource.get("gender") or "unknown",
                        _norm(address.get("postalCode") or ""),
                        _norm(" ".join(address.get("line") or [])),
                        frozenset((i.get("system", ""), i.get("value", ""))
                                  for i in resource.get("identifier") or []
                                  if i.get("value")))
