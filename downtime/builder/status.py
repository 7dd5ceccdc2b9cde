"""What the builder service says of itself, for people and for monitoring.

After every run the service rewrites `<store>/.builder-status.json` (times, counts and the
last error: no patient data). `builder status` reads it and answers as a monitoring plugin
does (Nagios, Icinga, Zabbix): one line, and the exit status 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN; `--json` gives the whole for a dashboard.

- UNKNOWN: no status file, or one that cannot be read (the builder never ran here);
- CRITICAL: no build ever succeeded, or the newest data is older than critical_age_seconds;
- WARNING: the data is older than warn_age_seconds, the last run failed (the data from the
  run before is still served), the census of the last build is incomplete, or the service
  looks stopped (its next run is long overdue);
- OK otherwise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapshots.errors import oserror_text

from .settings import BuilderSettings

STATUS_FILE = ".builder-status.json"
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


def status_path(store: Path) -> Path:
    return Path(store) / STATUS_FILE


def now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_status(store: Path, body: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a file."""
    path = status_path(store)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(body, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_status(store: Path) -> dict[str, Any]:
    return json.loads(status_path(store).read_text())


@dataclass
class Verdict:
    code: int
    summary: str
    problems: list[str] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    data_age_seconds: float | None = None

    @property
    def line(self) -> str:
        return f"BUILDER {WORDS[self.code]} - {self.summary}"

    def as_dict(self) -> dict[str, Any]:
        return {"state": WORDS[self.code], "exit_status": self.code, "summary": self.summary,
                "problems": self.problems, "data_age_seconds": self.data_age_seconds,
                **self.status}


def judge(store: Path, settings: BuilderSettings, now: datetime | None = None) -> Verdict:
    """The monitoring verdict on the builder whose store is `store`."""
    now = now or datetime.now(UTC)
    path = status_path(store)
    try:
        status = read_status(store)
    except FileNotFoundError:
        return Verdict(UNKNOWN, f"no builder status at {path} (has the builder run here?)")
    except (OSError, ValueError) as e:
        why = oserror_text(e) if isinstance(e, OSError) else "not JSON"
        return Verdict(UNKNOWN, f"{path}: cannot read the builder status ({why})")
    success = status.get("last_success") or {}
    run = status.get("last_run") or {}
    problems: list[str] = []
    age = _seconds_since(success.get("data_as_of"), now)
    if age is None:
        code = CRITICAL
        problems.append("no build has succeeded yet" + (f": {run.get('error')}"
                                                        if run.get("error") else ""))
    elif age > settings.critical_age_seconds:
        code = CRITICAL
        problems.append(f"the newest data is {age:.0f} s old (critical past "
                        f"{settings.critical_age_seconds:g} s)")
    else:
        code = OK
        if age > settings.warn_age_seconds:
            code = WARNING
            problems.append(f"the newest data is {age:.0f} s old (warning past "
                            f"{settings.warn_age_seconds:g} s)")
    if run and not run.get("ok"):
        code = max(code, WARNING)
        problems.append(f"the last run failed: {run.get('error') or 'no reason recorded'}")
    if success and success.get("census_complete") is False:
        code = max(code, WARNING)
        problems.append("the last build's census is INCOMPLETE (see `snapshot report`)")
    overdue = _seconds_since(status.get("next_run"), now)
    if overdue is not None and overdue > 3 * settings.every_seconds + 60:
        code = max(code, WARNING)
        problems.append(f"the next run was due {overdue:.0f} s ago: is the builder running?")
    summary = "; ".join(problems) if problems else \
        f"data {age:.0f} s old, last build {success.get('at')} ({success.get('kind')}), " \
        f"next run {status.get('next_run')}"
    return Verdict(code, summary, problems, status, age)


def _seconds_since(when: object, now: datetime) -> float | None:
    if not isinstance(when, str):
        return None
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (now - moment).total_seconds()
