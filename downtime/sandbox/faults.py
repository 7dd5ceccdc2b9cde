"""The faults the sandbox can be told to show, for tests and drills (docs/sandbox.md).

| kind | what the client meets |
| --- | --- |
| `down` | the server stopped: connections refused (for `seconds`, or until cleared) |
| `slow` | every affected request answered `seconds` late |
| `5xx` | an affected request answered `status` (503 by default) with a transient OperationOutcome |
| `429` | an affected request answered 429 Too Many Requests with `Retry-After: retry_after` |
| `truncate` | an export file served short (`keep` of its bytes): see below |

`truncate` has three modes: `cut` ends the file in the middle of a line, `lines` at a line
boundary (only the manifest's `count` tells), `drop` breaks the connection off before the
Content-Length promised has come.

Each fault may be narrowed to requests whose path holds `match` (`bulk-status`, `/Patient`,
`$export`, `/auth/token`), to a `share` of them, and to the next `times` of them (then it
clears itself). The share is deterministic, not random: with share p, the k-th matching
request is affected when floor(k p) > floor((k - 1) p), so 0.5 hits every second one and
1 all of them; a test can say which request fails. Faults of different kinds add up (slow and
5xx at once); setting a kind again replaces it.

This module holds the state and the rules only; layer.py applies them to requests,
server.py stops and starts the listener for `down`, admin.py and the CLI set them.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from .errors import SandboxError

KINDS = ("down", "slow", "5xx", "429", "truncate")
TRUNCATE_MODES = ("cut", "lines", "drop")
# the parameters each kind takes, beyond match/share/times (down takes only seconds)
_PARAMS = {"down": {"seconds"}, "slow": {"seconds"}, "5xx": {"status", "retry_after"},
           "429": {"retry_after"}, "truncate": {"keep", "mode"}}
_NARROWING = {"match", "share", "times"}


@dataclass
class Fault:
    kind: str
    seconds: float = 0.0  # slow: the delay; down: how long (0: until cleared)
    status: int = 503  # 5xx
    retry_after: int | None = None  # 429 (default 2) and optionally 5xx: seconds
    keep: float = 0.5  # truncate: the share of the file's bytes served
    mode: str = "cut"  # truncate: cut | lines | drop
    match: str = ""  # only requests whose path holds this
    share: float = 1.0  # of the matching requests, deterministic (see the docstring)
    times: int = 0  # affect this many requests, then clear (0: until cleared)
    seen: int = 0  # matching requests so far
    hits: int = 0  # requests affected so far
    since: float = 0.0  # time.time() when set

    def describe(self) -> dict[str, Any]:
        body = {k: v for k, v in asdict(self).items() if k in _PARAMS[self.kind] |
                _NARROWING | {"kind", "hits"} and v not in (None, "")}
        if self.kind == "down":
            body = {"kind": "down", "seconds": self.seconds}
        return body


def make_fault(kind: str, params: dict[str, Any] | None = None) -> Fault:
    """A checked Fault, or SandboxError in one line saying what is wrong."""
    params = {k: v for k, v in (params or {}).items() if v is not None}
    if kind not in KINDS:
        raise SandboxError(f"unknown fault {kind!r}: one of {', '.join(KINDS)} (or clear)")
    allowed = _PARAMS[kind] | (_NARROWING if kind != "down" else set())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise SandboxError(f"fault {kind} takes no {', '.join(unknown)} (it takes "
                           f"{', '.join(sorted(allowed))})")
    fault = Fault(kind, since=time.time())
    for name, value in params.items():
        setattr(fault, name, _checked(kind, name, value))
    if kind == "slow" and not fault.seconds:
        raise SandboxError("fault slow needs seconds > 0 (the delay of each answer)")
    if kind == "429" and fault.retry_after is None:
        fault.retry_after = 2
    return fault


def _checked(kind: str, name: str, value: Any) -> Any:
    def number(low: float, high: float, whole: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                (whole and not float(value).is_integer()):
            raise SandboxError(f"fault {kind}: {name} must be a {'whole ' if whole else ''}"
                               f"number, not {value!r:.30}")
        if not low <= value <= high:
            raise SandboxError(f"fault {kind}: {name} must be from {low:g} to {high:g}, "
                               f"not {value:g}")
        return int(value) if whole else float(value)

    if name == "seconds":
        return number(0, 3600)
    if name == "status":
        return number(500, 599, whole=True)
    if name == "retry_after":
        return number(0, 3600, whole=True)
    if name == "keep":
        return number(0, 0.99)
    if name == "share":
        if number(0, 1) == 0:
            raise SandboxError(f"fault {kind}: share must be above 0 (clear the fault instead)")
        return float(value)
    if name == "times":
        return number(0, 1_000_000, whole=True)
    if name == "mode":
        if value not in TRUNCATE_MODES:
            raise SandboxError(f"fault truncate: mode must be one of {', '.join(TRUNCATE_MODES)},"
                               f" not {value!r:.30}")
        return value
    if name == "match":
        if not isinstance(value, str):
            raise SandboxError(f"fault {kind}: match must be text, not {value!r:.30}")
        return value
    raise SandboxError(f"fault {kind} takes no {name}")  # unreachable: checked by the caller


class FaultSet:
    """The faults in force, shared by the request layer (the server's event loop) and the
    admin endpoint (another thread)."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()

    def set(self, fault: Fault) -> None:
        with self._lock:
            self._faults[fault.kind] = fault

    def clear(self, kind: str | None = None) -> list[str]:
        """Clear one kind, or all; the kinds cleared."""
        if kind is not None and kind not in KINDS:
            raise SandboxError(f"unknown fault {kind!r}: one of {', '.join(KINDS)}")
        with self._lock:
            kinds = [kind] if kind is not None else list(self._faults)
            return [k for k in kinds if self._faults.pop(k, None) is not None]

    def get(self, kind: str) -> Fault | None:
        with self._lock:
            return self._faults.get(kind)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.describe() for f in self._faults.values()]

    def take(self, kind: str, path: str) -> Fault | None:
        """The fault of `kind` if it affects this request (and count it), else None."""
        with self._lock:
            fault = self._faults.get(kind)
            if fault is None or (fault.match and fault.match not in path):
                return None
            fault.seen += 1
            k, p = fault.seen, fault.share
            if math.floor(k * p + 1e-9) <= math.floor((k - 1) * p + 1e-9):
                return None
            fault.hits += 1
            if fault.times and fault.hits >= fault.times:
                del self._faults[kind]  # this was the last one it was set for
            return fault
