"""A health-information station for the back-entry tests: an HIM identity, a snapshot the
forms were printed from (encrypted to it), an episode with the registry of the forms, a
scanned page filed and one queued, and the app `downtime reconcile enter` runs."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path

import pyrage
from PIL import Image, ImageDraw

import tests.tmux
from downtime.config import Config
from downtime.tui.enter_app import make_enter_app
from forms.qr import QrPayload
from reconcile.episode import Episode, Window, load_episode, open_episode
from reconcile.filing import Filer
from reconcile.settings import ReconcileSettings
from reconcile.staff import StaffList
from snapshots import sealed
from snapshots.keys import Identity
from tests.factory import AS_OF, Keys, iso
from tests.reconcile_helpers import END, START, page, record
from tests.tui_helpers import Clock, fake_kdf, stable_db, write_pub

MAR, VITALS, ORDERS, NOTE, REG = ("DT-MARPAGE222", "DT-VTLSHEET22", "DT-PHYSRDR222",
                                  "DT-NTE2222222", "DT-REG2222222")
STAFF = {"4W": [{"initials": "AB", "name": "Alice Brown", "role": "RN"},
                {"initials": "CD", "name": "Carl Dee", "role": "RN"},
                {"initials": "CD", "name": "Cora Day", "role": "RN"}],
         "*": [{"initials": "JS", "name": "Dr Jane Smith", "role": "MD"}]}
PATIENT_NAMES = ("SMITH, John", "MRN0000101", "Metoprolol", "NPO for surgery", "pain 7/10")


def qr(form_id: str, kind: str, page_no: int = 1, patient: str = "p1",
       encounter: str = "enc-p1") -> str:
    return QrPayload(form_id, kind, patient, encounter, page_no, 2).text()


def page_png(text: str) -> bytes:
    image = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), text, fill="black")
    for y in range(120, 1100, 40):
        draw.line((40, y, 810, y), fill="gray")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class EnterSite:
    tmp: Path
    him: Identity
    episode: Episode
    config: Config
    clock: Clock
    folder: Path

    def app(self, **kw):
        def opener(user, identity):
            return load_episode(self.folder, None, [self.him.recipient], [identity.secret],
                                "clerk@him-1")
        return make_enter_app(self.config, opener, clock=self.clock,
                              passphrase_kdf=fake_kdf(self.him), timers=False, **kw)

    def events(self, kind: str | None = None) -> list:
        journal = load_episode(self.folder, None, [self.him.recipient], [self.him.secret],
                               "t").journal
        return [e for e in journal.read() if kind is None or e.type == kind]


def enter_site(tmp: Path, snapshot: bool = True, identity: Identity | None = None) -> EnterSite:
    keys = Keys()
    him = identity or Identity("him-1", pyrage.x25519.Identity.generate())
    store = tmp / "store"
    store.mkdir(parents=True)
    snapshot_id = "not-on-this-station"
    if snapshot:
        out = store / f"unit-4W-000001{sealed.SUFFIX}"
        manifest = sealed.seal(stable_db(), out, scope="unit:4W", sequence=1, as_of=iso(AS_OF),
                               source="tests", counts={"patients": 5},
                               recipients=[him.recipient, keys.unit.recipient],
                               signing_key=keys.signing, units=["4W"])
        snapshot_id = manifest.snapshot_id
    folder = tmp / "reconcile"
    episode = open_episode(folder, Window(START, END), ["4W"], [him.recipient], [],
                           "clerk@him-1")
    episode = load_episode(folder, None, [him.recipient], [him.secret], "clerk@him-1")
    records = []
    for form_id, kind, patient, enc in ((MAR, "mar", "p1", "enc-p1"),
                                        (VITALS, "vitals", "p1", "enc-p1"),
                                        (ORDERS, "orders", "p1", "enc-p1"),
                                        (NOTE, "note", "p1", "enc-p1"),
                                        (REG, "registration", "DTM-000017", "DTE-000017")):
        r = record(form_id, kind, patient, enc)
        r.update(snapshot_id=snapshot_id, bed="4W-401-A" if patient == "p1" else "",
                 patient_name="SMITH, John" if patient == "p1" else "",
                 mrn="MRN0000101" if patient == "p1" else "")
        records.append(r)
    episode.journal.append("registry-collected", {"workstation": "ws-4W-1",
                                                  "source": "ws-4W-1", "records": records,
                                                  "seen": len(records)}, "clerk@him-1")
    filer = Filer(episode)
    payload = QrPayload.parse(qr(MAR, "mar"))
    filer.file_pages([page("scan-mar.png", payload, data=page_png("MAR page 1"))])
    filer.file_pages([page("scan-blank.png", None, data=page_png("no code"))])
    settings = ReconcileSettings(folder=folder, identity=tmp / "him-1.age",
                                 staff=StaffList.from_table(STAFF, "test"))
    pub = write_pub(keys, tmp / "builder.pub")
    config = dataclasses.replace(Config(), reconcile=settings).with_paths(
        store=store, trusted_builder_key=pub, audit_log=tmp / "audit.log")
    return EnterSite(tmp, him, episode, config, Clock(), folder)


class Tmux(tests.tmux.Tmux):
    def __init__(self) -> None:
        super().__init__("enter")
