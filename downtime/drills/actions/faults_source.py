"""The faults of the source and the builder: the EHR going down in the middle of a build, a
slow EHR, the builder's disk full. Each runs the builder for real against the fault and
checks what the docs promise (docs/drills-faults.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..api import DrillContext, FaultOutcome, StepResult
from .build import builder_for, newest_house
from .sandbox import running
from .site import Site, number, site_of, why


def _store_state(folder: Path) -> dict[str, int]:
    """Every snapshot file of a folder (hidden part files too) and its size."""
    if not folder.is_dir():
        return {}
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()
            and ".dtsnap" in p.name}


def _verify_all(site: Site, folder: Path) -> list[str]:
    from snapshots.sealed import SnapshotError, verify
    from snapshots.store import list_snapshots

    problems = []
    found, unreadable = list_snapshots(folder)
    problems += [f"{p.name}: {w}" for p, w in unreadable]
    for snap in found:
        try:
            verify(snap.path, site.trusted)
        except SnapshotError as e:
            problems.append(str(e))
    return problems


def outcome(fault: str, expected: str, actual: str, handled: bool,
            figures: dict[str, float] | None = None) -> StepResult:
    return StepResult(outcome="ok" if handled else "failed",
                      detail=f"{fault}: {'handled' if handled else 'NOT HANDLED'}: {actual}",
                      figures=figures or {},
                      faults=[FaultOutcome(fault, expected, actual, handled)])


SOURCE_DOWN = ("the build fails in one line naming the unreachable server; the previous "
               "snapshot stays in force: the builder's store and the share are unchanged")


def source_down(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """The sandbox stopped while a full build's Bulk export is running."""
    site, sandbox = site_of(ctx), running(ctx)
    before_house = newest_house(site)
    before = (_store_state(site.store), _store_state(site.share))
    after_seconds = number(params, "after_seconds", 0.3, least=0)
    # the export's status answers held back a second, so the build is surely mid-way
    sandbox.set_fault("slow", seconds=1.0, match="bulk-status", times=1)
    builder = builder_for(ctx, {"retries": 1, "timeout_seconds": 5, **params})
    done: list[Any] = []
    run = threading.Thread(target=lambda: done.append(builder.run_once(full=True)))
    run.start()
    time.sleep(after_seconds)
    sandbox.down()
    run.join(timeout=120)
    sandbox.clear_faults()  # the source comes back (clear starts a down server again)
    error = (builder.status.get("last_run") or {}).get("error") or ""
    after_house = newest_house(site)
    unchanged = before == (_store_state(site.store), _store_state(site.share))
    same = (before_house.manifest.snapshot_id if before_house else None) == \
        (after_house.manifest.snapshot_id if after_house else None)
    failed_cleanly = bool(done) and done[0] is None and "\n" not in error and bool(error)
    if not done or done[0] is not None:
        actual = "the build finished anyway: the source did not go down while it ran"
    else:
        actual = f"build failed: {error}; " + (
            "store and share unchanged, the previous snapshot in force" if unchanged and same
            else "the store or the share changed")
    return outcome("source-down", SOURCE_DOWN, actual, failed_cleanly and unchanged and same)


def slow_source(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """Every answer of the sandbox `seconds` late (default 0.3); with `seconds` past the
    client's `timeout_seconds` (default 10) the build must fail cleanly instead."""
    site, sandbox = site_of(ctx), running(ctx)
    seconds = number(params, "seconds", 0.3, least=0.01)
    timeout = number(params, "timeout_seconds", 10, least=0.1)
    before_house = newest_house(site)
    sandbox.set_fault("slow", seconds=seconds)
    builder = builder_for(ctx, {"retries": 0, "timeout_seconds": timeout})
    started = time.perf_counter()
    try:
        result = builder.run_once(full=True)
    finally:
        sandbox.clear_faults("slow")
    took = round(time.perf_counter() - started, 2)
    figures = {"slow_build_seconds": took}
    if seconds < timeout:
        expected = (f"answers {seconds:g} s late are waited for (the client's timeout is "
                    f"{timeout:g} s): the build completes, later, with its snapshot")
        ok = result is not None and took >= seconds
        actual = f"built in {took:.1f} s" if result is not None else \
            f"the build failed: {builder.status['last_run']['error']}"
        return outcome("slow-source", expected, actual, ok, figures)
    expected = (f"answers {seconds:g} s late are past the client's timeout ({timeout:g} s): "
                "the build fails in one line saying so; the previous snapshot stays")
    after_house = newest_house(site)
    same = (before_house and before_house.manifest.snapshot_id) == \
        (after_house and after_house.manifest.snapshot_id)
    error = (builder.status.get("last_run") or {}).get("error") or ""
    ok = result is None and "timed out" in error and same
    actual = f"the build failed: {error}" if result is None else "the build completed anyway"
    return outcome("slow-source", expected, actual, ok, figures)


DISK_FULL = ("the build fails in one line (no space left on the device); the snapshots "
             "already in the store stay whole and verify; no part file is left behind")


def _small_filesystem(mount: Path, size_kb: int) -> str:
    """A size-limited tmpfs at `mount` (root only); '' when made, else why not."""
    mount.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "not root: no filesystem can be mounted here"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700",
                           "tmpfs", str(mount)], capture_output=True, text=True, timeout=30)
    return "" if done.returncode == 0 else (done.stderr.strip() or "mount failed")


def _fill(folder: Path) -> None:
    """Take what space is left, in chunks, until the filesystem says it is full."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def disk_full(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """A builder store on a small, full filesystem (a tmpfs the drill mounts)."""
    site = site_of(ctx)
    mount = ctx.workdir / "full-disk"
    source = site.store
    size = sum(p.stat().st_size for p in source.glob("*.dtsnap")) if source.is_dir() else 0
    problem = _small_filesystem(mount, max(256, size // 1024 + 256))
    if problem:
        return outcome("disk-full", DISK_FULL, f"could not make a small filesystem: {problem}",
                       False)
    try:
        for path in source.glob("*.dtsnap"):
            shutil.copy2(path, mount / path.name)
        _fill(mount)
        before = _store_state(mount)
        builder = builder_for(ctx, params)
        builder.store = mount
        result = builder.run_once(full=True)
        error = (builder.status.get("last_run") or {}).get("error") or ""
        (mount / "filler").unlink()
        after = _store_state(mount)
        left = sorted(set(after) - set(before))
        problems = _verify_all(site, mount)
        ok = result is None and "space" in error.lower() and not left and not problems \
            and before == after
        actual = (f"the build failed: {error}" if result is None else "the build completed")
        if left:
            actual += f"; left behind: {', '.join(left)}"
        if problems:
            actual += f"; the store's snapshots damaged: {problems[0]}"
        if result is None and not left and not problems:
            actual += "; the store's snapshots intact"
        return outcome("disk-full", DISK_FULL, actual, ok)
    except OSError as e:
        return outcome("disk-full", DISK_FULL, f"the drill could not set it up: {why(e)}",
                       False)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=30)
