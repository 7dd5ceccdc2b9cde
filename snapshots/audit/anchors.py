"""Anchors: the writer's signed heads, copied off the workstation (docs/audit-log.md).

A signed head says "entry N of the log signed by key K has hash H". Once a copy of it is
somewhere the workstation cannot take it back, no rewrite of entries 1..N goes unseen, not
even by someone holding the key: the rewritten chain no longer reaches H at seq N. The agent
copies its heads into a folder on the share the builder reads (`[audit] anchors`), one new
file per anchoring, never rewritten:

    <anchors>/<host>-<key id>/seq-000000120.anchor    {"seq", "hash", "key", "host",
    <anchors>/<host>-<key id>/audit-key.pub             "writer", "time", "sig"}

On a share where workstations may create files but not change or delete them (an ACL the
site sets, or write-once storage), not even root on the workstation can withdraw an anchor.
`read_anchors` is what `audit verify --anchors` and reconciliation read them with.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .signing import signature_shape_ok

SUFFIX = ".anchor"
PUBLIC_NAME = "audit-key.pub"
_KEY = re.compile(r"[0-9a-f]{16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Anchor:
    path: Path
    head: dict  # seq, hash, key, host, writer, time, sig (checked in shape only)

    @property
    def seq(self) -> int:
        return self.head["seq"]

    @property
    def key(self) -> str:
        return self.head["key"]

    def label(self) -> str:
        return f"{self.path} (seq {self.seq}, {self.head['time']})"


@dataclass
class AnchorReading:
    """The anchors of one log found at a path, and what could not be used."""

    anchors: list[Anchor] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)  # this log's, unusable
    others: int = 0  # anchors of other workstations' logs, left aside


def folder_for(root: Path, host: str, key: str) -> Path:
    """This log's folder among every workstation's anchors."""
    return Path(root) / f"{re.sub(r'[^A-Za-z0-9.-]', '_', host)[:64]}-{key}"


def write_anchor(root: Path, head: dict, public_pem: bytes) -> Path | None:
    """Copy a signed head into `root` (which must exist: a share that is not mounted must not
    be stood in for by a local folder); None when that seq is anchored already. OSError when
    the folder cannot be reached or written."""
    if not Path(root).is_dir():
        raise FileNotFoundError(2, "no such folder (the share not reachable?)", str(root))
    folder = folder_for(root, head["host"], head["key"])
    folder.mkdir(exist_ok=True)
    public = folder / PUBLIC_NAME
    if not public.exists():  # for IT and reconciliation to find; pin it from elsewhere
        try:
            _create(public, public_pem)
        except FileExistsError:
            pass
    final = folder / f"seq-{head['seq']:09d}{SUFFIX}"
    try:
        _create(final, (json.dumps(head, sort_keys=True) + "\n").encode())
    except FileExistsError:
        return None
    return final


def _create(path: Path, data: bytes) -> None:
    """Create a new file in one write, never replacing one: on a write-once share a rename
    would need a right to delete that the workstation should not have."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def read_anchors(path: Path, key: str | None) -> AnchorReading:
    """The anchors at `path` of the log signed by `key`: `path` is one anchor file, a log's
    anchor folder, or the folder of every workstation's (its `*-<key>` folder is read).
    Anchors of other keys are counted, not used; given as the one file, one is a problem."""
    path, reading = Path(path), AnchorReading()
    if path.is_dir():
        files = sorted(path.glob(f"*{SUFFIX}"))
        if key is not None:
            files += sorted(path.glob(f"*-{key}/*{SUFFIX}"))
    elif path.exists():
        files = [path]
    else:
        reading.problems.append((path, "no anchor file or folder at this path"))
        return reading
    for file in files:
        if file.name.startswith("."):
            continue
        try:
            anchor = parse_anchor(file)
        except ValueError as e:
            reading.problems.append((file, f"not an anchor ({e})"))
            continue
        if anchor.key == key:
            reading.anchors.append(anchor)
        elif file == path:
            reading.problems.append((file, f"an anchor of another workstation's log (host "
                                           f"{anchor.head['host']}, key {anchor.key}), not "
                                           f"of this log (key {key or 'none: not signed'})"))
        else:
            reading.others += 1
    return reading


def parse_anchor(path: Path) -> Anchor:
    """One anchor file, checked in shape (not its signature); ValueError saying what is
    wrong."""
    try:
        head = json.loads(Path(path).read_bytes())
    except OSError as e:
        raise ValueError(e.strerror or str(e)) from None
    except ValueError:
        raise ValueError("not JSON") from None
    problem = head_problem(head)
    if problem:
        raise ValueError(problem)
    return Anchor(Path(path), head)


def head_problem(head: object) -> str:
    """Why `head` is not a signed head ('' when it is one)."""
    if not isinstance(head, dict):
        return "not a JSON object"
    seq = head.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        return f"seq {seq!r:.20} is not a number"
    if not isinstance(head.get("hash"), str) or not _SHA256.fullmatch(head["hash"]):
        return "hash is not a SHA-256 hash"
    if not isinstance(head.get("key"), str) or not _KEY.fullmatch(head["key"]):
        return "key is not a key id"
    for name in ("host", "time"):
        if not isinstance(head.get(name), str):
            return f"{name} is not text"
    if head.get("writer") is not None and not isinstance(head["writer"], str):
        return "writer is not text"
    if not signature_shape_ok(head.get("sig")):
        return "sig is not an Ed25519 signature"
    return ""
