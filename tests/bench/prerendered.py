"""The pre-rendered unit packet, timed from the command to the job handed to CUPS (the command
exits once `lp` has queued it: an upper bound on the first page's arrival), three ways:

- the product path: `downtime agent --prerender` running (a real process, its passphrase in
  its environment), the nurse's `downtime print packet --printer` a new process with no
  passphrase anywhere: the agent hands its packet over its socket (downtime.packet_service);
- without the agent: the command unlocks the identity itself (the scrypt KDF) and takes the
  same pre-rendered packet from the store;
- from `downtime browse`, already unlocked (what its print dialog runs).
Used by tests.bench.bench_forms, on its unit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from downtime.packet_service import socket_path
from downtime.prerender_hook import prerender_hook
from forms.delivery import PrintRequest
from forms.prerender import prerendered_folder
from forms.registry import FormRegistry
from snapshots.keys import create_identity, create_signing_key, load_identity, load_signing_key
from snapshots.publish import Recipients, publish
from snapshots.sealed import open_snapshot
from tests.bench.common import BenchRow
from tests.cups import DISCARD_QUEUE, private_cups

PASS = "bench-passphrase"
DOWNTIME = str(Path(sys.executable).parent / "downtime")
# `downtime` as its entry point runs it, timing the identity unlock inside the same process
_TIMED_CLI = """
import sys, time
import downtime.cli.print_forms as command
unlock = command.load_identity
def timed(*args, **kwargs):
    t0 = time.perf_counter()
    try:
        return unlock(*args, **kwargs)
    finally:
        print(f"UNLOCK {time.perf_counter() - t0:.4f}", file=sys.stderr)
command.load_identity = timed
from downtime.cli import main
sys.argv[0] = "downtime"
sys.exit(main())
"""


def prerendered_rows(work: Path, conn, unit: str) -> list[BenchRow]:
    site = _site(work, conn, unit)
    store = site / "store"
    config = ["--config", str(site / "downtime.toml")]
    printing = ["print", "packet", "--unit", unit, "--printer", DISCARD_QUEUE]
    with private_cups() as server:
        env = {k: v for k, v in os.environ.items() if k != "DOWNTIME_PASSPHRASE"}
        env["CUPS_SERVER"] = server
        log = (site / "agent.log").open("w")
        agent = subprocess.Popen([DOWNTIME, *config, "agent", "--prerender"], stdout=log,
                                 stderr=subprocess.STDOUT,
                                 env={**env, "DOWNTIME_PASSPHRASE": PASS})
        try:
            _wait_for(lambda: _packets(store) and socket_path(store).exists(), site)
            from_agent, done = _timed([DOWNTIME, *config, *printing], env)
            assert "(pre-rendered)" in done.stdout, done.stdout + done.stderr
            assert "passphrase" not in done.stderr.lower(), done.stderr
            _wait_for(lambda: _packets(store), site)  # the agent renders a fresh one
        finally:
            agent.terminate()
            agent.wait(60)
            log.close()
        unlocking, done = _timed([sys.executable, "-c", _TIMED_CLI, *config, *printing],
                                 {**env, "DOWNTIME_PASSPHRASE": PASS})
        assert "(pre-rendered)" in done.stdout and not _packets(store), done.stdout
        unlock = float(re.search(r"UNLOCK ([0-9.]+)", done.stderr)[1])
        in_session = _from_unlocked_session(site, unit, server)
    job = done.stdout.strip().splitlines()[-1][:30]
    return [BenchRow(f"pre-rendered packet: `downtime print packet --printer` to the job in "
                     f"CUPS, agent running ({job}...)", from_agent, "s", None, "< 1 s",
                     from_agent < 1.0),
            BenchRow("  the same without the agent: the command unlocks the identity",
                     unlocking, "s"),
            BenchRow("    of which the unlock (scrypt passphrase KDF)", unlock, "s"),
            BenchRow("  the same from `downtime browse`, already unlocked (P, packet, Enter)",
                     in_session, "s", None, "< 1 s", in_session < 1.0)]


def _site(work: Path, conn, unit: str) -> Path:
    site = work / "site"
    keys_dir = site / "keys"
    create_signing_key(keys_dir, PASS)
    ws = create_identity(keys_dir, f"ws-{unit}", PASS)
    publish(conn, site / "store", recipients=Recipients(escrow=[ws], units={unit: [ws]}),
            signing_key=load_signing_key(keys_dir / "builder.pem", PASS),
            as_of="2026-11-25T14:00:00Z", source="bench", per_unit=True)
    (site / "downtime.toml").write_text(
        f'[paths]\nstore = "store"\ninbox = "inbox"\nidentity = "keys/ws-{unit}.age"\n'
        'trusted_builder_key = "keys/builder.pub"\nregistry = "registry"\n'
        'audit_log = "audit.log"\n')
    return site


def _packets(store: Path) -> list[Path]:
    return list(prerendered_folder(store).glob("packet-*.age"))


def _timed(command: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=300)
    elapsed = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr
    return elapsed, done


def _wait_for(condition: Callable[[], object], site: Path, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError((site / "agent.log").read_text()[-2000:])
        time.sleep(0.1)


def _from_unlocked_session(site: Path, unit: str, server: str) -> float:
    """What the TUI's print dialog runs (Workstation.print_job -> run_print_job) with the session's
    snapshot open and its identity in memory: no process start, no KDF. The agent's hook
    renders a fresh packet first (the command took the last one)."""
    from forms.jobs import run_print_job

    store = site / "store"
    ident = load_identity(site / "keys" / f"ws-{unit}.age", PASS)
    trusted = load_signing_key(site / "keys" / "builder.pem", PASS).public_key()
    hook = prerender_hook(ident, trusted, store)
    hook.wait()
    hook.close()
    snapshot = open_snapshot(next(store.glob(f"unit-{unit}-*.dtsnap")), trusted, [ident])
    registry = FormRegistry(site / "registry", [ident.recipient])
    request = PrintRequest("packet", unit, printer=DISCARD_QUEUE, printed_by="bench")
    old = os.environ.get("CUPS_SERVER")
    os.environ["CUPS_SERVER"] = server
    try:
        t0 = time.perf_counter()
        result = run_print_job(snapshot, request, registry, lambda *_: None,
                               prerendered=(prerendered_folder(store), [ident.secret]),
                               identities=[ident.secret])
        elapsed = time.perf_counter() - t0
    finally:
        if old is None:
            os.environ.pop("CUPS_SERVER")
        else:
            os.environ["CUPS_SERVER"] = old
    assert result.prerendered and not _packets(store)
    return elapsed
