"""`downtime reconcile submit`: the ready back-entries, one transaction Bundle per patient,
sent to the EHR through the toolkit's FHIR client (given from outside: it retries 5xx, 429 and
timeouts with backoff and honours Retry-After), or written to an outbox folder for a site's
own sender. Each Bundle's outcome, per entry, is journaled (reconcile/submissions.py) and
every submission is in the audit log (action `submit`).

- A Bundle the server refuses (4xx: all or nothing, so none of it was made) is journaled as
  `bundle-rejected` with the OperationOutcome in words, and left for a person; the others go
  on. A server that stays down or busy past the client's retries stops the run: what was
  sent is journaled, the rest goes next time.
- Resuming: an entry journaled as sent is never sent again (reconcile/submit_plan.py). A
  submitter killed between the server's answer and the journal's event sends that Bundle
  again next time, which creates nothing twice (`ifNoneExist` on every create; a correction
  is a conditional update).
- The outbox holds patient data: each Bundle is age-encrypted to the episode's recipients
  unless the caller asks for plain JSON (`encrypt=False`, the CLI's `--plaintext`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyrage

from snapshots.audit import AuditItem
from snapshots.audit.client import AuditSink
from snapshots.errors import ToolkitError
from snapshots.fhir_client.client import FhirClient
from snapshots.fhir_client.errors import FhirAuthError, FhirError, FhirRefused

from .bundles import PatientBundle, build_bundles
from .episode import Episode, refuse_if_closed
from .fhir_codes import BundleSettings
from .fhir_validation import Checker
from .journal import write_durably
from .state import derive
from .submissions import BUNDLE_REJECTED, BUNDLE_SUBMITTED, BUNDLE_WRITTEN
from .submit_plan import Held, Plan, plan_submission


class SubmitError(ToolkitError):
    reason = "submit"


class SubmitStopped(SubmitError):
    """The server could not take a Bundle (down or busy past the retries): the run stopped;
    what was sent is journaled and the rest goes on the next run."""

    reason = "submit-stopped"


@dataclass(frozen=True)
class Outcome:
    """What became of one Bundle."""

    patient: str
    bundle_sha256: str
    entries: int  # Bundle entries
    lines: int  # paper lines
    status: str  # "submitted", "written" or "rejected"
    detail: str = ""  # a rejection's status and OperationOutcome, in words; a file's name


@dataclass
class SubmitResult:
    to: str
    outcomes: list[Outcome] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    already: int = 0

    @property
    def rejected(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "rejected"]

    @property
    def sent(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "rejected"]


class Destination(Protocol):
    to: str
    event: str  # the journal event of a Bundle it took

    def send(self, built: PatientBundle, data: bytes, sha: str) -> list[dict[str, str]]:
        """Per Bundle entry {status, location}; FhirRefused for a Bundle refused."""


class ToServer:
    """A FHIR server, through the toolkit's client (retries and backoff are the client's)."""

    event = BUNDLE_SUBMITTED

    def __init__(self, client: FhirClient) -> None:
        self.client, self.to = client, client.base_url

    def send(self, built: PatientBundle, data: bytes, sha: str) -> list[dict[str, str]]:
        return [{"status": o.status, "location": o.location}
                for o in self.client.transaction(built.bundle)]


class ToOutbox:
    """Files in a folder, one a Bundle (`bundle-<sha256 first 16>.json.age`), for the site's
    own sender: encrypted to `recipients` (age) unless `recipients` is None (plain JSON,
    asked for)."""

    event = BUNDLE_WRITTEN

    def __init__(self, folder: Path, recipients: Sequence[str] | None) -> None:
        self.folder, self.to = Path(folder), str(Path(folder))
        self.recipients = None if recipients is None else \
            [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        self.last_file = ""

    def send(self, built: PatientBundle, data: bytes, sha: str) -> list[dict[str, str]]:
        name = f"bundle-{sha[:16]}.json" + (".age" if self.recipients is not None else "")
        body = data if self.recipients is None else pyrage.encrypt(data, self.recipients)
        write_durably(self.folder / name, body)
        self.last_file = name
        return [{"status": "written", "location": ""} for _ in built.bundle["entry"]]


def submit(episode: Episode, destination: Destination, audit: AuditSink, *,
           read_patient: Callable[[str], dict] | None = None,
           settings: BundleSettings | None = None, retry_rejected: bool = False,
           checker: Checker | None = None,
           on_bundle: Callable[[Outcome], None] | None = None) -> SubmitResult:
    """Send what is ready and not sent yet (reconcile/submit_plan.py), one Bundle per
    patient, journaling and auditing each outcome as it comes; SubmitError for a closed
    episode, SubmitStopped when the server cannot be reached past its retries."""
    state = derive(episode.journal.read())
    refuse_if_closed(state.closed, state.episode_id, "submissions")
    plan = plan_submission(state, episode, read_patient=read_patient,
                           retry_rejected=retry_rejected)
    result = SubmitResult(destination.to, held=plan.held, already=plan.already)
    if not plan.entries and not plan.pages:
        return result
    built = build_bundles(plan.entries, plan.pages, links=plan.links,
                          settings=settings or BundleSettings(), checker=checker)
    for n, one in enumerate(built):
        outcome = _send_one(episode, destination, audit, plan, one, n, len(built))
        result.outcomes.append(outcome)
        if on_bundle is not None:
            on_bundle(outcome)
    return result


def _send_one(episode: Episode, destination: Destination, audit: AuditSink, plan: Plan,
              built: PatientBundle, n: int, total: int) -> Outcome:
    data = built.to_bytes()
    sha = hashlib.sha256(data).hexdigest()
    revisions = plan.revisions()
    lines = {k for k in built.entry_keys if k is not None}
    pages = _page_keys(built)
    base = {"bundle_sha256": sha, "patient": built.patient, "to": destination.to,
            "pages": pages}
    try:
        answers = destination.send(built, data, sha)
    except FhirRefused as e:
        words = str(e).removeprefix(f"{e.url}: ")
        episode.journal.append(BUNDLE_REJECTED, {
            **base, "status": e.status, "outcome": words,
            "entries": [{"key": k, "revision": revisions[k]} for k in sorted(lines)]},
            episode.who)
        # the status and issue codes only: the audit log is not encrypted, and an
        # OperationOutcome's words may quote the patient (the journal keeps them)
        codes = f" ({', '.join(e.codes)})" if e.codes else ""
        _audit(audit, episode.who, built, f"transaction Bundle {sha[:12]} to "
               f"{destination.to} REJECTED: HTTP {e.status}{codes}")
        return Outcome(built.patient, sha, len(built.entry_keys), len(lines), "rejected",
                       words)
    except FhirAuthError:
        raise
    except FhirError as e:
        raise SubmitStopped(f"{e}; {n} of {total} Bundles sent this run, the rest wait: "
                            "run `downtime reconcile submit` again to go on") from None
    entries = [{"key": k, "revision": revisions[k], "type": e["resource"]["resourceType"],
                **answer}
               for k, e, answer in zip(built.entry_keys, built.bundle["entry"], answers,
                                       strict=True) if k is not None]
    extra = {"file": destination.last_file, "encrypted": destination.recipients is not None} \
        if isinstance(destination, ToOutbox) else {}
    episode.journal.append(destination.event, {**base, **extra, "entries": entries},
                           episode.who)
    verb = "written to" if destination.event == BUNDLE_WRITTEN else "submitted to"
    _audit(audit, episode.who, built, f"transaction Bundle {sha[:12]} {verb} "
           f"{destination.to}: {len(built.entry_keys)} entries from {len(lines)} paper lines"
           f" and {len(pages)} scanned pages, {_statuses(answers)}")
    status = "written" if destination.event == BUNDLE_WRITTEN else "submitted"
    return Outcome(built.patient, sha, len(built.entry_keys), len(lines), status,
                   extra.get("file", ""))


def _page_keys(built: PatientBundle) -> list[str]:
    out = []
    for key, entry in zip(built.entry_keys, built.bundle["entry"], strict=True):
        resource = entry["resource"]
        if key is None and resource["resourceType"] == "DocumentReference":
            out += [i["value"] for i in resource.get("identifier", ())]
    return out


def _statuses(answers: list[dict[str, str]]) -> str:
    counts: dict[str, int] = {}
    for a in answers:
        counts[a["status"]] = counts.get(a["status"], 0) + 1
    return ", ".join(f"{v} x {k}" for k, v in sorted(counts.items()))


def _audit(audit: AuditSink, user: str, built: PatientBundle, detail: str) -> None:
    patient = built.patient.removeprefix("Patient/").removeprefix("downtime MRN ")
    audit.append_many("submit", user, [AuditItem(patient, None, detail)])
