"""The form id and its QR code.

A form id is `DT-` + 10 base-32 characters (random, no look-alike letters), printed as text and
as a full QR code (not Micro QR: many handheld scanners cannot read it). The QR payload also
carries the form kind and the patient and encounter ids, so a scan can be indexed even where the
registry is lost, and which page of the form it is on and how many pages the form has, so a
scan tells which page came back:

    DTF2|<form id>|<kind>|<patient id>|<encounter id>|<page>|<pages>

Forms printed before the page number was added carry DTF1 (the same without the last two
fields); it is still read, with the page unknown.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

import segno

PREFIX = "DTF2"
PREFIX_V1 = "DTF1"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1


def new_form_id() -> str:
    return "DT-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class QrPayload:
    form_id: str
    kind: str
    patient_id: str
    encounter_id: str
    page: int | None = None  # 1-based page of the form (None: a DTF1 code, page unknown)
    pages: int | None = None  # the form's page count

    def text(self) -> str:
        """DTF2 when the page is known; DTF1 (no page) otherwise."""
        fields = [self.form_id, self.kind, self.patient_id, self.encounter_id]
        if self.page is None or self.pages is None:
            return "|".join([PREFIX_V1, *fields])
        return "|".join([PREFIX, *fields, str(self.page), str(self.pages)])

    def on_page(self, page: int, pages: int) -> QrPayload:
        return replace(self, page=page, pages=pages)

    @classmethod
    def parse(cls, text: str) -> QrPayload:
        """A payload from a code's text; ValueError if it is not one of ours."""
        parts = text.split("|")
        if len(parts) == 5 and parts[0] == PREFIX_V1:
            return cls(*parts[1:])
        if len(parts) == 7 and parts[0] == PREFIX:
            page, pages = _number(parts[5]), _number(parts[6])
            if page is not None and pages is not None and 1 <= page <= pages:
                return cls(*parts[1:5], page=page, pages=pages)
        raise ValueError(f"not a downtime form QR code: {text[:40]!r}")


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


# Every mask pattern makes a valid code; choosing the "best" of the eight (segno's default)
# costs about 4 ms a code, a packet's pages many times over, for no gain in reading printed
# codes (all eight decode alike; the tests decode every page's code).
MASK = 2


def qr_data_uri(payload: QrPayload) -> str:
    """The QR code as a small 1-bit PNG data URI (error correction M, quiet zone 4). A PNG is
    placed as one image; an SVG of the same code is drawn module by module on every page."""
    code = segno.make_qr(payload.text(), error="m", mask=MASK)
    # one pixel a module: the page scales it up without smoothing (image-rendering: pixelated
    # in print.css), so it prints as sharp as a vector and is the smallest image to embed
    return code.png_data_uri(scale=1, border=4)
