"""The downtime toolkit application: CLI, TUI, config, audit log, agent, drills, demo data."""

__version__ = "0.1.0"
