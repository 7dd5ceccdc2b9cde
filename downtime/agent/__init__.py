"""The workstation agent: receive snapshot files from an inbox, verify them against the pinned
builder key, install them atomically into the store, prune old ones, report readiness.

    process_inbox(inbox, store, trusted_key)   one pass (what `downtime agent --once` does)
    run_agent(inbox, store, trusted_key)       watch the inbox with watchdog until stopped
    status(store, stale_minutes)               the every-shift readiness report
"""

from snapshots.pruning import prune

from .installer import InstallResult, install_file, process_inbox
from .status import ScopeStatus, Setup, StatusReport, check_setup, status
from .watcher import run_agent

__all__ = ["InstallResult", "ScopeStatus", "Setup", "StatusReport", "check_setup",
           "install_file", "process_inbox", "prune", "run_agent", "status"]
