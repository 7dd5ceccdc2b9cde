"""The actions a drill may use: the engine's own (gate, rollback, go-live) and the site
actions of downtime/drills/actions/ (sandbox, build, publish, ...), each registered once with
downtime.drills.api.register when its module is imported; and the shipped drills."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from .api import ACTIONS, ActionSpec

SHIPPED = Path(__file__).with_name("shipped")


def load_actions() -> dict[str, ActionSpec]:
    """Every registered action, importing the modules that register them (once)."""
    from . import engine_actions  # noqa: F401 - registers gate, rollback, go-live

    try:
        package = importlib.import_module(f"{__package__}.actions")
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.actions":
            raise
        return ACTIONS
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return ACTIONS


def shipped_drills() -> list[Path]:
    return sorted(SHIPPED.glob("*.toml"))


def find_drill(name: str) -> Path:
    """A script by its path, or a shipped drill by its file's stem (`planned-cutover`)."""
    path = Path(name)
    if path.exists() or path.suffix == ".toml" or "/" in name:
        return path
    return SHIPPED / f"{name}.toml"
