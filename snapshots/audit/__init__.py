"""The tamper-evident audit log (docs/audit-log.md): the writer every package appends with
(`AuditLog`, signing with an `AuditSigner` when it is the agent's audit writer), its check
(`verify`, which says what holds: anchored, keyed or plain chain only), the anchors copied
off the workstation (`write_anchor`, `read_anchors`) and its FHIR export (`export_fhir`).

It lives in `snapshots/`, the lowest layer, because the workstation (browse, print), the
forms and reconciliation (`submit` entries, collecting the anchors) all use it
(docs/architecture.md)."""

from .anchors import Anchor, AnchorReading, folder_for, parse_anchor, read_anchors, write_anchor
from .fhir import ExportResult, audit_event, export_fhir
from .log import (
    ACTIONS,
    GENESIS,
    AuditError,
    AuditItem,
    AuditLog,
    default_audit_log,
    entry_hash,
    head_path,
)
from .signing import (
    AuditKeyError,
    AuditSigner,
    load_audit_public_key,
    load_or_create_key,
    public_key_path,
)
from .verify import Assurance, VerifyResult, entry_problem, read_entries, verify

__all__ = ["ACTIONS", "GENESIS", "Anchor", "AnchorReading", "Assurance", "AuditError",
           "AuditItem", "AuditKeyError", "AuditLog", "AuditSigner", "ExportResult",
           "VerifyResult", "audit_event", "default_audit_log", "entry_hash", "entry_problem",
           "export_fhir", "folder_for", "head_path", "load_audit_public_key",
           "load_or_create_key", "parse_anchor", "public_key_path", "read_anchors",
           "read_entries", "verify",
           "write_anchor"]
