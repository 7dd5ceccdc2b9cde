"""Reconciliation after recovery: the downtime episode and its journal, the scanned paper
indexed by its QR form ids, back-entry, conflict checks against what the EHR holds now, and
FHIR transaction Bundles with Provenance submitted to it (../shared/PRODUCT.md).

A library: it may use `forms` (the registry of issued forms) and `snapshots` (the canonical
model, the FHIR client, the audit log), never `downtime` or Textual (docs/architecture.md).
"""
