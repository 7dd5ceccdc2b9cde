"""Names that become file names: key names (a file in the key folder) and unit codes (a
snapshot's file name in the store), checked before anything is written or read by them."""

from __future__ import annotations

import re

from snapshots.errors import ToolkitError

# A key's name becomes a file name in the key folder (and a unit code a snapshot's file name in
# the store): no path separators, no leading dot or dash, nothing a shell or a scope splits on.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")


class KeyNameError(ToolkitError, ValueError):
    """A key or unit name that cannot be a file name."""

    reason = "key-name"


def check_name(value: str, what: str) -> str:
    """`value` when it is a plain file name (letters, digits, space . _ -); else KeyNameError."""
    if not _PLAIN.fullmatch(value) or ".." in value or value.endswith((" ", ".")):
        raise KeyNameError(f"{what} {value!r} cannot be used: letters, digits, space, '.', '_' "
                         "and '-' only, starting with a letter or digit (it names a file)")
    return value
