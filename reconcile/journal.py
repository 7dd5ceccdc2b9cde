"""The episode journal: append-only events, each encrypted, written so that a crash can cost at
most the event being written (docs/reconcile.md, "The journal").

`journal.log` holds one line per event: the base64 of an age file (recipients: the HIM
station, any other configured stations, IT escrow) whose plaintext is JSON:

    {"seq": 7, "prev": "<sha256 of line 6's bytes>", "at": "2026-11-24T18:02:11Z",
     "by": "clerk@him-1", "type": "page-read", "data": {...}}

- Appends take an exclusive lock on the file, write whole lines in one `write` and fsync
  before returning: an event returned from `append` survives a crash of the process or the
  machine.
- A crash in the middle of a write leaves at most a torn last line: one without its newline,
  or whose age file does not authenticate (age checks every chunk and the end). A reader
  reports it and ignores it; the next writer cuts it off before appending (`repaired`).
- A line before the last that does not open, or a broken `seq`/`prev` link (an event removed,
  reordered or spliced in from another journal), is damage: JournalError, loudly.
- Corrections are new events; nothing is ever rewritten. The current state is derived from
  the events (reconcile/state.py).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage

from snapshots.errors import ToolkitError, oserror_text

LOG = "journal.log"
GENESIS = "0" * 64


class JournalError(ToolkitError):
    """The journal cannot be read or written, or is damaged before its last line."""

    reason = "journal"


@dataclass(frozen=True)
class Event:
    seq: int
    prev: str
    at: str
    by: str
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Torn:
    """A last line cut short by a crash: where it starts and how many bytes it has."""

    offset: int
    size: int
    why: str

    def text(self, path: Path) -> str:
        return (f"{path}: the last event ({self.size} bytes at byte {self.offset}) was cut "
                f"short by a crash ({self.why}) and is ignored")


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


class Journal:
    """One episode's journal. Reading needs an identity; `append` reads what others appended
    since (to chain on the true last event), so the writer holds one too."""

    def __init__(self, directory: Path, recipients: Sequence[str],
                 identities: Sequence[pyrage.x25519.Identity]) -> None:
        if not recipients:
            raise JournalError("the journal needs at least one recipient to encrypt to")
        self.directory = Path(directory)
        self.recipients = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        self.identities = list(identities)
        self.torn: Torn | None = None  # what the last read found cut short, if anything
        self.repaired: Torn | None = None  # what the last append cut off before writing
        self._offset = 0  # bytes of whole, checked lines read so far
        self._seq = 0
        self._prev = GENESIS

    @property
    def path(self) -> Path:
        return self.directory / LOG

    @property
    def last_seq(self) -> int:
        return self._seq

    def read(self) -> list[Event]:
        """Every event from the start (resets what this object has read)."""
        self._offset, self._seq, self._prev = 0, 0, GENESIS
        return list(self.read_new())

    def read_new(self) -> Iterator[Event]:
        """The events appended since the last read or append of this object."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        except OSError as e:
            raise JournalError(oserror_text(e, "cannot read the journal", self.path)) from None
        yield from self._parse(data)

    def _parse(self, data: bytes) -> Iterator[Event]:
        self.torn = None
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            if end < 0:
                # Every append writes whole lines, newline last, in one write: a line without
                # its newline is one a crash cut short, never an event `append` returned.
                self.torn = Torn(self._offset, len(data) - start, "no end of line")
                return
            line = data[start:end]
            try:
                event = self._open_line(line)
            except ValueError as e:
                raise JournalError(f"{self.path}: event {self._seq + 1} (byte "
                                   f"{self._offset}) cannot be read ({e}): the journal is "
                                   "damaged; restore it from a backup or ask IT with the "
                                   "escrow identity") from None
            self._check_link(event, line)
            self._offset += len(line) + 1
            self._seq, self._prev = event.seq, _line_hash(line)
            start = end + 1
            yield event

    def _open_line(self, line: bytes) -> Event:
        try:
            sealed = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise ValueError("not base64") from None
        try:
            plain = pyrage.decrypt(sealed, self.identities)
        except pyrage.DecryptError as e:
            if "no matching keys" in str(e).lower():
                raise JournalError(f"{self.path}: event {self._seq + 1} is not encrypted to "
                                   "this identity (use the station's or the escrow identity)"
                                   ) from None
            raise ValueError(f"does not decrypt: {e}") from None
        try:
            return Event(**json.loads(plain))
        except (ValueError, TypeError) as e:
            raise ValueError(f"not an event: {type(e).__name__}") from None

    def _check_link(self, event: Event, line: bytes) -> None:
        if event.seq != self._seq + 1 or event.prev != self._prev:
            raise JournalError(f"{self.path}: event {event.seq} does not follow event "
                               f"{self._seq} (an event removed, reordered or copied in from "
                               "another journal): the journal is damaged")

    def append(self, type_: str, data: dict[str, Any], by: str) -> Event:
        return self.append_many([(type_, data)], by)[0]

    def append_many(self, items: Sequence[tuple[str, dict[str, Any]]], by: str) -> list[Event]:
        """Append events as one write and one fsync; returns them once they are durable."""
        if not items:
            return []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as e:
            raise JournalError(oserror_text(e, "cannot write the journal", self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._catch_up(fd)
            at = now_text()
            lines, events = [], []
            seq, prev = self._seq, self._prev
            for type_, payload in items:
                seq += 1
                event = Event(seq, prev, at, by, type_, payload)
                line = base64.b64encode(pyrage.encrypt(
                    json.dumps(event.__dict__, separators=(",", ":")).encode(),
                    self.recipients))
                lines.append(line)
                events.append(event)
                prev = _line_hash(line)
            blob = b"".join(line + b"\n" for line in lines)
            os.write(fd, blob)
            os.fsync(fd)
            self._offset += len(blob)
            self._seq, self._prev = seq, prev
            return events
        except OSError as e:
            raise JournalError(oserror_text(e, "cannot write the journal", self.path)) from None
        finally:
            os.close(fd)

    def _catch_up(self, fd: int) -> None:
        """Under the lock: read what was appended since, and cut off a torn last line so the
        new event follows the last whole one."""
        size = os.fstat(fd).st_size
        self.repaired = None
        if size != self._offset:
            os.lseek(fd, self._offset, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            for _ in self._parse(b"".join(chunks)):
                pass
        if self.torn is not None:
            os.ftruncate(fd, self.torn.offset)
            os.fsync(fd)
            self.repaired, self.torn = self.torn, None


def write_durably(path: Path, data: bytes) -> None:
    """Write a file so that once this returns it is whole on disk under its name: to a
    temporary name beside it, fsync, rename, fsync the folder. A crash leaves either no file
    or the whole file (and perhaps a stray `.tmp`, never taken for a page)."""
    write_durably_many([(Path(path), data)])


def write_durably_many(files: Sequence[tuple[Path, bytes]]) -> None:
    """`write_durably` for several files of one folder: each written to its temporary name
    and fsynced, then all renamed and the folder fsynced once (the pages of one scanned file:
    one folder fsync for them all, not one a page). Once this returns every file is whole
    under its name; a crash before leaves some of them whole and the rest absent (or a
    `.tmp`), and none is named by a journal event yet (the caller appends after)."""
    if not files:
        return
    folders = {Path(path).parent for path, _ in files}
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for path, data in files:
            _write_synced(_tmp(Path(path)), data)
        for path, _ in files:
            os.replace(_tmp(Path(path)), path)
        for folder in folders:
            fsync_dir(folder)
    except OSError as e:
        where = files[0][0] if len(files) == 1 else Path(files[0][0]).parent
        raise JournalError(oserror_text(e, "cannot store the encrypted copy", where)) from None


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
