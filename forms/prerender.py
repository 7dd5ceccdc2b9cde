"""Pre-rendering: after the agent installs a snapshot, the unit packet is rendered in the
background and kept encrypted (age, to the workstation's own recipient), so that at downtime
`print packet` starts sending pages at once instead of laying out a hundred pages first.

File: `<dir>/packet-<unit>-<snapshot id>.age`, an age file whose plaintext is JSON
{"forms": [registry records], "pdf": base64}. Forms are registered when printed, not when
pre-rendered: the registry only ever holds paper that was asked for.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from snapshots.sealed import OpenedSnapshot

from .registry import FormRecord
from .render import FormContext, plan, render_pdf


def packet_path(directory: Path, unit: str, snapshot_id: str) -> Path:
    return Path(directory) / f"packet-{unit}-{snapshot_id}.age"


def prerender_packet(snapshot: OpenedSnapshot, unit: str, out_dir: Path,
                     recipients: Sequence[str], printed_by: str = "pre-rendered") -> Path:
    ctx = FormContext(snapshot, unit, printed_by, datetime.now(UTC), prerendered=True)
    forms = [step() for step in plan(ctx, "packet", None)]
    pdf, pages = render_pdf(forms)
    body = json.dumps({"forms": [asdict(f.record) for f in forms], "pages": pages,
                       "pdf": base64.b64encode(pdf).decode()}).encode()
    sealed = pyrage.encrypt(body, [pyrage.x25519.Recipient.from_str(r) for r in recipients])
    out = packet_path(out_dir, unit, snapshot.manifest.snapshot_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name("." + out.name + ".part")
    tmp.write_bytes(sealed)
    os.replace(tmp, out)
    for old in out.parent.glob(f"packet-{unit}-*.age"):
        if old != out:
            old.unlink(missing_ok=True)
    return out


def load_prerendered(directory: Path, unit: str, snapshot_id: str,
                     identities: Sequence[pyrage.x25519.Identity]
                     ) -> tuple[bytes, int, list[FormRecord]] | None:
    """The pre-rendered packet for exactly this snapshot, or None."""
    path = packet_path(directory, unit, snapshot_id)
    if not path.exists():
        return None
    try:
        body = json.loads(pyrage.decrypt(path.read_bytes(), list(identities)))
    except (pyrage.DecryptError, ValueError):
        return None
    return (base64.b64decode(body["pdf"]), body["pages"],
            [FormRecord(**r) for r in body["forms"]])
