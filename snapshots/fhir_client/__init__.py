"""The FHIR client every layer that talks HTTP uses: the builder to pull from the EHR
(REST search or Bulk Data export), reconciliation to post back into it. It lives in
`snapshots/`, the lowest layer, so both can (docs/architecture.md); it takes its settings
(snapshots.fhir_client.settings.ClientSettings) from outside, never from the config file.

Names are imported on first use: the settings are read by every command (the config), the
client's HTTP stack (httpx, tenacity: a quarter of a second) only by the ones that talk to a
server."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BulkExport": "bulk", "ExportFile": "bulk", "ExportLog": "bulk", "ExportResult": "bulk",
    "utc_instant": "bulk",
    "EntryOutcome": "client", "FhirClient": "client", "FhirTlsError": "client",
    "ExportFailed": "errors", "FhirAuthError": "errors", "FhirError": "errors",
    "FhirRefused": "errors", "FhirServerError": "errors", "FhirUnreachable": "errors",
    "NotFhir": "errors", "TruncatedDownload": "errors",
    "AuthSettings": "settings", "ClientSettings": "settings", "SourceSettingsError": "settings",
    "TlsSettings": "settings",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
