"""Where a key of a drill script is, as a line of its TOML source.

tomllib gives values, not positions, and a refused script must say the line of each
problem. The script's tables are few and plain (`[steady_state]`, `[[phases]]`,
`[[phases.steps]]`, `[[criteria]]`, `[[rollback_paths]]`...), so the line of a value is found
from its path of keys (`("phases", 1, "steps", 0, "action")`): the n-th `[[phases]]` header,
within it the m-th `[[phases.steps]]`, within that the line `action = ...`. A value the
source writes inline (`steps = [{...}]`) is given the line of the nearest key that holds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")


@dataclass(frozen=True)
class _Header:
    index: int  # 0-based line
    name: str  # dotted, without quotes or spaces
    array: bool


class Lines:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: list[_Header] = []
        for i, line in enumerate(self.lines):
            m = _HEADER.match(line)
            if m:
                name = re.sub(r"[\s\"']", "", m.group(2))
                self.headers.append(_Header(i, name, m.group(1) == "[["))

    def of(self, path: tuple[str | int, ...]) -> int:
        """The 1-based line of the value at `path` (the best line there is for it)."""
        start, end, table, best = 0, len(self.lines), "", 1
        i = 0
        while i < len(path):
            key = path[i]
            if isinstance(key, int):  # handled with the key before it
                i += 1
                continue
            name = f"{table}.{key}" if table else key
            nxt = path[i + 1] if i + 1 < len(path) else None
            header = self._header(name, start, end, nxt if isinstance(nxt, int) else 0,
                                  array=isinstance(nxt, int))
            if header is None:
                line = self._key(key, start, end)
                return line if line is not None else best
            start, end, table = header.index, self._end(header), name
            best = header.index + 1
            i += 1
        return best

    def _header(self, name: str, start: int, end: int, nth: int, *,
                array: bool) -> _Header | None:
        found = [h for h in self.headers
                 if start <= h.index < end and h.name == name and h.array == array]
        return found[nth] if nth < len(found) else None

    def _end(self, header: _Header) -> int:
        """The line after the table begun at `header` (its own keys and its sub-tables)."""
        for h in self.headers:
            if h.index > header.index and not h.name.startswith(header.name + "."):
                return h.index
        return len(self.lines)

    def _key(self, key: str, start: int, end: int) -> int | None:
        """The line of `key = ...` among the table's own keys (before its first sub-table)."""
        own_end = next((h.index for h in self.headers if start < h.index < end), end)
        first = start + 1 if any(h.index == start for h in self.headers) else start
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(first, own_end):
            if pattern.match(self.lines[i]):
                return i + 1
        return None
