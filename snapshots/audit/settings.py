"""[audit]: who appends a workstation's audit entries (docs/audit-log.md, docs/configuration.md).
Beside the audit code, which every layer uses; parsed and checked in downtime/config.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AuditSettings:
    """[audit]: who appends the workstation's audit entries (docs/audit-log.md). "local":
    browse and print append to paths.audit_log themselves (single-user: a plain chain only);
    "agent": they hand them to the agent's audit writer, which signs them, keeps the log as
    its own OS user and copies its signed heads to `anchors`; while it cannot be reached they
    go to the browsing user's `spool`, marked unauthenticated, until it takes them."""

    writer: str = "local"
    socket_dir: Path | None = None  # None: the user's own runtime folder (as packets)
    group: str | None = None  # OS group whose members may hand entries to the writer
    key: Path | None = None  # None: audit-key.pem beside paths.audit_log
    anchors: Path | None = None  # a folder off the workstation (the share the builder reads)
    anchor_seconds: float = 60
    spool: Path | None = None  # None: the browsing user's state folder

    def key_path(self, audit_log: Path) -> Path:
        return self.key if self.key is not None else Path(audit_log).parent / "audit-key.pem"
