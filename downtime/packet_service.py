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
`/tmp/downtime-<uid>`. The socket itself, its folder and both ends' checks are
snapshots.local_socket's, which the audit writer shares.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pyrage

from forms.delivery import PAPERS
from forms.prerender import Packet, read_packet, take_prerendered_body
from snapshots import local_socket
from snapshots.local_socket import ServiceError, allowed, peer_credentials, read_line, reply

from .config import Config

__all__ = ["Access", "PacketService", "ServiceError", "allowed", "check_request",
           "fetch_packet", "peer_credentials", "socket_path"]

MAX_REQUEST = 4096
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # unit codes and snapshot ids: file-name safe


@dataclass(frozen=True)
class Access(local_socket.Access):
    """Where the packet socket is, and which OS group besides the agent's user may ask."""

    setting: ClassVar[str] = "[print] packet_group"
    folder_setting: ClassVar[str] = "paths.packet_socket_dir"

    @classmethod
    def from_config(cls, config: Config) -> Access:
        """The [print] packet_group and paths.packet_socket_dir (checked when loaded)."""
        return cls(config.paths.packet_socket_dir, config.print.packet_group)


def socket_path(store: Path, access: Access = Access()) -> Path:
    """Where the agent serving `store` listens. ServiceError if that is longer than a socket
    address may be (a deep paths.packet_socket_dir)."""
    return access.socket("packets", os.path.realpath(store))


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


class PacketService(local_socket.LineService):
    """The agent's side: serves `folder`'s packets, decrypted with `identities`, one request
    at a time on a thread of its own."""

    name: ClassVar[str] = "packet-service"
    logger: ClassVar[str] = "downtime.agent.packets"

    def __init__(self, store: Path, folder: Path,
                 identities: Sequence[pyrage.x25519.Identity], access: Access = Access()):
        self.store, self.folder, self.identities = Path(store), Path(folder), list(identities)
        super().__init__(str(self.store), access)

    def where(self) -> Path:
        return socket_path(self.store, self.access)

    def start(self) -> Path:
        """Listen; ServiceError if the socket cannot be had (another agent serves the store),
        ConfigError for a packet group this machine does not have."""
        path = super().start()
        self.log.info("handing pre-rendered packets to `downtime print` at %s", path)
        return path

    def answer(self, conn: socket.socket, uid: int, gid: int) -> None:
        if not allowed(uid, gid, self.group_id):
            self.log.warning("refused a packet request from uid %d", uid)
            return reply(conn, False, "not this agent's user nor of its packet group")
        try:
            with conn.makefile("rb") as stream:
                unit, snapshot_id, paper = check_request(json.loads(read_line(stream,
                                                                              MAX_REQUEST)))
        except (ValueError, OSError) as e:
            return reply(conn, False, f"bad request: {e}")
        body = take_prerendered_body(self.folder, unit, snapshot_id, paper, datetime.now(UTC),
                                     self.identities)
        if body is None:
            return reply(conn, False, f"no {paper} packet of unit {unit} pre-rendered for "
                                      f"snapshot {snapshot_id} today")
        reply(conn, True)
        conn.sendall(body)
        self.log.info("handed the pre-rendered %s packet (%s) of snapshot %s to `downtime "
                      "print` (uid %d)", unit, paper, snapshot_id, uid)


def fetch_packet(store: Path, unit: str, snapshot_id: str, paper: str,
                 access: Access = Access()) -> tuple[Packet | None, str]:
    """The command's side: (the agent's pre-rendered packet, "") or (None, why not; "" when
    no agent serves this store). None means lay it out here; nothing was taken unless the
    agent had the packet."""
    try:
        path = socket_path(store, access)
    except ServiceError as e:
        return None, str(e)
    conn, why = local_socket.connect(path, access)
    if conn is None:
        return None, why.replace("nor of its group", "nor of its packet group")
    with conn:
        try:
            conn.sendall(json.dumps({"op": "take-packet", "unit": unit,
                                     "snapshot_id": snapshot_id, "paper": paper}).encode()
                         + b"\n")
            with conn.makefile("rb") as stream:
                answer = json.loads(read_line(stream, MAX_REQUEST))
                if not answer.get("ok"):
                    return None, str(answer.get("why", "the agent has no packet"))
                return read_packet(stream.read()), ""
        except PermissionError:
            return None, f"{path}: not allowed to ask this agent (not its user nor of its " \
                         "packet group)"
        except (OSError, ValueError, AttributeError) as e:
            return None, f"the agent did not hand over the packet ({e})"
