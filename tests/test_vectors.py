"""Every snapshot test vector is accepted or refused exactly as its .expect file says: the
committed set in tests/vectors/, and a set freshly written by the generation code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyrage
import pytest

from snapshots.keys import Identity, load_public_key
from snapshots.sealed import SnapshotError, open_snapshot
from tests.vectors import CASES, SUFFIX, VECTORS, write_vectors


def outcome(folder: Path, name: str) -> str:
    trusted = load_public_key(folder / "builder.pub")
    identity = Identity("unit", pyrage.x25519.Identity.from_str(
        (folder / "recipient.key").read_text().strip()))
    replay, _, seen = (folder / "newer-than").read_text().strip().partition(" ")
    newer = int(seen) if name == replay else None
    try:
        open_snapshot(folder / f"{name}{SUFFIX}", trusted, [identity], newer_than=newer).close()
    except SnapshotError as e:
        return e.reason
    return "ok"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vectors")
    write_vectors(out)
    return out


def test_every_failure_class_has_a_vector():
    assert {expect for expect, _ in CASES.values()} >= {
        "ok", "bad-signature", "tampered", "truncated", "unknown-signer", "replayed",
        "not-a-snapshot", "not-a-recipient"}


def test_committed_set_is_complete_and_documented():
    names = {p.name.removesuffix(SUFFIX) for p in VECTORS.glob(f"*{SUFFIX}")}
    assert names == set(CASES)
    readme = (VECTORS / "README.md").read_text()
    for name in CASES:
        assert f"`{name}{SUFFIX}`" in readme
        assert (VECTORS / f"{name}.expect").read_text().strip() == CASES[name][0]


def test_committed_files_are_not_ignored_by_git():
    files = [str(p) for p in VECTORS.iterdir()]
    ignored = subprocess.run(["git", "check-ignore", *files], capture_output=True, text=True,
                             cwd=VECTORS).stdout.split()
    assert not ignored, f"ignored by .gitignore, so never committed: {ignored}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_committed_vector(name):
    assert outcome(VECTORS, name) == (VECTORS / f"{name}.expect").read_text().strip()


@pytest.mark.parametrize("name", sorted(CASES))
def test_regenerated_vector(fresh, name):
    assert outcome(fresh, name) == CASES[name][0]
