"""The agent's local services over Unix sockets: where a socket lives, who may connect, and
the checks made on both ends. The packet hand-over (downtime.packet_service) and the audit
writer (snapshots.audit.writer) are each one request per connection on top of this.

Who may connect: processes of the service's own OS user, root, and, where the site names
one, members of an OS group: checked twice, by the folder's and the socket's modes (0700 and
0600; 0750 and 0660 with a group) and by each connection's peer credentials (SO_PEERCRED).
Who answers: the client uses a socket only in a folder no one else may write to, and only
when the process listening is the folder's owner (or root); in the default folder that
owner must be the user themself. So neither side can be stood in for by another user.

The folder is the site's (`Access.folder`, e.g. systemd's RuntimeDirectory /run/downtime) or
by default this user's own `$XDG_RUNTIME_DIR/downtime`, else `/tmp/downtime-<uid>`.
"""

from __future__ import annotations

import grp
import hashlib
import json
import logging
import os
import pwd
import socket
import stat
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from .errors import ConfigError, ToolkitError, oserror_text

TIMEOUT_SECONDS = 5.0
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes on Linux, the last a NUL


class ServiceError(ToolkitError):
    """A service's socket cannot be used safely or at all; the message says why in one line."""

    reason = "local-service"


@dataclass(frozen=True)
class Access:
    """Where a service's socket is, and which OS group besides the service's user may ask."""

    folder: Path | None = None  # None: this user's own runtime folder
    group: str | None = None
    setting: ClassVar[str] = "group"  # the config keys naming the group and the folder,
    folder_setting: ClassVar[str] = "the socket folder"  # for their errors

    def group_id(self) -> int | None:
        if self.group is None:
            return None
        try:
            return grp.getgrnam(self.group).gr_gid
        except KeyError:
            raise ConfigError(f"{self.setting}: no OS group {self.group!r} on this "
                              "machine") from None

    def socket(self, prefix: str, of: Path | str) -> Path:
        """`<folder>/<prefix>-<hash of what it serves>.sock` (what it serves, a store or a
        log, can have a longer path than a socket address may). ServiceError if even that is
        too long (a deep folder)."""
        digest = hashlib.sha256(os.fsencode(of)).hexdigest()[:16]
        path = self.resolved_folder() / f"{prefix}-{digest}.sock"
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise ServiceError(f"{path}: too long for a socket address "
                               f"({len(os.fsencode(path))} bytes, at most {MAX_SOCKET_PATH}); "
                               f"set {self.folder_setting} to a shorter folder")
        return path

    def resolved_folder(self) -> Path:
        if self.folder is not None:
            return Path(self.folder)
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and owned_dir(Path(runtime), os.getuid()):
            return Path(runtime) / "downtime"
        return Path(tempfile.gettempdir()) / f"downtime-{os.getuid()}"


def serving_folder(access: Access) -> Path:
    """The service's side: the socket's folder, made if missing, owned by this user and closed
    to everyone but it (and the group, which may enter but not write)."""
    folder, gid = access.resolved_folder(), access.group_id()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise ServiceError(oserror_text(e, "cannot make the agent's socket folder", folder)) \
            from None
    if not owned_dir(folder, os.getuid()):  # someone else's, or a link to elsewhere
        raise ServiceError(f"{folder}: not a folder of this user's; the agent does not serve "
                           "through it")
    try:
        if gid is not None:
            os.chown(folder, -1, gid)
        os.chmod(folder, 0o700 if gid is None else 0o750)
    except OSError as e:
        raise ServiceError(oserror_text(e, "cannot close the socket folder to others",
                                        folder)) from None
    return folder


def trusted_owner(folder: Path, default: bool) -> int | None:
    """The client's side: the uid a service listening in `folder` must run as, or None if
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


def owned_dir(path: Path, uid: int) -> bool:
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
    """Whether a peer may ask: this user's own process or root's, or a member of the group."""
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


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class LineService:
    """One socket in the access's folder (`where()`); each connection is answered in turn on
    a thread of the service's own, by `answer(conn, uid, gid)` (the peer's credentials from
    the kernel). A request that fails is logged and the service goes on."""

    name: ClassVar[str] = "local-service"
    logger: ClassVar[str] = "downtime.agent"

    def __init__(self, serves: str, access: Access) -> None:
        self.serves, self.access = serves, access
        self.group_id: int | None = None
        self.path: Path | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self.log = logging.getLogger(self.logger)

    def where(self) -> Path:
        """The socket's path (Access.socket)."""
        raise NotImplementedError

    def answer(self, conn: socket.socket, uid: int, gid: int) -> None:
        raise NotImplementedError

    def start(self) -> Path:
        """Listen; ServiceError if the socket cannot be had (another agent serves the same
        thing), ConfigError for a group this machine does not have."""
        self.group_id = self.access.group_id()
        path = self.where()
        serving_folder(self.access)
        if path.exists() or path.is_symlink():
            if answers(path):
                raise ServiceError(f"{path}: another agent already serves {self.serves}")
            path.unlink()  # left by an agent that did not stop cleanly
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            if self.group_id is not None:
                os.chown(path, -1, self.group_id)
            os.chmod(path, 0o600 if self.group_id is None else 0o660)
            listener.listen(8)
        except OSError as e:
            listener.close()
            raise ServiceError(oserror_text(e, "cannot listen", path)) from None
        self.path, self._listener = path, listener
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()
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
                    conn.settimeout(TIMEOUT_SECONDS)
                    uid, gid = peer_credentials(conn)
                    self.answer(conn, uid, gid)
                except Exception:  # one bad exchange must not stop the service
                    self.log.exception("%s request failed", self.name)


def connect(path: Path, access: Access) -> tuple[socket.socket | None, str]:
    """The client's side: (a connection to the service at `path`, "") or (None, why not;
    "" when nothing listens there). The folder must be one no one else may write to, and the
    listener its owner or root."""
    if not path.exists():
        return None, ""
    owner = trusted_owner(path.parent, default=access.folder is None)
    if owner is None:
        return None, (f"{path.parent}: the agent's socket folder is not safe to use (others "
                      "may write to it, or it is not this user's); not used")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(TIMEOUT_SECONDS)
    try:
        conn.connect(str(path))
        uid = peer_credentials(conn)[0]
    except PermissionError:
        conn.close()
        return None, f"{path}: not allowed to ask this agent (not its user nor of its group)"
    except OSError as e:
        conn.close()
        return None, f"{path}: the agent does not answer ({e.strerror or e})"
    if uid not in (owner, 0):
        conn.close()
        return None, f"{path}: answered by a process not of the folder's owner ({user_name(uid)})"
    return conn, ""


def answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def reply(conn: socket.socket, ok: bool, why: str = "", **more: object) -> None:
    answer: dict[str, object] = {"ok": ok, **more}
    if why:
        answer["why"] = why
    conn.sendall(json.dumps(answer).encode() + b"\n")


def read_line(stream: BinaryIO, limit: int) -> bytes:
    line = stream.readline(limit + 1)
    if not line.endswith(b"\n"):
        raise ValueError("line too long" if len(line) > limit else
                         "the other end closed before a whole line")
    return line
