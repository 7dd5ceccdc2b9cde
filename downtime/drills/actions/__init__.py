"""The drill actions (docs/drills-faults.md names every figure and shared key): importing this
package registers each one's ActionSpec (downtime/drills/api.py).

    sandbox         sandbox.py    the EHR stand-in: up, down, fault, clear
    build, publish  build.py      snapshots from the sandbox; into the share and the inboxes
    install-agents, readiness     agents.py
    print-packets   printing.py   to the drill's own cupsd
    simulate-paper  paper.py      the outage's paper as back-entry records, errors seeded
    scan            scan.py       the printed pages scanned into a reconciliation episode
    back-entry, decide, submit    reconcile.py
    parity          parity.py     the migration parity check, legacy sandbox against a target
    fault           faults.py     the faults of the drills, each with its expected handling

`finish(ctx)` stops what the actions started (the sandbox, the drill's cupsd) and removes
what a drill leaves in plaintext on purpose while it runs; the runner calls it at the end.
"""

from __future__ import annotations

from ..api import DrillContext

# faults imports every action that has faults before it lets their steps name one
from . import agents, build, faults, paper, parity, printing, reconcile, sandbox, scan

__all__ = ["agents", "build", "faults", "finish", "paper", "parity", "printing", "reconcile",
           "sandbox", "scan"]


def finish(ctx: DrillContext) -> None:
    """Stop the sandbox and the drill's cupsd (each once; safe to call twice)."""
    try:
        sandbox.stop(ctx)
    finally:
        printing.stop_cups(ctx)
