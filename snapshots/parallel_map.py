"""Mapping the Observation files on a second core while this one maps everything else.

Observations are half of an export and the costliest resources to map, and a build on a
2-core workstation would otherwise leave one core idle. After pass 1 (the census is known),
the build forks: the child maps the first CHILD_SHARE of the Observation NDJSON bytes (whole
lines: a plain file is cut at a line boundary) into a fresh in-memory database of the
canonical schema and hands it back whole (`Connection.serialize`, one bytes object through a
pipe: no row is pickled), with the gaps and counts it found. The parent meanwhile maps the
other files and the rest of the observations, then copies the child's rows in with
`INSERT … SELECT` in SQLite.

The child is a fork, so it shares the census, references and settings already read. Nothing it
writes touches the disk: its database is in memory and reaches the parent through a pipe. If
the child fails in any way, the parent maps those files itself: the result is the same, only
slower. Gaps the child found come after the parent's in the register (the order is the same
every time).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from .build_results import PartialMap
from .reading import Record, Source, ndjson_records, ndjson_type


class Mapper(Protocol):
    """What this module asks of the builder (snapshots.build.Builder)."""

    conn: sqlite3.Connection

    def read_clinical(self, records: Iterable[Record]) -> None: ...
    def flush(self) -> None: ...
    def diverted(self, table: str, target: str) -> AbstractContextManager[None]: ...
    def start_partial(self) -> int: ...
    def partial(self, mark: int) -> PartialMap: ...
    def absorb(self, part: PartialMap) -> None: ...


OFFLOADED_TYPE = "Observation"
OFFLOADED_TABLE = "observations"
ASIDE = "aside"  # the attached in-memory database of the parent's own observation rows
# What pass 2 writes: the only tables whose rows a child's database can add.
CLINICAL_TABLES = frozenset({"observations", "allergies", "problems", "procedures", "notes",
                             "flags", "med_orders", "administrations"})
# Of the Observation bytes, what the child maps: on the demo hospital's mix, observations take
# about 3.6 s of a 4.6 s pass 2 at 1,000 inpatients, so the child takes ~2/3 of them and the
# parent the rest plus every other file, and both finish at about the same time.
CHILD_SHARE = 0.64
# Below this much Observation data a fork costs more than it saves (and small builds, such as
# most tests', stay in one process).
MIN_BYTES = 8 << 20


def offloadable(source: Source) -> list[Path]:
    return [p for p in source.ndjson if ndjson_type(p) == OFFLOADED_TYPE]


def should_offload(paths: list[Path], workers: int | None) -> bool:
    if workers is not None:
        return workers > 1 and bool(paths)
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    return sum(_size(p) for p in paths) >= MIN_BYTES


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


Slice = tuple[Path, int, int | None]  # a file, and the byte range of the lines to read


def split(paths: list[Path], share: float = CHILD_SHARE) -> tuple[list[Slice], list[Slice]]:
    """The first `share` of the bytes of `paths` (for the child) and the rest, cut at line
    boundaries in a plain file and between files for gzipped ones."""
    total = sum(_size(p) for p in paths)
    cut, seen = int(total * share), 0
    mine: list[Slice] = []
    theirs: list[Slice] = []
    for path in paths:
        size = _size(path)
        if seen + size <= cut or (path.name.endswith(".gz") and seen < cut):
            mine.append((path, 0, None))
        elif seen >= cut:
            theirs.append((path, 0, None))
        else:
            mine.append((path, 0, cut - seen))
            theirs.append((path, cut - seen, None))
        seen += size
    return mine, theirs


def _records(source: Source, slices: list[Slice]):
    for path, start, stop in slices:
        yield from ndjson_records(path, source.on_bad, source.looks_active, start, stop)


def read_clinical(builder: Mapper, source: Source, workers: int | None = None) -> None:
    """Pass 2 over `source`, with most Observation lines mapped in a forked child when worth
    it."""
    paths = offloadable(source)
    if not should_offload(paths, workers):
        builder.read_clinical(source.rest())
        return
    builder.flush()  # the child must not inherit rows the parent will insert itself
    child_part, own_part = split(paths)
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_map_in_child, args=(builder, source, child_part, send), daemon=True)
    child.start()
    send.close()
    builder.read_clinical(source.rest(skip=set(paths)))
    with _set_aside(builder):
        builder.read_clinical(_records(source, own_part))
        builder.flush()  # while the child may still be at work
        result = _receive(receive)
        child.join()
        if result is None:  # the child failed: map its share here (before ours, as in the file)
            builder.read_clinical(_records(source, child_part))
            builder.flush()
        else:
            builder.flush()
            _copy_rows(builder.conn, result.database, CLINICAL_TABLES)
            builder.absorb(result)


@contextmanager
def _set_aside(builder: Mapper) -> Iterator[None]:
    """The parent's own observation rows go to a side table while the child works, so that
    the child's rows, which come first in the file, can be copied into the still empty table
    page by page (SQLite's transfer optimisation: no row is decoded, no index searched); the
    parent's then follow as one INSERT OR REPLACE, so a resource found in both shares ends as
    the later line, as in one process. The side table is made by CREATE TABLE AS: the same
    columns with the same affinities, without the keys and indexes it does not need."""
    conn = builder.conn
    conn.execute(f"ATTACH DATABASE ':memory:' AS {ASIDE}")
    try:
        conn.execute(f'CREATE TABLE {ASIDE}."{OFFLOADED_TABLE}" AS '
                     f'SELECT * FROM main."{OFFLOADED_TABLE}" WHERE 0')
        with builder.diverted(OFFLOADED_TABLE, f'{ASIDE}."{OFFLOADED_TABLE}"'):
            yield
        conn.execute(f'INSERT OR REPLACE INTO main."{OFFLOADED_TABLE}" '
                     f'SELECT * FROM {ASIDE}."{OFFLOADED_TABLE}"')
        conn.commit()
    finally:
        conn.rollback()  # nothing is open by now unless something above failed
        conn.execute(f"DETACH DATABASE {ASIDE}")


def _receive(receive) -> PartialMap | None:
    try:
        database = receive.recv_bytes()
        gaps, counts, counters = pickle.loads(receive.recv_bytes())
    except (EOFError, OSError, pickle.PickleError, ValueError):
        return None
    finally:
        receive.close()
    if not database:
        return None
    return PartialMap(database, gaps, counts, counters)


def _map_in_child(builder: Mapper, source: Source, slices: list[Slice], send) -> None:
    try:
        mark = builder.start_partial()  # count afresh: the parent adds these to its own
        builder.read_clinical(_records(source, slices))
        part = builder.partial(mark)
        send.send_bytes(part.database)  # one bytes object through the pipe: no row pickled
        send.send_bytes(pickle.dumps((part.gaps, part.counts, part.counters)))
    except BaseException:  # noqa: BLE001 - the parent maps these files itself instead
        send.send_bytes(b"")
    finally:
        send.close()


def _copy_rows(conn: sqlite3.Connection, database: bytes, tables: frozenset[str]
               ) -> None:
    """Every row of the child's clinical tables into the same tables here (one schema). Into
    an empty table (the observations: the parent's are set aside) a plain INSERT … SELECT is
    copied page by page; a table the parent has rows in too (a resource filed in the wrong
    NDJSON file) takes the child's rows with INSERT OR REPLACE."""
    conn.execute("ATTACH DATABASE ':memory:' AS offloaded")
    try:
        conn.deserialize(database, name="offloaded")
        for table in sorted(tables):
            empty = conn.execute(f'SELECT NOT EXISTS (SELECT 1 FROM main."{table}")'
                                 ).fetchone()[0]
            verb = "INSERT" if empty else "INSERT OR REPLACE"
            conn.execute(f'{verb} INTO main."{table}" SELECT * FROM offloaded."{table}"')
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.execute("DETACH DATABASE offloaded")
