"""What the chart viewer does besides showing things: open the identity, open the snapshots,
print, and write the audit log. The screens call it from their workers (every method but the
data ages blocks); the app holds one. No Textual here, so it can be used and tested alone.

Everything comes from the settings tree (downtime.config.Config), taken whole: the paths
(store, identity, pinned builder key, audit log, form registry), the thresholds and the
`[print]` defaults. `downtime browse` gives it the tree with its flags applied.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from snapshots.audit import AuditError
from snapshots.audit.client import audit_sink
from snapshots.chart import DataAge, data_age
from snapshots.identity_process import load_identity_in_child
from snapshots.keys import Identity, KeyFileError, load_public_key, read_recipient, recipient_file
from snapshots.sealed import SnapshotError, verify
from snapshots.store import by_scope

from ..config import Config
from .session import Clock, Session, utc_now

Kdf = Callable[[Path, str], Identity]
Progress = Callable[[int, int], None]
AuditFailed = Callable[[AuditError], None]


class Workstation:
    def __init__(self, config: Config, *, clock: Clock | None = None,
                 passphrase_kdf: Kdf | None = None) -> None:
        self.config = config
        self.store: Path = config.path("store", flag="--store")
        self.identity_path: Path = config.path("identity", flag="--identity")
        self.trusted_key = load_public_key(config.path("trusted_builder_key",
                                                       flag="--trusted-key"))
        # the log itself, or the agent's audit writer ([audit] writer): docs/audit-log.md
        self.audit_log = audit_sink(config.audit, config.paths.audit_log)
        self.registry = config.paths.registry
        self.registry_recipients = config.recipients.escrow_keys()
        self.clock: Clock = clock or utc_now
        # In a child process: pyrage's KDF holds the GIL, and in this process it would freeze
        # the screen for the second it takes.
        self.kdf: Kdf = passphrase_kdf or load_identity_in_child
        self._audit_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")
        self._checked: set[tuple[str, int, int]] = set()  # files that verified
        self._unusable: set[tuple[str, int, int]] = set()  # files that did not open

    @property
    def stale_minutes(self) -> int:
        return self.config.thresholds.stale_minutes

    @property
    def idle_lock_minutes(self) -> float:
        return self.config.thresholds.idle_lock_minutes

    @property
    def default_printer(self) -> str | None:
        return self.config.print.printer

    @property
    def paper(self) -> str:
        return self.config.print.paper

    # --- unlocking ----------------------------------------------------------------------------

    def try_passphrase(self, passphrase: str) -> Identity:
        """This workstation's identity, or WrongPassphrase (the KDF: about a second)."""
        return self.kdf(self.identity_path, passphrase)

    def open_session(self, user: str, identity: Identity) -> Session:
        """Decrypt the newest snapshots the identity may open and read their census."""
        return Session.open(user, identity, self.store, self.trusted_key,
                            today=self.clock().astimezone().date())

    # --- data age -----------------------------------------------------------------------------

    def data_age(self, session: Session | None) -> DataAge | None:
        if session is None or not session.snapshots:
            return None
        return data_age(session.as_of, self.clock(), self.stale_minutes)

    def newest_data_age(self) -> DataAge | None:
        """For the locked screen: the age of the data an unlock would open, the newest
        snapshot of each scope this identity opens that is not known to be damaged (a file
        the last unlock passed over, or one check_store_files() found failing). Manifests
        only: nothing is decrypted, and nothing is hashed here on the event loop."""
        ages = [first.manifest.as_of for first in
                (next((s for s in scope if self._file_key(s.path) not in self._unusable),
                      None) for scope in by_scope(self.store, self._recipient()).values())
                if first is not None]
        if not ages:
            return None
        return data_age(max(ages), self.clock(), self.stale_minutes)

    def check_store_files(self) -> None:
        """Blocking (a worker's): check the signature and payload hash of the newest files
        newest_data_age() would name, down each scope to one that verifies, so that a damaged
        newest file does not lend the locked screen its fresher time."""
        for scope in by_scope(self.store, self._recipient()).values():
            for stored in scope:
                key = self._file_key(stored.path)
                if key in self._unusable:
                    continue
                if key in self._checked:
                    break
                try:
                    verify(stored.path, self.trusted_key)
                except SnapshotError:
                    self._unusable.add(key)
                    continue
                self._checked.add(key)
                break

    def passed_over(self, paths: list[Path]) -> None:
        """Files an unlock could not open: not what the locked screen shows the age of."""
        self._unusable.update(self._file_key(p) for p in paths)

    def _recipient(self) -> str | None:
        """The identity's public half (no passphrase needed), to leave out other units'
        files; None (every file counts) when it is not beside the identity."""
        try:
            return read_recipient(recipient_file(self.identity_path))
        except KeyFileError:
            return None

    @staticmethod
    def _file_key(path: Path) -> tuple[str, int, int]:
        """A file as it is now: a replaced or rewritten file is checked afresh."""
        try:
            st = path.stat()
        except OSError:
            return (str(path), -1, -1)
        return (str(path), st.st_size, st.st_mtime_ns)

    # --- audit --------------------------------------------------------------------------------

    def audit(self, action: str, session: Session | None, *, user: str | None = None,
              patient_id: str | None = None, detail: str | None = None) -> None:
        """One entry, written now (fsynced); AuditError if it cannot be."""
        self.audit_log.append(action, user or (session.user if session else ""),
                              patient_id=patient_id, detail=detail,
                              snapshot_id=session.snapshot_ids if session else None)

    @property
    def audit_warning(self) -> str | None:
        """Why the last entries went to the unauthenticated spool (the audit writer could not
        be reached), or None."""
        return self.audit_log.warning

    def audit_soon(self, action: str, session: Session | None, on_failure: AuditFailed, *,
                   patient_id: str | None = None, detail: str | None = None,
                   on_written: Callable[[], None] | None = None) -> Future[None]:
        """audit() on the audit thread (each entry is fsynced: worth overlapping with a chart
        read); entries keep the order they were asked for. The future is done once the entry
        is written (and `on_written` called, on that thread: to look at audit_warning), or
        `on_failure` has been called with why not."""
        def write() -> None:
            try:
                self.audit(action, session, patient_id=patient_id, detail=detail)
            except AuditError as e:
                on_failure(e)
                return
            if on_written is not None:
                on_written()
        return self._audit_writer.submit(write)

    # --- printing -----------------------------------------------------------------------------

    def print_job(self, session: Session, kind: str, unit: str, patient_id: str | None,
                  printer: str | None, pdf: Path | None, progress: Progress,
                  paper: str = "Letter") -> str:
        """Render, register, print and audit; what to tell the user. The forms' errors say
        why nothing was printed; PrintedNotRecorded and PrintedNotAudited that the paper is out
        but its record is not (in the words `downtime print` uses)."""
        from forms.delivery import record_printed
        from forms.jobs import PrintRequest, run_print_job
        from forms.prerender import prerendered_folder
        from forms.registry import FormRegistry

        snapshot = session.snapshot_for(patient_id) if patient_id else next(
            (s for s in session.snapshots if unit in s.manifest.units
             or s.manifest.scope == f"unit:{unit}"), session.snapshots[0])
        registry = FormRegistry(self.registry, [*self.registry_recipients,
                                                session.identity.recipient])
        request = PrintRequest(kind, unit, patient_id=patient_id, printer=printer,
                               pdf_path=pdf, printed_by=session.user, paper=paper)
        result = run_print_job(snapshot, request, registry, progress,
                               prerendered=(prerendered_folder(self.store),
                                            [session.identity.secret]),
                               identities=[session.identity.secret])
        record_printed(self.audit_log, session.user, result)
        return result.summary()

    def close(self) -> None:
        self._audit_writer.shutdown(wait=True)
