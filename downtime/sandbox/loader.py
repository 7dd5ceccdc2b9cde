"""Loading a hospital into the sandbox: a folder of Bulk Data NDJSON (as `downtime generate`
writes it) into sekmet's SQLite store, with the ids the files give.

sekmet has no `$import` and no NDJSON loader, and over HTTP it takes about 600 resources/s.
Two ways in, both through sekmet's own schema and search indexer, each all or nothing:

- `build_database`: a new database file, before sekmet opens it. The rows sekmet's
  `Store.update` would write for a new resource (`resources`, `versions`, and the search
  index made by sekmet's own `indexer.extract`), inserted in batches with the index's seven
  B-tree indexes dropped and made again at the end, without a journal (the file is built
  aside and renamed into place only when complete). About twice as fast as the next.
- `load_into_store`: into a running sandbox that may hold data already: sekmet's
  `Store.update` per resource, in one transaction (a PUT of each: a new version where the id
  exists).

Both run `ANALYZE` at the end: without the planner's statistics SQLite picks the wrong index
for `_include` lookups, ~13 ms per included resource on 50,000 resources (the evaluation's
bug 3). tests/test_sandbox_load.py checks that the first writes the same rows as the second.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from snapshots.errors import oserror_text

from .errors import LoadError

BATCH = 5000  # resources per executemany: big enough to amortise, small enough to hold


@dataclass
class LoadResult:
    source: Path
    resources: dict[str, int] = field(default_factory=dict)  # type -> count
    seconds: float = 0.0
    cached: bool = False  # the database came from the load cache (cache.py)
    # (where, why) of the resources a FHIR server would refuse to store (an id that is not a
    # FHIR id): left out, as the EHR would never have held them, and said
    left_out: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.resources.values())


def export_files(folder: Path) -> list[Path]:
    """The NDJSON files of a Bulk Data export folder, or LoadError saying why it is not one."""
    folder = Path(folder)
    if not folder.exists():
        raise LoadError(f"{folder}: no such folder (--load takes a folder of NDJSON files, "
                        "as `downtime generate` writes)")
    if not folder.is_dir():
        raise LoadError(f"{folder}: not a folder (--load takes a folder of NDJSON files, as "
                        "`downtime generate` writes)")
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.name.endswith((".ndjson", ".ndjson.gz")))
    except OSError as e:
        raise LoadError(oserror_text(e, "cannot list the folder", folder)) from None
    if not files:
        raise LoadError(f"{folder}: not a Bulk Data export (no .ndjson or .ndjson.gz files)")
    return files


def read_export(folder: Path, left_out: list[tuple[str, str]] | None = None
                ) -> Iterator[tuple[str, dict]]:
    """(where, resource) for every line of the export, each checked: a JSON object of an R4
    resource type, no (type, id) twice. The first bad line is a LoadError naming the file and
    line; the caller's transaction then keeps nothing. A resource whose id is not a FHIR id
    (the demo hospital's own mess: a real server refuses it on create) is left out and put in
    `left_out` with where and why; without that list it is a LoadError too."""
    from sekmet.fhir.common import ID_RE, R4_RESOURCE_TYPES

    seen: set[tuple[str, str]] = set()
    count = 0
    for path in export_files(folder):
        opener = gzip.open if path.name.endswith(".gz") else open
        try:
            with opener(path, "rb") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    where = f"{path}:{n}"
                    try:
                        resource = _resource(line, where, R4_RESOURCE_TYPES, ID_RE)
                    except BadId as e:
                        if left_out is None:
                            raise
                        left_out.append((where, str(e).split(": ", 1)[1]))
                        continue
                    key = (resource["resourceType"], resource["id"])
                    if key in seen:
                        raise LoadError(f"{where}: {key[0]}/{key[1]} appears twice in the export")
                    seen.add(key)
                    count += 1
                    yield where, resource
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            error = e if isinstance(e, OSError) else OSError(str(e))
            raise LoadError(oserror_text(error, "cannot read", path)) from None
    if not count:
        raise LoadError(f"{folder}: the export holds no resources (its NDJSON files are empty)")


class BadId(LoadError):
    """A resource a FHIR server would not store under its id."""


def _resource(line: bytes, where: str, types: object, id_re: re.Pattern) -> dict:
    try:
        resource = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise LoadError(f"{where}: not JSON (a Bulk Data export has one resource per "
                        "line)") from None
    if not isinstance(resource, dict):
        raise LoadError(f"{where}: not a FHIR resource (a JSON {type(resource).__name__})")
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if not isinstance(rtype, str) or rtype not in types:  # type: ignore[operator]
        raise LoadError(f"{where}: resourceType {rtype!r:.40} is not an R4 resource type")
    if not isinstance(rid, str) or not id_re.match(rid):
        raise BadId(f"{where}: {rtype} has no id, or one that is not a FHIR id "
                    f"({rid!r:.70}): the sandbox keeps the export's ids")
    return resource


# --- a new database, before sekmet opens it ---------------------------------------------------

def build_database(db_path: Path, folder: Path) -> LoadResult:
    """Write `db_path` (which must not exist) holding the export, as sekmet would have."""
    from sekmet.fhir.common import instant
    from sekmet.fhir.indexer import extract
    from sekmet.fhir.store import SCHEMA

    started = time.perf_counter()
    result = LoadResult(Path(folder))
    partial = db_path.with_name(db_path.name + ".loading")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.executescript(SCHEMA)
        # a file built aside and renamed when complete needs no journal; a big cache keeps
        # the index builds in memory
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # KiB: 256 MiB
        conn.execute("PRAGMA temp_store=MEMORY")
        indexes = _index_statements(SCHEMA)
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        when, seq = instant(), 0
        rows: list[tuple] = []
        index_rows: list[tuple] = []
        for _where, resource in read_export(folder, result.left_out):
            rtype, rid = resource["resourceType"], resource["id"]
            meta = dict(resource.get("meta") or {})
            meta["versionId"], meta["lastUpdated"] = "1", when
            resource["meta"] = meta
            seq += 1
            # sekmet's own serialisation (Store._write), so a read answers the same bytes
            rows.append((rtype, rid, when, json.dumps(resource, separators=(",", ":")), seq))
            index_rows.extend((rtype, rid, r.param, r.s, r.sys, r.code, r.rtype, r.rid, r.lo,
                               r.hi, r.num) for r in extract(resource))
            result.resources[rtype] = result.resources.get(rtype, 0) + 1
            if len(rows) >= BATCH:
                _insert(conn, rows, index_rows)
        _insert(conn, rows, index_rows)
        for _, statement in indexes:
            conn.execute(statement)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")
    except BaseException:
        conn.close()
        partial.unlink(missing_ok=True)
        raise
    conn.close()
    partial.replace(db_path)
    result.resources = dict(sorted(result.resources.items()))
    result.seconds = time.perf_counter() - started
    return result


def _index_statements(schema: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of sekmet's indexes on its search index table."""
    return [(m.group(1), m.group(0).rstrip(";")) for m in re.finditer(
        r"CREATE INDEX IF NOT EXISTS (\w+) ON idx\([^)]*\);", schema)]


def _insert(conn: sqlite3.Connection, rows: list[tuple], index_rows: list[tuple]) -> None:
    conn.executemany("INSERT INTO resources(type,id,version,last_updated,deleted,origin,json,"
                     "seq) VALUES (?,?,1,?,0,'internal',?,?)", rows)
    conn.executemany("INSERT INTO versions(type,id,version,last_updated,deleted,method,json,"
                     "seq) VALUES (?,?,1,?,0,'PUT',?,?)", rows)
    conn.executemany("INSERT INTO idx(type,id,param,s,sys,code,rtype,rid,lo,hi,num) VALUES "
                     "(?,?,?,?,?,?,?,?,?,?,?)", index_rows)
    rows.clear()
    index_rows.clear()


# --- into a running sandbox -------------------------------------------------------------------

def load_into_store(store: object, folder: Path) -> LoadResult:
    """PUT every resource of the export through sekmet's Store, in one transaction."""
    started = time.perf_counter()
    result = LoadResult(Path(folder))
    with store.transaction():  # type: ignore[attr-defined]
        for n, (_where, resource) in enumerate(read_export(folder, result.left_out), 1):
            store.update(resource, origin="internal")  # type: ignore[attr-defined]
            rtype = resource["resourceType"]
            result.resources[rtype] = result.resources.get(rtype, 0) + 1
            if n % 1000 == 0:
                # the Store keeps every write's event until the commit, for its listeners
                # (subscriptions): a load is not a change to notify, and 200,000 of them
                # would hold the whole hospital in memory twice
                store._pending.clear()  # type: ignore[attr-defined]
        store._pending.clear()  # type: ignore[attr-defined]
    analyze(store)
    result.resources = dict(sorted(result.resources.items()))
    result.seconds = time.perf_counter() - started
    return result


def analyze(store: object) -> None:
    """The planner's statistics (see the module's docstring)."""
    with store.lock:  # type: ignore[attr-defined]
        store.conn.execute("ANALYZE")  # type: ignore[attr-defined]
