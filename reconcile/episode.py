"""A downtime episode: the window and the units it covers, its folder, its journal and the
encrypted copies of what came in (docs/reconcile.md, "The episode folder").

    <folder>/
      current                      the id of the open episode (no patient data)
      EP-20261124-0600-K7QD/
        journal.log                the events (reconcile/journal.py)
        pages/<page id>.age        each page as it came (one-page PDF or image), encrypted
        set-aside/<id>.age         a file that could not be read as a scan, encrypted
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyrage

from snapshots.errors import ToolkitError, oserror_text

from .journal import Journal, write_durably, write_durably_many

CURRENT = "current"
PAGES = "pages"
SET_ASIDE = "set-aside"
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class EpisodeError(ToolkitError):
    """No such episode, none open, or a window that makes no sense."""

    reason = "episode"


class EpisodeClosed(EpisodeError):
    """The episode was closed (reconcile/close.py): it takes no new entries, scans nor
    submissions."""

    reason = "episode-closed"


def refuse_if_closed(closed: dict[str, Any] | None, episode_id: str, what: str) -> None:
    """EpisodeClosed, in one line, when `closed` (the state's episode-closed data) is set."""
    if closed is not None:
        raise EpisodeClosed(f"episode {episode_id} was closed by {closed.get('person')} at "
                            f"{closed.get('at')}: it takes no more {what}")


def parse_time(value: str | datetime, name: str) -> datetime:
    """An ISO 8601 time; one without a zone is the station's local time (what a clerk types
    from the downtime log on the wall)."""
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise EpisodeError(f"{name} {value!r:.40}: not an ISO 8601 time "
                               "(2026-11-24T06:00, local time, or with a zone)") from None
    return when if when.tzinfo else when.astimezone()


def iso(when: datetime) -> str:
    return when.astimezone().isoformat(timespec="minutes")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime | None  # None: the episode is still going on (or its end not yet known)

    def holds(self, when: datetime) -> bool:
        return self.start <= when and (self.end is None or when <= self.end)

    def text(self) -> str:
        return f"{iso(self.start)} to {iso(self.end) if self.end else 'open end'}"


class Episode:
    """One episode's folder: its journal and its encrypted copies."""

    def __init__(self, directory: Path, recipients: Sequence[str],
                 identities: Sequence[pyrage.x25519.Identity], who: str) -> None:
        self.directory = Path(directory)
        self.id = self.directory.name
        self.who = who
        self.recipients = list(recipients)
        self._recipients = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        self.identities = list(identities)
        self.journal = Journal(self.directory, recipients, identities)

    def store_copy(self, folder: str, data: bytes) -> str:
        """Encrypt `data` and write it durably under a new name in `folder`; the name, for
        the journal event that must come after."""
        name = secrets.token_hex(8)
        write_durably(self.directory / folder / f"{name}.age",
                      pyrage.encrypt(data, self._recipients))
        return name

    def store_copies(self, folder: str, items: Sequence[bytes]) -> list[str]:
        """`store_copy` for several (the pages of one scanned file): each encrypted and
        fsynced, the folder fsynced once; their names, once all are durable."""
        names = [secrets.token_hex(8) for _ in items]
        write_durably_many([(self.directory / folder / f"{name}.age",
                             pyrage.encrypt(data, self._recipients))
                            for name, data in zip(names, items, strict=True)])
        return names

    def copy_path(self, folder: str, name: str) -> Path:
        return self.directory / folder / f"{name}.age"

    def read_copy(self, folder: str, name: str) -> bytes:
        path = self.copy_path(folder, name)
        try:
            return pyrage.decrypt(path.read_bytes(), self.identities)
        except OSError as e:
            raise EpisodeError(oserror_text(e, "cannot read the stored copy", path)) from None
        except pyrage.DecryptError as e:
            raise EpisodeError(f"{path}: cannot decrypt the stored copy ({e})") from None


def new_episode_id(start: datetime) -> str:
    suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(4))
    return f"EP-{start.astimezone().strftime('%Y%m%d-%H%M')}-{suffix}"


def open_episode(folder: Path, window: Window, units: Sequence[str], recipients: Sequence[str],
                 identities: Sequence[pyrage.x25519.Identity], who: str) -> Episode:
    """Make a new episode, record its window and units as its first event and make it the
    open one."""
    if window.end is not None and window.end < window.start:
        raise EpisodeError(f"--end {iso(window.end)} is before --start {iso(window.start)}")
    folder = Path(folder)
    episode = Episode(folder / new_episode_id(window.start), recipients, identities, who)
    try:
        episode.directory.mkdir(parents=True, mode=0o700)
    except OSError as e:
        raise EpisodeError(oserror_text(e, "cannot make the episode folder",
                                        episode.directory)) from None
    episode.journal.append("episode-opened", {
        "episode": episode.id, "start": window.start.isoformat(),
        "end": window.end.isoformat() if window.end else None, "units": list(units)}, who)
    write_durably(folder / CURRENT, episode.id.encode() + b"\n")
    return episode


def episode_dir(folder: Path, episode_id: str | None) -> Path:
    """The folder of `episode_id`, or of the open episode."""
    folder = Path(folder)
    if episode_id is None:
        try:
            episode_id = (folder / CURRENT).read_text().strip()
        except FileNotFoundError:
            raise EpisodeError(f"no open episode in {folder}: start one with `downtime "
                               "reconcile open --start T`") from None
        except OSError as e:
            raise EpisodeError(oserror_text(e, "cannot read the open episode", folder)) \
                from None
    if not episode_id or os.sep in episode_id or episode_id.startswith("."):
        raise EpisodeError(f"{episode_id!r:.40} is not an episode id (EP-...)")
    path = folder / episode_id
    if not (path / "journal.log").is_file():
        known = sorted(p.name for p in folder.glob("EP-*") if p.is_dir()) \
            if folder.is_dir() else []
        raise EpisodeError(f"no episode {episode_id} in {folder}"
                           + (f" (there are: {', '.join(known[-5:])})" if known else ""))
    return path


def load_episode(folder: Path, episode_id: str | None, recipients: Sequence[str],
                 identities: Sequence[pyrage.x25519.Identity], who: str) -> Episode:
    return Episode(episode_dir(folder, episode_id), recipients, identities, who)
