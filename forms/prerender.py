"""Pre-rendering: after the agent installs a snapshot, the unit packet is rendered in the
background and kept encrypted (age, to the workstation's own recipient), so that at downtime
`print packet` starts sending pages at once instead of laying out a hundred pages first.

File: `<dir>/packet-<unit>-<snapshot id>-<paper>-<YYYY-MM-DD>.age`, an age file whose
plaintext is JSON {"forms": [registry records], "pages": n, "pdf": base64}. The date is the
local calendar day it was rendered for (the day the MAR is headed with): a packet is only used
on that day, for that snapshot and paper; otherwise the job renders live.

A pre-rendered packet is used once: taking it removes the file (before anything is printed),
so two printouts never carry the same form ids. The agent renders a fresh one afterwards.
Forms are registered when printed, not when pre-rendered: the registry only ever holds paper
that was asked for.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyrage

from .registry import FormRecord

if TYPE_CHECKING:
    from snapshots.sealed import OpenedSnapshot

FOLDER = "prerendered"  # in the snapshot store, beside the snapshots


def prerendered_folder(store: Path) -> Path:
    """Where a store's pre-rendered packets are kept (the agent writes, print reads)."""
    return Path(store) / FOLDER


def day_of(moment: datetime) -> str:
    """The local calendar day a packet is for, as in its MAR heading."""
    return moment.astimezone().strftime("%Y-%m-%d")


def packet_path(directory: Path, unit: str, snapshot_id: str, paper: str, day: str) -> Path:
    return Path(directory) / f"packet-{unit}-{snapshot_id}-{paper}-{day}.age"


def prerender_packet(snapshot: OpenedSnapshot, unit: str, out_dir: Path,
                     recipients: Sequence[str], printed_by: str = "pre-rendered",
                     paper: str = "Letter", now: datetime | None = None) -> Path:
    """Render the unit packet for today (or `now`'s day) and keep it encrypted. Older packets
    of this unit and paper (other snapshots, other days) are removed."""
    # imported here: taking a packet (the print command's quick path) must not load WeasyPrint
    from .render import FormContext, plan, render_pdf

    now = now or datetime.now(UTC)
    ctx = FormContext(snapshot, unit, printed_by, now, paper, prerendered=True)
    forms = [step() for step in plan(ctx, "packet", None)]
    pdf, pages = render_pdf(forms)
    body = json.dumps({"forms": [asdict(f.record) for f in forms], "pages": pages,
                       "pdf": base64.b64encode(pdf).decode()}).encode()
    sealed = pyrage.encrypt(body, [pyrage.x25519.Recipient.from_str(str(r))
                                   for r in recipients])
    out = packet_path(out_dir, unit, snapshot.manifest.snapshot_id, paper, day_of(now))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name("." + out.name + ".part")
    tmp.write_bytes(sealed)
    os.replace(tmp, out)
    for old in out.parent.glob(f"packet-{unit}-*-{paper}-*.age"):
        if old != out:
            old.unlink(missing_ok=True)
    return out


Packet = tuple[bytes, int, list[FormRecord]]  # (PDF, pages, the forms' registry records)


def take_prerendered(directory: Path, unit: str, snapshot_id: str, paper: str,
                     now: datetime, identities: Sequence[pyrage.x25519.Identity]
                     ) -> Packet | None:
    """The pre-rendered packet for exactly this snapshot, paper and day, taken (the file is
    gone afterwards, whether or not the print then succeeds), or None."""
    taken = _take(directory, unit, snapshot_id, paper, now, identities)
    return None if taken is None else taken[1]


def take_prerendered_body(directory: Path, unit: str, snapshot_id: str, paper: str,
                          now: datetime, identities: Sequence[pyrage.x25519.Identity]
                          ) -> bytes | None:
    """As take_prerendered, the decrypted file as it is (what the agent hands over its
    socket, downtime.packet_service), or None."""
    taken = _take(directory, unit, snapshot_id, paper, now, identities)
    return None if taken is None else taken[0]


def _take(directory: Path, unit: str, snapshot_id: str, paper: str, now: datetime,
          identities: Sequence[pyrage.x25519.Identity]) -> tuple[bytes, Packet] | None:
    """(decrypted file, the packet it holds), the file removed; None if there is none or it
    is damaged (a damaged packet is not handed on: the job renders live)."""
    path = packet_path(directory, unit, snapshot_id, paper, day_of(now))
    taken = path.with_name(f".{path.name}.taken-{os.getpid()}")
    try:
        os.rename(path, taken)  # atomic: of two jobs at once, only one gets it
    except OSError:
        return None
    try:
        body = pyrage.decrypt(taken.read_bytes(), list(identities))
        return body, read_packet(body)
    except (pyrage.DecryptError, ValueError, OSError):
        return None
    finally:
        taken.unlink(missing_ok=True)


def read_packet(body: bytes) -> Packet:
    """A packet from its decrypted JSON; ValueError if it is not one."""
    try:
        packet = json.loads(body)
        records = [FormRecord(**r) for r in packet["forms"]]
        pdf, pages = base64.b64decode(packet["pdf"], validate=True), int(packet["pages"])
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(f"not a pre-rendered packet ({e})") from None
    if not pdf.startswith(b"%PDF-") or pages < 1 or not records:
        raise ValueError("not a pre-rendered packet (no PDF, pages or forms)")
    return pdf, pages, records


def load_prerendered(directory: Path, unit: str, snapshot_id: str, paper: str, day: str,
                     identities: Sequence[pyrage.x25519.Identity]) -> Packet | None:
    """Read a pre-rendered packet without taking it (for checks and tests), or None."""
    path = packet_path(directory, unit, snapshot_id, paper, day)
    try:
        return read_packet(pyrage.decrypt(path.read_bytes(), list(identities)))
    except (pyrage.DecryptError, ValueError, OSError):
        return None
