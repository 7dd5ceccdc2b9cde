"""The actions a drill may use: the engine's own (gate, rollback, go-live) and the site
actions of downtime/drills/actions/ (sandbox, build, publish, ...), each registered once with
downtime.drills.api.register when its module is imported; and the shipped drills."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from snapshots.errors import ToolkitError

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


class NoSuchDrill(ToolkitError):
    reason = "drill-missing"
    exit_status = 3  # the drill could not start


def find_drill(name: str) -> Path:
    """A script by its path, or a shipped drill by its file's stem (`planned-cutover`)."""
    path = Path(name)
    if path.exists():
        return path
    shipped = SHIPPED / f"{name}.toml"
    if path.suffix != ".toml" and "/" not in name and shipped.exists():
        return shipped
    raise NoSuchDrill(f"{name}: no such drill script, nor a shipped drill (`downtime drill "
                      f"list` names them: {', '.join(p.stem for p in shipped_drills())})")
