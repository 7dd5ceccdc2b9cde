"""The two sides of a parity check, each read through the snapshot builder into the
canonical model, in memory: a folder or file of FHIR (as `snapshot build` reads it) or a FHIR
server (pulled as `snapshot build --source URL` pulls, through snapshots.pull). Nothing of
either is written to disk.

Beside the built database, a side keeps what only the builder saw: every Patient resource
of the source by MRN (a duplicated chart has no open encounter, so it is not in the census),
and which charts were merged into others."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..build import Builder
from ..fhir_client import ClientSettings
from ..pipeline import build_database
from ..reading import Source
from ..settings import BuildSettings


@dataclass(frozen=True)
class ParitySource:
    """One side: `path` (folder or file) or `server` (a FHIR base URL and how to reach it)."""

    label: str  # "legacy" or "target"
    path: Path | None = None
    server: ClientSettings | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.server is None):
            raise ValueError("a parity source is a path or a server, one of the two")

    def describe(self) -> str:
        return str(self.path) if self.path is not None else self.server.base_url


@dataclass
class SourcePatient:
    """A Patient resource of the source, census or not."""

    id: str
    mrn: str
    name: str
    active: bool  # not replaced by (merged into) another chart


@dataclass
class Canonical:
    """One side built: the canonical database, its build report, every Patient of the source."""

    source: ParitySource
    conn: sqlite3.Connection
    report: dict[str, Any]
    described: str
    patients: dict[str, SourcePatient] = field(default_factory=dict)
    resources: int = 0  # pulled from a server (0 from files)

    def charts_by_mrn(self) -> dict[str, list[SourcePatient]]:
        found: dict[str, list[SourcePatient]] = {}
        for patient in self.patients.values():
            if patient.active and patient.mrn:
                found.setdefault(patient.mrn, []).append(patient)
        return found


def load(side: ParitySource, settings: BuildSettings, workers: int | None = None) -> Canonical:
    """Read one side into the canonical model. SourceError (files) or a FhirClientError
    (server) when it cannot be read at all: one line naming the path or URL."""
    pulled = None
    if side.server is not None:
        from ..fhir_client import FhirClient
        from ..pull import pull

        with FhirClient(side.server) as client:
            pulled = pull(client, settings)
    patients: dict[str, SourcePatient] = {}
    described: list[str] = []

    def take_patients(builder: Builder, source: Source) -> None:
        patients.update(_source_patients(builder))
        described.append(source.describe())

    result = build_database(pulled.source() if pulled is not None else side.path, settings,
                            workers, before_finish=take_patients)
    return Canonical(side, result.conn, result.report, described[0], patients,
                     pulled.resources if pulled is not None else 0)


def _source_patients(builder: Builder) -> dict[str, SourcePatient]:
    replaced = set(builder.ctx.resolver.replaced_by)
    return {pid: SourcePatient(pid, row.get("mrn") or "", row.get("name") or "",
                               pid not in replaced)
            for pid, (row, _) in builder.patients.items()}
