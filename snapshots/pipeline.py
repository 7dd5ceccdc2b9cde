"""A build from start to end: read the source, pass 1 (the census), pass 2 (every other
resource) in one process or with the Observation files on a second core (parallel_map), then
the finished database and its report. The one entry point for a full build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import parallel_map
from .build import Builder
from .build_results import BuildResult
from .collector import collector_paused
from .reading import Source
from .settings import BuildSettings


def build_database(source: Path | Source, settings: BuildSettings,
                   workers: int | None = None,
                   before_finish: Callable[[Builder, Source], None] | None = None) -> BuildResult:
    """Read a FHIR source and return the canonical database (in memory) with its report.
    `workers`: 2 maps the Observation files on a second core, 1 keeps to one process, None
    decides by the machine and the size of the export (snapshots.parallel_map)."""
    with collector_paused():
        builder = Builder(settings)
        if not isinstance(source, Source):
            source = Source(source, builder.ctx.gaps.bad_input)
        builder.attach(source)
        for rec in source.bundle_records():  # urn:uuid references may point forward
            builder.ctx.resolver.register(rec.resource, rec.full_url)
        later = builder.read_core(source.core())
        builder.read_clinical(later)
        parallel_map.read_clinical(builder, source, workers)
        if before_finish is not None:  # what only the builder's working state tells (parity)
            before_finish(builder, source)
        return builder.finish(source.describe())
