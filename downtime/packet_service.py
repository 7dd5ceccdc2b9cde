"""The agent hands its pre-rendered packets to `downtime print` over a local socket, so that
printing one needs neither the passphrase nor its key derivation (scrypt: one to two seconds
here, longer than the whole budget from the command to the first page handed to CUPS).

Who may ask: processes of the agent's own OS user (or root), and, where the site names one
(`[print] packet_group`), members of that OS group: checked twice, by the folder's and the
socket's modes and by each connection's peer credentials (SO_PEERCRED). The agent's user can
already read the passphrase the agent was started with, so by default the socket lets no one
new at the identity; a packet group is the site's choice to let its unit staff print the
packet without typing the passphrase (as anyone at a paper-era downtime box could). Either
way it hands out only what the agent itself rendered, each packet once: not the key, not a
snapshot, not a packet of another paper, day or snapshot than the one asked for.

Protocol: the client sends one JSON line {"op": "take-packet", "unit", "snapshot_id",
"paper"}; the agent answers one JSON line, {"ok": true} followed by the decrypted packet
(forms.prerender's JSON) up to the end of the stream, or {"ok": false, "why": "..."}, after
which the command lays the packet out itself. The socket is
`<folder>/packets-<hash of the store's path>.sock` (a store's own path can be longer than a
socket address may be), the folder `paths.packet_socket_dir` (a service's, e.g. systemd's
/run/downtime) or by default this user's own `$XDG_RUNTIME_DIR/downtime`, else
`/tmp/downtime-<uid>`.
"""

from __future__ import annotations

import grp
import hashlib
import json
import logging
import os
import pwd
import re
import socket
import stat
import struct
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyrage

from forms.delivery import PAPERS
from forms.prerender import Packet, read_packet, take_prerendered_body
from snapshots.errors import ToolkitError, oserror_text

from .config import Config, ConfigError

log = logging.getLogger("downtime.agent.packets")

MAX_REQUEST = 4096
TIMEOUT_SECONDS = 5.0
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes on Linux, the last a NUL
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # unit codes and snapshot ids: file-name safe


class ServiceError(ToolkitError):
    """The socket cannot be used safely or at all; the message says why in one line."""

    reason = "packet-service"


@dataclass(frozen=True)
class Access:
    """Where the socket is, and which OS group besides the agent's user may ask."""

    folder: Path | None = None  # None: this user's own runtime folder
    group: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> Access:
        """The [print] packet_group and paths.packet_socket_dir (checked when loaded)."""
        return cls(config.paths.packet_socket_dir, config.print.packet_group)

    def group_id(self) -> int | None:
        if self.group is None:
            return None
        try:
            return grp.getgrnam(self.group).gr_gid
        except KeyError:
            raise ConfigError(f"[print] packet_group: no OS group {self.group!r} on this "
                              "machine") from None


def socket_path(store: Path, access: Access = Access()) -> Path:
    """Where the agent serving `store` listens. ServiceError if that is longer than a socket
    address may be (a deep paths.packet_socket_dir)."""
    digest = hashlib.sha256(os.fsencode(os.path.realpath(store))).hexdigest()[:16]
    path = _folder(access) / f"packets-{digest}.sock"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ServiceError(f"{path}: too long for a socket address ({len(os.fsencode(path))} "
                           f"bytes, at most {MAX_SOCKET_PATH}); set paths.packet_socket_dir "
                           "to a shorter folder")
    return path


def _folder(access: Access) -> Path:
    if access.folder is not None:
        return Path(access.folder)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and _owned_dir(Path(runtime), os.getuid()):
        return Path(runtime) / "downtime"
    return Path(tempfile.gettempdir()) / f"downtime-{os.getuid()}"


def serving_folder(access: Access) -> Path:
    """The agent's side: the socket's folder, made if missing, owned by this user and closed
    to everyone but it (and the packet group, which may enter but not write)."""
    folder, gid = _folder(access), access.group_id()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ServiceError(oserror_text(e, "cannot make the agent's socket folder", folder)) \
            from None
    if not _owned_dir(folder, os.getuid()):  # someone else's, or a link to elsewhere
        raise ServiceError(f"{folder}: not a folder of this user's; the agent's packets are "
                           "not served through it")
    try:
        if gid is not None:
            os.chown(folder, -1, gid)
        os.chmod(folder, 0o700 if gid is None else 0o750)
    except OSError as e:
        raise ServiceError(oserror_text(e, "cannot close the socket folder to others",
                                        folder)) from None
    return folder


def _trusted_owner(folder: Path, default: bool) -> int | None:
    """The command's side: the uid an agent listening in `folder` must run as, or None if
    the folder cannot be trusted (others may write to it; by default, not this user's)."""
    try:
        st = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) & 0o022:
        return None
    if default and st.st_uid != os.getuid():
        return None
    return st.st_uid


def _owned_dir(path: Path, uid: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid


def peer_credentials(conn: socket.socket) -> tuple[int, int]:
    """(uid, gid) of the process at the other end of a Unix socket."""
    _pid, uid, gid = struct.unpack("3i", conn.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid, gid


def allowed(uid: int, gid: int, group_id: int | None = None) -> bool:
    """Whether a peer may be handed a packet: this user's own process or root's, or a
    member of the packet group."""
    if uid in (os.getuid(), 0):
        return True
    if group_id is None:
        return False
    if gid == group_id:
        return True
    try:
        return group_id in os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)
    except KeyError:  # a uid with no account: no groups to be a member through
        return False


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
                 identities: Sequence[pyrage.x25519.Identity], access: Access = Access()):
        self.store, self.folder, self.identities = Path(store), Path(folder), list(identities)
        self.access = access
        self._group_id: int | None = None
        self.path: Path | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> Path:
        """Listen; ServiceError if the socket cannot be had (another agent serves the store),
        ConfigError for a packet group this machine does not have."""
        self._group_id = self.access.group_id()
        serving_folder(self.access)
        path = socket_path(self.store, self.access)
        if path.exists() or path.is_symlink():
            if _answers(path):
                raise ServiceError(f"{path}: another agent already serves {self.store}")
            path.unlink()  # left by an agent that did not stop cleanly
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            if self._group_id is not None:
                os.chown(path, -1, self._group_id)
            os.chmod(path, 0o600 if self._group_id is None else 0o660)
            listener.listen(8)
        except OSError as e:
            listener.close()
            raise ServiceError(oserror_text(e, "cannot listen", path)) from None
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
        uid, gid = peer_credentials(conn)
        if not allowed(uid, gid, self._group_id):
            log.warning("refused a packet request from uid %d", uid)
            return _reply(conn, False, "not this agent's user nor of its packet group")
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
        log.info("handed the pre-rendered %s packet (%s) of snapshot %s to `downtime print` "
                 "(uid %d)", unit, paper, snapshot_id, uid)


def fetch_packet(store: Path, unit: str, snapshot_id: str, paper: str,
                 access: Access = Access()) -> tuple[Packet | None, str]:
    """The command's side: (the agent's pre-rendered packet, "") or (None, why not; "" when
    no agent serves this store). None means lay it out here; nothing was taken unless the
    agent had the packet."""
    try:
        path = socket_path(store, access)
    except ServiceError as e:
        return None, str(e)
    if not path.exists():
        return None, ""
    owner = _trusted_owner(path.parent, default=access.folder is None)
    if owner is None:
        return None, (f"{path.parent}: the agent's socket folder is not safe to use (others "
                      "may write to it, or it is not this user's); not used")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT_SECONDS)
        try:
            conn.connect(str(path))
            if peer_credentials(conn)[0] not in (owner, 0):
                return None, f"{path}: answered by a process not of the folder's owner"
            conn.sendall(json.dumps({"op": "take-packet", "unit": unit,
                                     "snapshot_id": snapshot_id, "paper": paper}).encode()
                         + b"\n")
            with conn.makefile("rb") as stream:
                answer = json.loads(_read_line(stream))
                if not answer.get("ok"):
                    return None, str(answer.get("why", "the agent has no packet"))
                return read_packet(stream.read()), ""
        except PermissionError:
            return None, f"{path}: not allowed to ask this agent (not its user nor of its " \
                         "packet group)"
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
