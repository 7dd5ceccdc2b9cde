"""A cache of loaded sandbox databases, keyed by the export they were loaded from.

Loading a 1,000-inpatient hospital takes a minute or two; the benchmarks start a sandbox on
the same generated hospital every run. The database `loader.build_database` made is kept
under the cache folder (by default the user's cache folder, `~/.cache/downtime/
sandbox`, never the repository), named by a SHA-256 over every NDJSON file's name and
content, the loader's version and sekmet's: a file changed by one byte, or another version
of either, is another key. A hit is a copy of that file (the sandbox then writes to its own
copy). The newest `KEEP` databases are kept. What is cached is the sandbox's database: the
(synthetic) patients of the export, in plaintext SQLite, as the EHR's own database would be;
docs/sandbox.md says so, and where.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from importlib.metadata import version
from pathlib import Path

from .loader import export_files

LOADER_VERSION = "1"  # bump when build_database writes anything differently
KEEP = 3


def default_cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("downtime") / "sandbox"


def export_key(folder: Path) -> str:
    digest = hashlib.sha256(f"loader {LOADER_VERSION} sekmet-fhir {version('sekmet-fhir')}\n"
                            .encode())
    for path in export_files(folder):
        file_digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                file_digest.update(chunk)
        digest.update(f"{path.name} {file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()


def fetch(cache_dir: Path, key: str, db_path: Path) -> bool:
    """Copy the cached database for `key` to `db_path`; False when there is none."""
    cached = Path(cache_dir) / f"{key}.db"
    if not cached.is_file():
        return False
    partial = db_path.with_name(db_path.name + ".loading")
    shutil.copyfile(cached, partial)
    partial.replace(db_path)
    os.utime(cached)  # recently used: pruned last
    return True


def keep(cache_dir: Path, key: str, db_path: Path) -> None:
    """Put a copy of `db_path` in the cache as `key`; prune to the newest KEEP."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = cache_dir / f"{key}.db.partial"
    shutil.copyfile(db_path, partial)
    partial.chmod(0o600)  # patient data (synthetic, but the rule stands): the user's only
    partial.replace(cache_dir / f"{key}.db")
    held = sorted(cache_dir.glob("*.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in held[KEEP:]:
        old.unlink(missing_ok=True)
