"""The agent hands its pre-rendered packets to `downtime print` over a local socket, so that
printing one needs neither the passphrase nor its key derivation (scrypt: one to two seconds
here, longer than the whole budget from the command to the first page handed to CUPS).

Who may ask: only processes of the agent's own OS user (or root), checked twice: the socket
lives in a directory only that user can enter, and each connection's peer credentials
(SO_PEERCRED) are checked. That user can already read the passphrase the agent was started
with (its environment or passphrase file), so the socket lets no one new at the identity;
and it hands out only what the agent itself rendered, each packet once: not the key, not a
snapshot, not a packet of another paper, day or snapshot than the one asked for.

Protocol: the client sends one JSON line {"op": "take-packet", "unit", "snapshot_id",
"paper"}; the agent answers one JSON line, {"ok": true} followed by the decrypted packet
(forms.prerender's JSON) up to the end of the stream, or {"ok": false, "why": "..."}, after
which the command lays the packet out itself. The socket is
`<runtime dir>/downtime/packets-<hash of the store's path>.sock` (`$XDG_RUNTIME_DIR`, else
`/tmp/downtime-<uid>`): a store's own path can be longer than a socket address may be.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import stat
import struct
import tempfile
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyrage

from forms.delivery import PAPERS
from forms.prerender import Packet, read_packet, take_prerendered_body

log = logging.getLogger("downtime.agent.packets")

MAX_REQUEST = 4096
TIMEOUT_SECONDS = 5.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # unit codes and snapshot ids: file-name safe


class ServiceError(Exception):
    """The socket cannot be used safely or at all; the message says why in one line."""


def socket_path(store: Path) -> Path:
    """Where the agent serving `store` listens (the directory made owner-only if new)."""
    digest = hashlib.sha256(os.fsencode(os.path.realpath(store))).hexdigest()[:16]
    return _private_dir() / f"packets-{digest}.sock"


def _private_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "downtime" if runtime and _owner_only(Path(runtime)) else \
        Path(tempfile.gettempdir()) / f"downtime-{os.getuid()}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
    except OSError as e:
        raise ServiceError(f"{base}: cannot make the agent's socket folder ({e.strerror})") \
            from None
    if not _owner_only(base):  # someone else made it first, or opened it up
        raise ServiceError(f"{base}: not a folder only this user can use; the agent's "
                           "packets are not served through it")
    return base


def _owner_only(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and \
        not stat.S_IMODE(st.st_mode) & 0o077


def peer_uid(conn: socket.socket) -> int:
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return uid


def allowed(uid: int) -> bool:
    """Whether a peer with this uid may be handed a packet: this user's own, or root's."""
    return uid in (os.getuid(), 0)


def check_request(request: object) -> tuple[str, str, str]:
    """(unit, snapshot id, paper) of a well-formed request; ValueError saying what is wrong."""
    if not isinstance(request, dict) or request.get("op") != "take-packet":
        raise ValueError("not a take-packet request")
    unit, snapshot_id, paper = (request.get(k) for k in ("unit", "snapshot_id", "paper"))
    for what, value in (("unit", unit), ("snapshot_id", snapshot_id)):
        if not isinstance(value, str) or not _NAME.fullmatch(value) or len(value) > 100:
            raise ValueError(f"bad {what} {value!r}")
    if paper not in PAPERS:
        raise ValueError(f"bad paper {paper!r}")
    return unit, snapshot_id, paper


class PacketService:
    """The agent's side: serves `folder`'s packets, decrypted with `identities`, one request
    at a time on a thread of its own."""

    def __init__(self, store: Path, folder: Path,
                 identities: Sequence[pyrage.x25519.Identity]):
        self.store, self.folder, self.identities = Path(store), Path(folder), list(identities)
        self.path: Path | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> Path:
        """Listen; ServiceError if the socket cannot be had (another agent serves the store)."""
        path = socket_path(self.store)
        if path.exists() or path.is_symlink():
            if _answers(path):
                raise ServiceError(f"{path}: another agent already serves {self.store}")
            path.unlink()  # left by an agent that did not stop cleanly
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            os.chmod(path, 0o600)
            listener.listen(8)
        except OSError as e:
            listener.close()
            raise ServiceError(f"{path}: cannot listen ({e.strerror})") from None
        self.path, self._listener = path, listener
        self._thread = threading.Thread(target=self._serve, name="packet-service", daemon=True)
        self._thread.start()
        log.info("handing pre-rendered packets to `downtime print` at %s", path)
        return path

    def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
            except OSError:
                pass
            self._listener.close()
        if self._thread is not None:
            self._thread.join(10)
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            with conn:
                try:
                    self._answer(conn)
                except Exception:  # one bad exchange must not stop the service
                    log.exception("packet request failed")

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT_SECONDS)
        uid = peer_uid(conn)
        if not allowed(uid):
            log.warning("refused a packet request from uid %d", uid)
            return _reply(conn, False, "not this agent's user")
        try:
            with conn.makefile("rb") as stream:
                unit, snapshot_id, paper = check_request(json.loads(_read_line(stream)))
        except (ValueError, OSError) as e:
            return _reply(conn, False, f"bad request: {e}")
        body = take_prerendered_body(self.folder, unit, snapshot_id, paper, datetime.now(UTC),
                                     self.identities)
        if body is None:
            return _reply(conn, False, f"no {paper} packet of unit {unit} pre-rendered for "
                                       f"snapshot {snapshot_id} today")
        _reply(conn, True)
        conn.sendall(body)
        log.info("handed the pre-rendered %s packet (%s) of snapshot %s to `downtime print`",
                 unit, paper, snapshot_id)


def fetch_packet(store: Path, unit: str, snapshot_id: str, paper: str) -> tuple[Packet | None,
                                                                                 str]:
    """The command's side: (the agent's pre-rendered packet, "") or (None, why not). None
    means lay it out here; nothing was taken unless the agent had the packet."""
    try:
        path = socket_path(store)
    except ServiceError as e:
        return None, str(e)
    if not path.exists():
        return None, "no agent is handing out packets"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT_SECONDS)
        try:
            conn.connect(str(path))
            if not allowed(peer_uid(conn)):
                return None, f"{path}: the socket's owner is not this user"
            conn.sendall(json.dumps({"op": "take-packet", "unit": unit,
                                     "snapshot_id": snapshot_id, "paper": paper}).encode()
                         + b"\n")
            with conn.makefile("rb") as stream:
                answer = json.loads(_read_line(stream))
                if not answer.get("ok"):
                    return None, str(answer.get("why", "the agent has no packet"))
                return read_packet(stream.read()), ""
        except (OSError, ValueError, AttributeError) as e:
            return None, f"the agent did not hand over the packet ({e})"


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _reply(conn: socket.socket, ok: bool, why: str = "") -> None:
    conn.sendall(json.dumps({"ok": ok, "why": why} if why else {"ok": ok}).encode() + b"\n")


def _read_line(stream: BinaryIO) -> bytes:
    line = stream.readline(MAX_REQUEST + 1)
    if not line.endswith(b"\n"):
        raise ValueError("line too long" if len(line) > MAX_REQUEST else
                         "the other end closed before a whole line")
    return line
