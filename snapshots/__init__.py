"""Snapshots: FHIR ingest, the canonical store, and sealed encrypted snapshot files."""
