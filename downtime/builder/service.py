"""The central builder service: pull, build, publish, prune, again.

At start, and every `full_every_minutes`, a full build; in between, every `every_seconds`, an
incremental one from the newest house snapshot in the store (from a FHIR server: what
changed since that snapshot's server time; a source on disk is built in full each time, as
files carry no "since"). Each new snapshot is sealed into the store and copied into every
publish folder the workstations' agents take files from (written under a hidden name, then
renamed: an agent never sees half a file); each publish folder keeps the newest few per scope.

A run that fails leaves everything as it was (the store and the published snapshots are
those of the last good run) and says why in the log and in the status file; the next run
tries again. SIGTERM or Ctrl-C stops the service between runs, or interrupts a pull (the
Bulk export job is then deleted on the server).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snapshots.errors import ToolkitError, oserror_text
from snapshots.fhir_client.settings import ClientSettings
from snapshots.keys import Identity
from snapshots.pruning import prune
from snapshots.store import newest_per_scope

from ..config import Config
from ..snapshot_jobs import BuildJobResult, BuildOptions, run_build
from .settings import BuilderSettings
from .status import now_text, write_status

log = logging.getLogger("downtime.builder")
Clock = Callable[[], datetime]


@dataclass
class Builder:
    """One site's builder: where from, where to, with which keys."""

    config: Config
    store: Path
    signing_key: Ed25519PrivateKey
    identity: Identity | None  # opens the previous house snapshot (incremental builds)
    source: Path | None = None
    remote: ClientSettings | None = None
    settings: BuilderSettings = field(default_factory=BuilderSettings)
    clock: Clock = lambda: datetime.now(UTC)  # noqa: E731 - a default, replaced by tests
    last_full: datetime | None = None
    status: dict = field(default_factory=dict)

    def due_full(self) -> bool:
        if self.remote is None or self.last_full is None:
            return True  # a source on disk holds no "since": every build is a full one
        return self.clock() - self.last_full >= timedelta(
            minutes=self.settings.full_every_minutes)

    def run_once(self, full: bool | None = None) -> BuildJobResult | None:
        """One pull, build and publish; the result, or None when it failed (and said why)."""
        full = self.due_full() if full is None else full
        previous = None if full else self._previous()
        kind = "incremental" if previous else "full"
        started = self.clock()
        log.info("%s build starting", kind)
        try:
            result = run_build(self._options(previous))
            published = self._publish(result)
        except (ToolkitError, OSError) as e:
            why = oserror_text(e) if isinstance(e, OSError) else str(e)
            log.error("%s build failed: %s", kind, why)
            self._record(kind, started, error=why)
            return None
        if kind == "full":
            self.last_full = started
        log.info("%s build done in %.1f s: %s", kind, (self.clock() - started).total_seconds(),
                 ", ".join(p.name for p in published) or "nothing published")
        self._record(kind, started, result=result)
        return result

    def run(self, stop: threading.Event, every: float | None = None) -> None:
        """Run until `stop` is set: one run, then wait for the next one's time."""
        every = every or self.settings.every_seconds
        while not stop.is_set():
            started = time.monotonic()
            self.run_once()
            wait = max(0.0, every - (time.monotonic() - started))
            self.status["next_run"] = now_text(self.clock() + timedelta(seconds=wait))
            self._write()
            stop.wait(wait)

    # --- the parts of a run -------------------------------------------------------------------

    def _previous(self) -> Path | None:
        house = newest_per_scope(self.store).get("house")
        return house.path if house else None

    def _options(self, previous: Path | None) -> BuildOptions:
        return BuildOptions(source=self.source, remote=self.remote, out=self.store,
                            per_unit=self.settings.per_unit, previous=previous,
                            settings=self.config.build_settings(),
                            recipients=self.config.recipients.resolve(),
                            signing_key=self.signing_key, identity=self.identity,
                            trusted_key=self.signing_key.public_key(),
                            keep=self.settings.keep)

    def _publish(self, result: BuildJobResult) -> list[Path]:
        """Each new snapshot into every publish folder, atomically; old ones pruned there."""
        done = []
        for folder in self.settings.publish:
            folder.mkdir(parents=True, exist_ok=True)
            for path, _ in result.written:
                target = folder / path.name
                part = folder / f".{path.name}.part"
                shutil.copyfile(path, part)
                with open(part, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(part, target)
                done.append(target)
            for scope in sorted({m.scope for _, m in result.written}):
                prune(folder, scope, self.signing_key.public_key(), keep=self.settings.keep,
                      whole_file=False)
        return done

    def _record(self, kind: str, started: datetime, result: BuildJobResult | None = None,
                error: str | None = None) -> None:
        seconds = round((self.clock() - started).total_seconds(), 2)
        run = {"at": now_text(started), "kind": kind, "ok": error is None, "seconds": seconds,
               "error": error}
        if result is not None:
            census = result.report["census"]
            house = next((m for _, m in result.written if m.scope == "house"), None)
            run.update(patients=census["in_snapshot"], census_complete=census["complete"],
                       pulled=(result.report.get("pull") or {}).get("resources"))
            self.status["last_success"] = {
                "at": now_text(started), "kind": kind, "data_as_of": result.report["as_of"],
                "sequence": house.sequence if house else None,
                "census_complete": census["complete"], "seconds": seconds}
            self.status["consecutive_failures"] = 0
        else:
            self.status["consecutive_failures"] = self.status.get("consecutive_failures", 0) + 1
        self.status["last_run"] = run
        self.status.setdefault("started", now_text(self.clock()))
        self.status.update(host=socket.gethostname(), pid=os.getpid(),
                           source=self.remote.base_url if self.remote else str(self.source))
        self._write()

    def _write(self) -> None:
        try:
            write_status(self.store, self.status)
        except OSError as e:  # the build itself went well: say so, go on
            log.error("cannot write the builder status: %s", e)


def with_every(settings: BuilderSettings, every: float | None) -> BuilderSettings:
    return replace(settings, every_seconds=every) if every else settings
