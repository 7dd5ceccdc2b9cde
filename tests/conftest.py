"""Fixtures shared by the test modules. Plain helpers (data factories, a private CUPS server,
the TUI's test site) live in their own modules (factory.py, cups.py, tui_helpers.py,
shared.py) and are imported by name; what pytest hands to a test by argument is here."""

from __future__ import annotations

import pytest

from tests.factory import Keys
from tests.tui_helpers import use_utc


@pytest.fixture(scope="module")
def keys() -> Keys:
    """In-memory keys (no passphrase KDF) for a module's snapshots: builder, unit,
    pharmacy, escrow."""
    return Keys()


@pytest.fixture
def utc() -> None:
    """Local time is UTC, so the times a screen or a form shows are the same everywhere."""
    use_utc()
