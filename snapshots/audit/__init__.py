"""The tamper-evident audit log (docs/audit-log.md): the writer every package appends with
(`AuditLog`), its check (`verify`) and its FHIR export (`export_fhir`).

It lives in `snapshots/`, the lowest layer, because the workstation (browse, print), the
forms and reconciliation (`submit` entries) all write to it (docs/architecture.md)."""

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
from .verify import VerifyResult, entry_problem, read_entries, verify

__all__ = ["ACTIONS", "GENESIS", "AuditError", "AuditItem", "AuditLog", "ExportResult",
           "VerifyResult", "audit_event", "default_audit_log", "entry_hash", "entry_problem",
           "export_fhir", "head_path", "read_entries", "verify"]
