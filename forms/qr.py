"""The form id and its QR code.

A form id is `DT-` + 10 base-32 characters (random, no look-alike letters), printed as text and
as a full QR code (not Micro QR: many handheld scanners cannot read it). The QR payload also
carries the form kind and the patient and encounter ids, so a scan can be indexed even where the
registry is lost:

    DTF1|<form id>|<kind>|<patient id>|<encounter id>
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import segno

PREFIX = "DTF1"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1


def new_form_id() -> str:
    return "DT-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class QrPayload:
    form_id: str
    kind: str
    patient_id: str
    encounter_id: str

    def text(self) -> str:
        return "|".join((PREFIX, self.form_id, self.kind, self.patient_id, self.encounter_id))

    @classmethod
    def parse(cls, text: str) -> QrPayload:
        parts = text.split("|")
        if len(parts) != 5 or parts[0] != PREFIX:
            raise ValueError(f"not a downtime form QR code: {text[:40]!r}")
        return cls(*parts[1:])


# Every mask pattern makes a valid code; choosing the "best" of the eight (segno's default)
# costs about 4 ms a code, a packet's forms many times over, for no gain in reading printed
# codes (all eight decode alike; the tests decode every page's code).
MASK = 2


def qr_data_uri(payload: QrPayload) -> str:
    """The QR code as a small 1-bit PNG data URI (error correction M, quiet zone 4). A PNG is
    placed as one image; an SVG of the same code is drawn module by module on every page."""
    code = segno.make_qr(payload.text(), error="m", mask=MASK)
    # one pixel a module: the page scales it up without smoothing (image-rendering: pixelated
    # in print.css), so it prints as sharp as a vector and is the smallest image to embed
    return code.png_data_uri(scale=1, border=4)
