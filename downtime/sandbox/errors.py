"""What `downtime sandbox` tells a user when it cannot do what was asked (one line each)."""

from __future__ import annotations

from snapshots.errors import ToolkitError

EXTRA_HINT = "pip install 'downtime-toolkit[sandbox]'"


class SandboxError(ToolkitError):
    """The sandbox cannot start, load, or take a fault as asked."""

    reason = "sandbox"


class SandboxMissing(SandboxError):
    """The `[sandbox]` extra (sekmet-fhir, uvicorn) is not installed: a workstation install."""

    reason = "sandbox-missing"

    def __init__(self, missing: str) -> None:
        super().__init__(f"downtime sandbox needs the [sandbox] extra ({missing} is not "
                         f"installed): {EXTRA_HINT}")


class LoadError(SandboxError):
    """A folder given to load is not a Bulk Data NDJSON export (or one line of it is bad)."""

    reason = "sandbox-load"
