"""Helpers for the reconcile tests: an episode on in-memory keys, registry records, and
pages as the scan side hands them (built by hand where no scan is needed)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyrage

from forms.qr import QrPayload
from reconcile.episode import Episode, Window, open_episode
from reconcile.scan_input import ScannedPage

START = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
END = START + timedelta(hours=10)


# pages are what the scan side hands filing; a code's payload is the forms' own
Payload = QrPayload


def page(source: str, payload: Payload | None, index: int = 1, count: int = 1,
         data: bytes | None = None, qr_text: str | None = None) -> ScannedPage:
    data = data if data is not None else f"{source}-{index}-image".encode()
    text = qr_text if qr_text is not None else (payload.text() if payload else None)
    return ScannedPage(source, hashlib.sha256(source.encode()).hexdigest(), index, count, data,
                       "image/png", text, payload, rotation=0)


def record(form_id: str, kind: str = "mar", patient: str = "p1", encounter: str = "e1",
           unit: str = "4W", event: str = "printed", at: datetime | None = None,
           pages: int = 2) -> dict[str, Any]:
    return {"form_id": form_id, "kind": kind, "patient_id": patient, "encounter_id": encounter,
            "unit": unit, "snapshot_id": "S1", "event": event,
            "at": (at or START + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "by": "rn", "detail": "", "pages": pages}


def new_episode(folder: Path, units=("4W",), end: datetime | None = END
                ) -> tuple[Episode, pyrage.x25519.Identity]:
    ident = pyrage.x25519.Identity.generate()
    ep = open_episode(folder, Window(START, end), list(units), [str(ident.to_public())],
                      [ident], "clerk@him-1")
    return ep, ident
