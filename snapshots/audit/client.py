"""Where `downtime browse`, `downtime print` and `downtime reconcile submit` write their audit
entries (docs/audit-log.md).

`audit_sink(config)` is, with `[audit] writer = "local"` (the default, single-user: the demo,
the tests), the log itself (snapshots.audit.AuditLog: a plain chain, which `audit verify`
calls no more than that); with `[audit] writer = "agent"`, a `WriterClient` that hands each
entry to the agent's audit writer (snapshots.audit.writer), which signs it and keeps it where
the browsing user cannot write.

When the writer cannot be reached (the agent stopped, its socket not safe, a refusal) care
goes on and nothing goes unrecorded: the entry is appended to the browsing user's own spool
(`[audit] spool`, a plain chain), `warning` says so (the TUI shows it in red on every screen,
`print` on stderr), and the next entry that reaches the writer takes the spool along: the
writer appends the spooled entries first, marked `spooled` with the time they were first
written, and `audit verify` names them. Only if the spool cannot be written either is
AuditError raised, as for a local log.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from .. import local_socket
from ..errors import oserror_text
from ..local_socket import TIMEOUT_SECONDS, ServiceError, read_line
from .log import ACTIONS, AuditItem, AuditLog, default_audit_log, head_path
from .settings import AuditSettings
from .verify import read_entries
from .writer import MAX_REQUEST, AuditAccess, socket_path


def default_spool() -> Path:
    return platformdirs.user_state_path("downtime") / "audit-spool.log"


def audit_sink(settings: AuditSettings, audit_log: Path | None) -> AuditLog | WriterClient:
    """The sink browse, print and reconciliation append to, as [audit] says, for the log at
    `audit_log` (paths.audit_log; None: the user's default log)."""
    log = audit_log or default_audit_log()
    if settings.writer != "agent":
        return AuditLog(log)
    return WriterClient(log, AuditAccess.from_settings(settings),
                        settings.spool or default_spool())


def writer_problem(settings: AuditSettings, audit_log: Path | None) -> str:
    """Why the agent's audit writer cannot take entries now ('' when it can, or when the
    site writes its log locally): for `agent status`."""
    if settings.writer != "agent":
        return ""
    log = audit_log or default_audit_log()
    access = AuditAccess.from_settings(settings)
    try:
        path = socket_path(log, access)
    except ServiceError as e:
        return f"audit writer: {e}"
    conn, why = local_socket.connect(path, access)
    if conn is None:
        return f"audit writer: {why or f'none answers at {path}: is the agent running?'} " \
               "(entries would be kept unauthenticated in the spool)"
    conn.close()
    return ""


class WriterClient:
    """Appends through the agent's audit writer; to the spool while it cannot be reached.
    The same calls as AuditLog (append, append_many), so forms and the TUI take either."""

    def __init__(self, log: Path, access: AuditAccess, spool: Path, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.log, self.access = Path(log), access
        self.spool = AuditLog(spool, clock=clock)
        self.warning: str | None = None  # why the last entries went to the spool, or None
        self.handed_over = 0  # spooled entries the writer took with the last append

    def append(self, action: str, user: str, *, patient_id: str | None = None,
               snapshot_id: str | None = None, detail: str | None = None) -> dict:
        return self.append_many(action, user, [AuditItem(patient_id, snapshot_id, detail)])[0]

    def append_many(self, action: str, user: str, items: Sequence[AuditItem]) -> list[dict]:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
        if not items:
            return []
        request = {"op": "append", "action": action, "user": user,
                   "items": [{"patient_id": i.patient_id, "snapshot_id": i.snapshot_id,
                              "detail": i.detail} for i in items]}
        entries, why = self._through_writer(request)
        if entries is not None:
            return entries
        entries = self.spool.append_many(action, user, items)  # AuditError if not even that
        self.warning = (f"the audit writer cannot be reached ({why}); entries kept "
                        f"unauthenticated in {self.spool.path} until it can")
        return entries

    def _through_writer(self, request: dict) -> tuple[list[dict] | None, str]:
        """(the entries the writer appended, "") or (None, why not); the spool goes along
        and is emptied once the writer has it (under the spool's lock: another process of
        this user's must not append to it meanwhile, nor take it twice)."""
        fd = _open_existing(self.spool.path)
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            spooled, damaged = read_entries(self.spool.path) if fd is not None else ([], [])
            entries, why, refused = self._send({**request, "spooled": spooled} if spooled
                                               else request)
            spool_refused = None
            if refused and spooled:
                # the spool refused (edited into what the writer does not take): it must not
                # hold every later entry back; it is kept whole for IT instead
                spool_refused, spooled = why, []
                entries, why, _ = self._send(request)
            if entries is None:
                return None, why
            self.warning, self.handed_over = None, len(spooled)
            if fd is not None and (spooled or damaged or spool_refused):
                self._empty_spool(fd, damaged, spool_refused)
            return entries[len(spooled):], ""
        finally:
            if fd is not None:
                os.close(fd)

    def _send(self, request: dict) -> tuple[list[dict] | None, str, bool]:
        """(entries, "", False), or (None, why not, whether the writer refused it)."""
        try:
            path = socket_path(self.log, self.access)
        except ServiceError as e:
            return None, str(e), False
        conn, why = local_socket.connect(path, self.access)
        if conn is None:
            return None, why or f"no audit writer at {path}: is the agent running?", False
        entries = len(request.get("items", ())) + len(request.get("spooled", ()))
        conn.settimeout(TIMEOUT_SECONDS + entries / 1000)  # signing 20,000 takes about 2 s
        with conn:
            try:
                conn.sendall(json.dumps(request, ensure_ascii=False).encode() + b"\n")
                with conn.makefile("rb") as stream:
                    answer = json.loads(read_line(stream, MAX_REQUEST))
            except (OSError, ValueError) as e:
                return None, f"the audit writer did not answer ({e})", False
        if not isinstance(answer, dict) or not answer.get("ok") or \
                not isinstance(answer.get("entries"), list):
            why = answer.get("why") if isinstance(answer, dict) else None
            return None, f"the audit writer refused: {why or 'no reason given'}", True
        return answer["entries"], "", False

    def _empty_spool(self, fd: int, damaged: list[tuple[int, str]],
                     refused: str | None = None) -> None:
        """The writer has the spool's entries: empty it. A spool with lines that were not
        entries (damaged, or edited), or that the writer refused, is first copied for IT to
        see, and `warning` says where."""
        if damaged or refused:
            kept = self.spool.path.with_name(
                f"{self.spool.path.name}.kept-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
            why = (f"{refused}" if refused else f"{len(damaged)} line(s) were not entries "
                   f"(first: line {damaged[0][0]}, {damaged[0][1]})")
            try:
                _write_private(kept, os.pread(fd, os.fstat(fd).st_size, 0))
            except OSError as e:  # then the spool stays as it is: nothing is lost
                self.warning = (f"the audit spool was not handed over whole ({why}), and no "
                                f"copy could be kept ({oserror_text(e, path=kept)}): it is "
                                "left as it is")
                return
            self.warning = (f"the audit spool was not handed over whole ({why}); the spool is "
                            f"kept in {kept} for IT")
        try:
            os.ftruncate(fd, 0)
            os.fsync(fd)
            head_path(self.spool.path).unlink(missing_ok=True)
        except OSError as e:  # the writer has them: they would be handed over twice
            self.warning = (f"the audit spool could not be emptied after the writer took it "
                            f"({oserror_text(e, path=self.spool.path)}): its entries will be "
                            "handed over again")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _open_existing(path: Path) -> int | None:
    """The spool, open, if there is one to take along (one that cannot be opened is not
    taken: appending to it then fails loudly, as AuditError)."""
    try:
        return os.open(path, os.O_RDWR)
    except OSError:
        return None


AuditSink = AuditLog | WriterClient  # what every layer appends to: the same calls
