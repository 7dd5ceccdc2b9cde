"""The drill's activity journal: one JSON line per activity start and end (the drill, each
probe, step, criterion, fault and gate), with its outcome and a one-line detail, in the
drill's folder (`journal.jsonl`), flushed line by line so a drill that dies leaves what
happened up to then.

It holds no patient data: what goes in is the engine's own words and the actions' one-line
details and figures, which name steps, counts, hashes and files, never a patient (the
actions' contract, downtime/drills/api.py)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from .engine_actions import now_iso


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()  # a step's own worker threads may log too
        self._t0 = time.monotonic()

    def write(self, activity: str, name: str, event: str, *, outcome: str | None = None,
              detail: str = "", **more: Any) -> None:
        line: dict[str, Any] = {"at": now_iso(), "t": round(time.monotonic() - self._t0, 3),
                                "activity": activity, "name": name, "event": event}
        if outcome is not None:
            line["outcome"] = outcome
        if detail:
            line["detail"] = detail
        line.update(more)
        with self._lock:
            self._file.write(json.dumps(line, sort_keys=False) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
