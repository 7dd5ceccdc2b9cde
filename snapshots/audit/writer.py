"""The agent's audit writer: `downtime browse`, `downtime print` and `downtime reconcile
submit` hand it their audit entries over a socket, and it appends them, signed, to a log that
only its own OS user can write (docs/audit-log.md, "The audit writer"). It lives here, beside
the log, in the lowest layer: the agent (downtime) runs it, and the client that talks to it
(snapshots.audit.client) is used by the application and by reconcile/ alike. The browsing
user can then neither edit, delete nor rewrite what was recorded, and a copy of the log
cannot be forged without the writer's key.

- Who may hand it entries: its own user, root and, where the site names one, the members of
  `[audit] group` (snapshots.local_socket: folder and socket modes, SO_PEERCRED). Each entry
  names the OS user the kernel says asked (`os_user`), whatever the asker claims.
- What it keeps: `paths.audit_log` and its head (0600, in a folder no one else may write),
  the key (`[audit] key`, 0600, made on first start; its public half beside it, 0644).
  Files there that are not its own are refused: their owner could rewrite them.
- Anchors: every `[audit] anchor_seconds` at most, when entries have come, it copies its
  signed head into `[audit] anchors` (a folder off the workstation), and once more when it
  stops (snapshots.audit.anchors).

Protocol: one JSON line {"op": "append", "action", "user", "items": [{"patient_id",
"snapshot_id", "detail"}, ...], "spooled": [entries of the asker's spool]}; the answer is
one JSON line {"ok": true, "entries": [...]} or {"ok": false, "why": "..."}. Spooled entries
(what the asker wrote while the writer was unreachable) are appended first, keeping their
first time as `spooled`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .. import local_socket
from ..errors import ConfigError, oserror_text
from ..local_socket import ServiceError, allowed, read_line, reply, user_name
from .anchors import write_anchor
from .log import ACTIONS, AuditError, AuditItem, AuditLog, Row, head_path
from .settings import AuditSettings
from .signing import AuditKeyError, AuditSigner, load_or_create_key, public_key_path
from .verify import entry_problem

MAX_REQUEST = 64 * 1024 * 1024  # a whole house's packet: tens of thousands of forms
MAX_ITEMS = 200_000
# No limit of its own on a text's length (the request's bounds them; the log keeps 500
# characters of a detail): an entry refused for a long name would never be recorded at all.


@dataclass(frozen=True)
class AuditAccess(local_socket.Access):
    """Where the audit writer listens, and which OS group besides its user may hand it
    entries."""

    setting: ClassVar[str] = "[audit] group"
    folder_setting: ClassVar[str] = "[audit] socket_dir"

    @classmethod
    def from_settings(cls, settings: AuditSettings) -> AuditAccess:
        return cls(settings.socket_dir, settings.group)


def socket_path(log: Path, access: AuditAccess) -> Path:
    """Where the writer of `log` listens (the log's path as both sides read it in the
    config: the writer's folder is closed to those who ask, so no real path is taken)."""
    return access.socket("audit", os.path.abspath(log))


def check_request(request: object) -> list[Row]:
    """The rows to append, spooled ones first; ValueError saying what is wrong."""
    if not isinstance(request, dict) or request.get("op") != "append":
        raise ValueError("not an append request")
    items, spooled = request.get("items", []), request.get("spooled", [])
    if not isinstance(items, list) or not isinstance(spooled, list):
        raise ValueError("items and spooled must be lists")
    if not items and not spooled:
        raise ValueError("nothing to append")
    if len(items) + len(spooled) > MAX_ITEMS:
        raise ValueError(f"more than {MAX_ITEMS} entries")
    rows = [_spooled_row(entry) for entry in spooled]
    if items:
        action, user = request.get("action"), request.get("user")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r:.40}")
        rows += [(action, _text(user, "user", required=True), _item(i)) for i in items]
    return rows


def _item(item: object) -> AuditItem:
    if not isinstance(item, dict) or set(item) - {"patient_id", "snapshot_id", "detail"}:
        raise ValueError("an item is not {patient_id, snapshot_id, detail}")
    return AuditItem(_text(item.get("patient_id"), "patient_id"),
                     _text(item.get("snapshot_id"), "snapshot_id"),
                     _text(item.get("detail"), "detail"))


def _spooled_row(entry: object) -> Row:
    problem = entry_problem(entry)
    if problem or "sig" in entry or "spooled" in entry:
        raise ValueError(f"a spooled entry is not one: {problem or 'not a spool entry'}")
    item = AuditItem(_text(entry.get("patient_id"), "patient_id"),
                     _text(entry.get("snapshot_id"), "snapshot_id"),
                     _text(entry.get("detail"), "detail"),
                     spooled=entry["time"])
    return entry["action"], _text(entry["user"], "user", required=True), item


def _text(value: object, what: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text")
    return value


def prepare_files(log: Path, key: Path) -> None:
    """The log's folder and files as the writer needs them: nobody else may write there.
    ServiceError, naming the file, for one that is another user's or open to others."""
    me = os.getuid()
    for folder in sorted({Path(log).parent, Path(key).parent}):
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = os.lstat(folder)
        except OSError as e:
            raise ServiceError(oserror_text(e, "cannot make the audit log's folder", folder)) \
                from None
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (me, 0):
            raise ServiceError(f"{folder}: not a folder of the audit writer's user (nor root's)")
        if stat.S_IMODE(st.st_mode) & 0o022:
            raise ServiceError(f"{folder}: others may write to this folder, so they could "
                               "replace the audit log; make it 0700 (or 0755)")
    for file, mode in ((log, 0o600), (head_path(log), 0o600), (key, 0o600),
                       (public_key_path(key), 0o644)):
        try:
            st = os.lstat(file)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ServiceError(oserror_text(e, "cannot check", file)) from None
        if not stat.S_ISREG(st.st_mode) or st.st_uid != me:
            raise ServiceError(f"{file}: not the audit writer's own file (owned by "
                               f"{user_name(st.st_uid)}, who could rewrite it); move it away")
        try:
            os.chmod(file, mode)
        except OSError as e:
            raise ServiceError(oserror_text(e, "cannot close to others", file)) from None


class AuditWriterService(local_socket.LineService):
    """The agent's side: appends what it is handed to `log`, signed with the key at `key`,
    and anchors its heads in `anchors` (when given)."""

    name: ClassVar[str] = "audit-writer"
    logger: ClassVar[str] = "downtime.agent.audit"

    def __init__(self, log: Path, key: Path, access: AuditAccess, *,
                 anchors: Path | None = None, anchor_seconds: float = 60,
                 host: str | None = None) -> None:
        super().__init__(str(log), access)
        self.log_path, self.key_path, self.host = Path(log), Path(key), host
        self.anchors, self.anchor_seconds = anchors, anchor_seconds
        self.audit: AuditLog | None = None
        self.anchorer: Anchorer | None = None

    def where(self) -> Path:
        return socket_path(self.log_path, self.access)

    def start(self) -> Path:
        """Check the files, load (or make) the key, listen. ServiceError, AuditKeyError or
        ConfigError saying why it cannot."""
        self.where()  # a socket address too long: before anything is made
        prepare_files(self.log_path, self.key_path)
        signer = load_or_create_key(self.key_path)
        _same_key(self.log_path, signer, self.key_path)
        self.audit = AuditLog(self.log_path, host=self.host, signer=signer,
                              writer=user_name(os.getuid()))
        if self.anchors is not None:
            self.anchorer = Anchorer(self.anchors, self.audit, signer, self.anchor_seconds,
                                     self.log)
            self.anchorer.start()
        try:
            path = super().start()
        except (ServiceError, ConfigError):
            self._stop_anchoring()
            raise
        self.log.info("writing the audit entries of browse and print to %s, signed with audit "
                      "key %s, at %s%s", self.log_path, signer.id, path,
                      f"; anchoring to {self.anchors}" if self.anchors else "")
        return path

    def close(self) -> None:
        super().close()
        self._stop_anchoring()

    def _stop_anchoring(self) -> None:
        if self.anchorer is not None:
            self.anchorer.stop()

    def answer(self, conn: socket.socket, uid: int, gid: int) -> None:
        if not allowed(uid, gid, self.group_id):
            self.log.warning("refused audit entries from %s (uid %d): not the writer's user "
                             "nor of its group", user_name(uid), uid)
            return reply(conn, False, "not the audit writer's user nor of its group")
        try:
            with conn.makefile("rb") as stream:
                rows = check_request(json.loads(read_line(stream, MAX_REQUEST)))
        except (ValueError, OSError) as e:
            return reply(conn, False, f"bad request: {e}")
        try:
            entries = self.audit.append_rows(rows, os_user=user_name(uid))
        except AuditError as e:
            self.log.error("audit entries not written: %s", e)
            return reply(conn, False, f"not written: {e}")
        if self.anchorer is not None:
            self.anchorer.changed()
        reply(conn, True, entries=entries)


class Anchorer:
    """Copies the writer's signed head into the anchors folder on a thread of its own: as
    soon as entries come, at most every `every` seconds, again every `every` seconds while
    the folder cannot be reached, and once more when stopped. Never in an append's way: a
    share that hangs holds up this thread only."""

    def __init__(self, folder: Path, audit: AuditLog, signer: AuditSigner, every: float,
                 log: logging.Logger) -> None:
        self.folder, self.audit, self.signer, self.every = Path(folder), audit, signer, every
        self.log = log
        self.anchored: int | None = None  # the last seq copied off
        self.failing = False
        self._changed, self._closing = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.audit.last_head = self.audit.last_head or _signed_head(self.audit.path,
                                                                   self.signer.id)
        self._changed.set()  # the head the log ended with when the writer started
        self._thread = threading.Thread(target=self._run, name="audit-anchors", daemon=True)
        self._thread.start()

    def changed(self) -> None:
        self._changed.set()

    def stop(self) -> None:
        self._closing.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        last_try = float("-inf")
        while not self._closing.is_set():
            self._changed.wait(timeout=self.every)
            self._closing.wait(max(0.0, last_try + self.every - time.monotonic()))
            self._changed.clear()
            self.anchor_now()
            last_try = time.monotonic()
        self.anchor_now()

    def anchor_now(self) -> None:
        head = self.audit.last_head
        if head is None or "sig" not in head or head["seq"] == self.anchored:
            return
        try:
            write_anchor(self.folder, head, self.signer.public_pem())
        except OSError as e:
            if not self.failing:
                self.log.warning("cannot anchor the audit log's head off the workstation: %s; "
                                 "trying again every %g s", oserror_text(e, path=self.folder),
                                 self.every)
            self.failing = True
            return
        if self.failing:
            self.log.info("anchoring the audit log's head to %s again", self.folder)
        self.failing, self.anchored = False, head["seq"]


def _same_key(log: Path, signer: AuditSigner, key_path: Path) -> None:
    """ServiceError if the log's head was signed by another key: the key was lost or
    replaced, and entries signed by a new one would break the log's check for good."""
    try:
        head = json.loads(head_path(log).read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        raise ServiceError(f"{head_path(log)}: the audit log's head cannot be read; run "
                           "`downtime audit verify` and keep the log as evidence") from None
    signed_by = head.get("key") if isinstance(head, dict) else None
    if signed_by is not None and signed_by != signer.id:
        raise ServiceError(f"{log}: signed by audit key {signed_by}, but the key at {key_path} "
                           f"is {signer.id} (lost or replaced); move the log away (keep it as "
                           "evidence, with its old public key) and start a new one")


def _signed_head(log: Path, key: str) -> dict | None:
    """The head witness the log ended with, if this key signed it."""
    try:
        head = json.loads(head_path(log).read_text())
    except (OSError, ValueError):
        return None
    return head if isinstance(head, dict) and head.get("key") == key and "sig" in head else None


def start_audit_writer(settings: AuditSettings, audit_log: Path | None,
                       logger: logging.Logger) -> AuditWriterService | None:
    """With [audit] writer = "agent", the writer of `audit_log` (paths.audit_log, which the
    config requires then), started; None otherwise, or when it cannot start (then said in
    the agent's log: browse and print keep their entries in their spools, unauthenticated,
    and say so on screen)."""
    if settings.writer != "agent" or audit_log is None:
        return None
    service = AuditWriterService(audit_log, settings.key_path(audit_log),
                                 AuditAccess.from_settings(settings),
                                 anchors=settings.anchors,
                                 anchor_seconds=settings.anchor_seconds)
    try:
        service.start()
    except (ServiceError, ConfigError, AuditKeyError, AuditError) as e:
        logger.error("NOT writing the audit entries of browse and print: %s (they keep them "
                     "in their own spools, unauthenticated, and say so on screen)", e)
        return None
    return service
