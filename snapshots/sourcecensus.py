"""The source census: every active inpatient encounter the source holds (in the order read),
whether or not it made it into the snapshot. The build report compares it with the census."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator


class SourceCensus:
    """Encounter keys in the order read, answering `in` from a counter: the build asks for
    every encounter it reads, and a list would make that quadratic in the census size."""

    def __init__(self, keys: Iterable[str] = ()):
        self._keys: list[str] = []
        self._count: Counter[str] = Counter()
        for key in keys:
            self.append(key)

    def append(self, key: str) -> None:
        self._keys.append(key)
        self._count[key] += 1

    def add(self, key: str) -> None:
        """Append the key unless it is there already."""
        if not self._count[key]:
            self.append(key)

    def remove(self, key: str) -> None:
        """Remove the first occurrence (ValueError if there is none), as list.remove does."""
        self._keys.remove(key)
        self._count[key] -= 1

    def __contains__(self, key: object) -> bool:
        return self._count.get(key, 0) > 0

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)
