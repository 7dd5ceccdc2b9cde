"""The registry of issued forms: which form id went to which patient, encounter and snapshot,
when, by whom, and whether it reached a printer. Reconciliation matches paper back with it.

It holds patient ids, so it is encrypted at rest: `forms.log` has one line per event, each the
base64 of an age file encrypted to the registry's recipients (the workstation's own identity and
IT escrow, from the config). Appending needs only public keys; reading needs an identity.
Events: `issued` (before printing), then `printed` (with the CUPS job or the PDF path) or
`failed` (with the reason): a form is claimed printed only once the printer took it. Each
event carries the form's page count once it is laid out (`pages`; 0 = not known: an event
written before layout, as a registration's `issued`, or by an older version), and the
patient's bed, name and MRN as printed on the form (`bed`, `patient_name`, `mrn`; "" for a
unit form or a line from an older version).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from snapshots.errors import ToolkitError, oserror_text

LOG = "forms.log"
LOCK = "forms.lock"


@dataclass(frozen=True)
class FormRecord:
    form_id: str
    kind: str
    patient_id: str
    encounter_id: str
    unit: str
    snapshot_id: str
    event: str  # issued | printed | failed
    at: str
    by: str
    detail: str = ""
    pages: int = 0  # the form's page count (0: unknown; lines written before it was kept)
    # the patient as people read the paper (bed, name, MRN when issued; "" for a unit form,
    # and on lines written before they were kept): reconciliation names missing pages so
    bed: str = ""
    patient_name: str = ""
    mrn: str = ""


class RegistryError(ToolkitError):
    """The form registry cannot be read or written."""

    reason = "registry"


class FormRegistry:
    def __init__(self, directory: Path, recipients: Sequence[str]):
        if not recipients:
            raise RegistryError("the form registry needs at least one recipient to encrypt to")
        self.directory = Path(directory)
        self.recipients = [pyrage.x25519.Recipient.from_str(r) for r in recipients]

    @property
    def path(self) -> Path:
        return self.directory / LOG

    def append(self, records: Sequence[FormRecord]) -> None:
        """Append events durably (one fsync per batch), safe against concurrent writers."""
        if not records:
            return
        lines = b"".join(base64.b64encode(pyrage.encrypt(json.dumps(asdict(r)).encode(),
                                                         self.recipients)) + b"\n"
                         for r in records)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            raise RegistryError(oserror_text(e, "cannot record forms in the registry",
                                             self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, lines)
            os.fsync(fd)
        except OSError as e:
            raise RegistryError(oserror_text(e, "cannot record forms in the registry",
                                             self.path)) from None
        finally:
            os.close(fd)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the registry for a read-decide-append (taking the next downtime MRN), so two
        print runs at once cannot both take the same one. Appends lock the log itself, a
        different file, so appending while holding this is fine."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as e:
            raise RegistryError(oserror_text(e, "cannot lock the registry",
                                             self.directory / LOCK)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def event(self, form: FormRecord, event: str, detail: str = "") -> FormRecord:
        return FormRecord(**{**asdict(form), "event": event, "detail": detail,
                             "at": now_text()})


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_registry(directory: Path, identities: Sequence[pyrage.x25519.Identity]
                  ) -> list[FormRecord]:
    """Every event, oldest first. Lines this identity cannot open are reported, not skipped."""
    path = Path(directory) / LOG
    if not path.exists():
        return []
    records = []
    for n, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            plain = pyrage.decrypt(base64.b64decode(line), list(identities))
        except (ValueError, pyrage.DecryptError) as e:
            raise RegistryError(f"{path}:{n}: cannot decrypt registry entry ({e})") from None
        records.append(record_from(json.loads(plain)))
    return records


def record_from(values: dict) -> FormRecord:
    """A registry event from its JSON; keys a later version added are left out (so this
    version reads a newer workstation's registry), missing ones take their defaults."""
    return FormRecord(**{k: v for k, v in values.items() if k in _FIELDS})


_FIELDS = frozenset(FormRecord.__dataclass_fields__)


def printed_forms(records: Sequence[FormRecord]) -> dict[str, FormRecord]:
    """form id -> its latest event, for forms whose latest event is `printed`."""
    latest: dict[str, FormRecord] = {}
    for r in records:
        latest[r.form_id] = r
    return {k: v for k, v in latest.items() if v.event == "printed"}


def issued_downtime_ids(records: Sequence[FormRecord]) -> frozenset[str]:
    """Every downtime MRN and encounter number a registration form was ever issued with,
    printed or not: a number that may be on paper somewhere is never given out again."""
    return frozenset(x for r in records if r.kind == "registration"
                     for x in (r.patient_id, r.encounter_id))


def page_counts(records: Sequence[FormRecord]) -> dict[str, int]:
    """form id -> its page count, from the events that know it (0 where none does)."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r.form_id] = max(counts.get(r.form_id, 0), r.pages)
    return counts
