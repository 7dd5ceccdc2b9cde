"""Rehearsal drills: scripted cutovers, outages and rollbacks run against the demo hospital
(or a site's test systems), with faults injected on purpose, gates signed by named people,
rollback criteria decided in advance, and a report for auditors (docs/drills.md)."""
