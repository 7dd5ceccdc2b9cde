"""Feeding the running sandbox a hospital's day (downtime.generator.live), in real time.

The driver reads the current inpatients, their active orders, the beds and the staff from
sekmet's store when it starts, then writes each change of the stream when its time comes:
the resources PUT (with the ids the stream gives) and the deletions made, each change in one
transaction through sekmet's Store, as the EHR's own writes would be (no HTTP, so a fault in
force does not stop the hospital's day). The changes' clinical times are the real time they
are written at. `apply` writes one change at once, for tests.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from ..generator.live import Change, HospitalState, LiveStream

STATE_TYPES = ("Encounter", "MedicationRequest", "Location", "Practitioner")


class LiveDriver:
    def __init__(self, sandbox: Any, rate: float, seed: int = 1,
                 start: datetime | None = None) -> None:
        self.sandbox, self.rate, self.seed = sandbox, rate, seed
        self.started = start or datetime.now(UTC)
        state = HospitalState.from_resources(_current(sandbox.store, STATE_TYPES))
        self.stream = LiveStream(state, seed=seed, rate=rate, start=self.started)
        self.by_kind: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    @property
    def inpatients(self) -> int:
        return len(self.stream.state.inpatients)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="sandbox-live")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        clock0, t0 = time.monotonic(), self.started
        while not self._stop.is_set():
            change = self.stream.next()
            wait = (change.at - t0).total_seconds() - (time.monotonic() - clock0)
            if wait > 0 and self._stop.wait(wait):
                return
            try:
                self.apply(change)
            except Exception as e:  # noqa: BLE001 - the stream stops; status() says why
                self.error = f"{type(e).__name__}: {e}"[:200]
                return

    def apply(self, change: Change) -> None:
        store = self.sandbox.store
        with store.transaction():
            for resource in change.put:
                store.update(resource, origin="internal")
            for ref in change.delete:
                rtype, rid = ref.split("/", 1)
                store.delete(rtype, rid, origin="internal")
        self.by_kind[change.kind] = self.by_kind.get(change.kind, 0) + 1

    def describe(self) -> dict:
        return {"rate": self.rate, "seed": self.seed, "inpatients": self.inpatients,
                "changes": sum(self.by_kind.values()), "by_kind": dict(sorted(
                    self.by_kind.items())), "error": self.error}


def _current(store: Any, types: tuple[str, ...]) -> list[dict]:
    marks = ",".join("?" * len(types))
    rows = store.query(f"SELECT json FROM resources WHERE deleted = 0 AND type IN ({marks})",
                       types)
    return [json.loads(row[0]) for row in rows]
