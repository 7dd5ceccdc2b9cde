"""What `downtime reconcile enter` does besides showing things: open the HIM identity and the
episode, find a form from what a handheld scanner typed, read the patient header (from the
snapshot the form was printed from, when this station has it), journal entries, mark pages
done, show or hand a scanned page to the system viewer, work the needs-indexing queue.
No Textual here: the back-entry screens run these in their workers; the tests call them.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from forms.qr import QrPayload
from reconcile.backentry import Recorded, ToRecord, record_entries
from reconcile.decisions import PAGE_TRANSCRIBED
from reconcile.entries import FORM_ID, Entry, Person
from reconcile.episode import PAGES, Episode
from reconcile.filing import Filer, Outcome
from reconcile.keyed_entries import MarRow, PageContext, page_entries, rows_from_orders
from reconcile.keying import People
from reconcile.rules import QUEUED, FormInfo
from reconcile.settings import ReconcileSettings
from reconcile.state import PageState
from snapshots import chart
from snapshots.allergy_status import AllergyStatus
from snapshots.errors import ToolkitError
from snapshots.identity_process import load_identity_in_child
from snapshots.keys import Identity, load_public_key
from snapshots.sealed import OpenedSnapshot, SnapshotError, open_snapshot
from snapshots.store import list_snapshots

from ..config import Config, ConfigError
from .session import Clock, utc_now

Kdf = Callable[[Path, str], Identity]
EpisodeOpener = Callable[[str, Identity], Episode]  # (who, identity) -> the episode
ENTERABLE = ("mar", "orders", "vitals", "note", "registration")


class FormNotFound(ToolkitError):
    reason = "form"


@dataclass(frozen=True)
class FormTarget:
    """The page a clerk is typing: its form (from the registries, or only from its QR when
    no collected registry has it) and page number."""

    form_id: str
    page: int
    kind: str
    patient_id: str
    encounter_id: str
    info: FormInfo | None

    @property
    def unit(self) -> str | None:
        return self.info.unit if self.info else None


@dataclass(frozen=True)
class Banner:
    """The patient header of a back-entry screen. `allergy` None: not known here (then
    `allergy_note` says why, and nothing says "none")."""

    name: str
    mrn: str
    bed: str
    birth_date: str | None
    allergy: AllergyStatus | None
    source: str  # where the header comes from, or why DOB and allergies are not shown
    name_alert: bool = False


@dataclass
class Opened:
    """One form page opened: its header, what is typed on it, the MAR rows."""

    target: FormTarget
    banner: Banner
    context: PageContext
    typed: dict[int, Recorded]
    rows: list[MarRow] = field(default_factory=list)  # MAR only (from the snapshot's orders)
    page_id: str | None = None  # the scanned page, when the episode has it
    done: dict[str, Any] | None = None  # its page-transcribed event, when marked done


def read_target(text: str, forms: dict[str, FormInfo]) -> FormTarget:
    """A form page from what was typed: the QR payload a handheld scanner types, or a form id
    (`DT-XXXXXXXXXX`, with ` 2` or `/2` for page 2)."""
    text = text.strip()
    payload = None
    if text.upper().startswith(("DTF1|", "DTF2|")):
        try:
            payload = QrPayload.parse(text)
        except ValueError as e:
            raise FormNotFound(str(e)) from None
        form_id, page = payload.form_id, payload.page or 1
    else:
        parts = re.split(r"[\s/]+P?", text.upper())
        if not parts or not FORM_ID.fullmatch(parts[0]):
            raise FormNotFound(f"{text[:40]!r}: scan the page's QR code, or type its form id "
                               "(DT- and ten characters; a page number after it)")
        form_id = parts[0]
        page = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1
    info = forms.get(form_id)
    if info is None and payload is None:
        raise FormNotFound(f"{form_id}: in no collected registry; scan its QR code (it names "
                           "the patient), or collect the workstation's registry first")
    kind = info.kind if info else payload.kind
    if kind not in ENTERABLE:
        raise FormNotFound(f"{form_id} is a {kind}: nothing on it is back-entered (the "
                           f"forms typed are {', '.join(ENTERABLE)})")
    pages = (info.pages if info else 0) or (payload.pages if payload else 0) or 0
    if pages and page > pages:
        raise FormNotFound(f"{form_id} has {pages} page{'s' if pages > 1 else ''}, not {page}")
    return FormTarget(form_id, page, kind, info.patient_id if info else payload.patient_id,
                      info.encounter_id if info else payload.encounter_id, info)



class ClerkStation:
    """The HIM station: its identity and how the episode is opened with it."""

    def __init__(self, config: Config, open_episode: EpisodeOpener, *,
                 clock: Clock | None = None, passphrase_kdf: Kdf | None = None) -> None:
        self.config = config
        settings: ReconcileSettings = config.reconcile
        if settings.identity is None:
            raise ConfigError(f"no [reconcile] identity in {config.file}: the HIM station's "
                              "age identity opens the episodes")
        self.identity_path = settings.identity
        self.staff = settings.staff
        self.open_episode = open_episode
        self.clock: Clock = clock or utc_now
        self.kdf: Kdf = passphrase_kdf or load_identity_in_child
        self.idle_lock_minutes = config.thresholds.idle_lock_minutes
        self.audit_log = None
        if config.paths.audit_log is not None:
            from snapshots.audit.client import audit_sink

            self.audit_log = audit_sink(config.audit, config.paths.audit_log)

    def try_passphrase(self, passphrase: str) -> Identity:
        return self.kdf(self.identity_path, passphrase)

    def open_session(self, user: str, identity: Identity) -> ClerkSession:
        return ClerkSession(self, user, identity, self.open_episode(user, identity))

    # what the shared unlock screen asks of a station (the locked screen shows no data age:
    # the clerk's work is the episode, not a snapshot)
    def newest_data_age(self) -> None:
        return None

    def check_store_files(self) -> None:
        return None

    def audit(self, action: str, session: Any, *, user: str | None = None,
              patient_id: str | None = None, detail: str | None = None) -> None:
        if self.audit_log is not None:
            self.audit_log.append(action, user or (session.user if session else ""),
                                  patient_id=patient_id, detail=detail)


class ClerkSession:
    """An unlocked clerk: the episode, the people asked about, the snapshots opened."""

    def __init__(self, station: ClerkStation, user: str, identity: Identity,
                 episode: Episode) -> None:
        self.station = station
        self.user = user
        self.identity = identity
        self.episode = episode
        self.filer = Filer(episode)
        self.clerk = Person(name=user)
        self.people = People(station.staff)
        self._snapshots: dict[str, OpenedSnapshot | str] = {}
        self._viewer_dirs: list[Path] = []
        self.label = episode.id

    @property
    def state(self):  # noqa: ANN201 - reconcile.state.EpisodeState
        return self.filer.state

    def now(self) -> datetime:
        return self.station.clock()

    # --- forms --------------------------------------------------------------------------------

    def open_page(self, text: str) -> Opened:
        """Blocking: the form page a scan or a typed id names, with its header and lines."""
        state = self.filer.refresh()
        target = read_target(text, state.forms)
        if state.window is None:
            raise FormNotFound("the episode has no window (its journal lacks episode-opened)")
        snapshot, why = self._snapshot(target)
        banner = self._banner(target, snapshot, why)
        issued = target.info.issued_time() if target.info else None
        context = PageContext(target.form_id, target.page, target.kind, target.patient_id,
                              target.encounter_id, target.unit, state.window, issued,
                              self.clerk, self.people)
        rows = []
        if target.kind == "mar" and snapshot is not None:
            rows = rows_from_orders(chart.medications(snapshot.db, target.patient_id,
                                                      now=issued or self.now()))
        return Opened(target, banner, context, page_entries(state.entries, target.form_id,
                                                            target.page), rows,
                      state.page_of(target.form_id, target.page),
                      state.decisions.transcribed.get((target.form_id, target.page)))

    def _snapshot(self, target: FormTarget) -> tuple[OpenedSnapshot | None, str]:
        snapshot_id = target.info.snapshot_id if target.info else ""
        if not snapshot_id:
            return None, "the form's registry line names no snapshot"
        got = self._snapshots.get(snapshot_id)
        if got is None:
            got = self._snapshots[snapshot_id] = self._open_snapshot(snapshot_id)
        return (got, "") if isinstance(got, OpenedSnapshot) else (None, got)

    def _open_snapshot(self, snapshot_id: str) -> OpenedSnapshot | str:
        paths = self.station.config.paths
        if paths.store is None or paths.trusted_builder_key is None:
            return "this station has no snapshot store (paths.store, trusted_builder_key)"
        found = [s for s in list_snapshots(paths.store)[0]
                 if s.manifest.snapshot_id == snapshot_id]
        if not found:
            return f"the snapshot the form was printed from ({snapshot_id[:8]}) is not on " \
                   "this station"
        if self.identity.recipient not in found[0].manifest.recipients:
            return f"the snapshot the form was printed from ({snapshot_id[:8]}) is not " \
                   "encrypted to this station"
        try:
            return open_snapshot(found[0].path, load_public_key(paths.trusted_builder_key),
                                 [self.identity])
        except (SnapshotError, ToolkitError, OSError) as e:
            return f"the snapshot the form was printed from did not open: {e}"

    def _banner(self, target: FormTarget, snapshot: OpenedSnapshot | None, why: str
                ) -> Banner:
        info = target.info
        if snapshot is not None:
            try:
                h = chart.header(snapshot.db, target.patient_id, self.now().date())
            except KeyError:
                why = "the patient is not in the snapshot the form was printed from"
            else:
                return Banner(h.name, h.mrn, h.bed or (info.bed if info else ""),
                              h.birth_date, h.allergy,
                              f"from the snapshot of {snapshot.manifest.as_of}", h.name_alert)
        return Banner(info.patient_name if info and info.patient_name else
                      f"patient {target.patient_id}", info.mrn if info else "",
                      info.bed if info else "", None, None, why)

    def typed(self, target: FormTarget) -> dict[int, Recorded]:
        return page_entries(self.filer.refresh().entries, target.form_id, target.page)

    def record(self, entries: Sequence[Entry], page_id: str | None) -> int:
        """Blocking: journal the entries (one write); how many were new."""
        self.filer.refresh()
        events, _ = record_entries(self.episode.journal, self.state.entries,
                                   [ToRecord(e, "tui", page_id=page_id) for e in entries],
                                   self.episode.who)
        return len(events)

    def page_done(self, target: FormTarget, lines: int) -> None:
        event = self.episode.journal.append(PAGE_TRANSCRIBED, {
            "form_id": target.form_id, "page": target.page, "lines": lines,
            "person": self.user}, self.episode.who)
        self.state.apply(event)

    # --- scanned pages ------------------------------------------------------------------------

    def page_bytes(self, page_id: str) -> tuple[bytes, str]:
        """Blocking: a scanned page's original bytes (decrypted in memory) and media type."""
        page = self.state.pages[page_id]
        return self.episode.read_copy(PAGES, page.read["copy"]), page.read["media_type"]

    def page_image(self, page_id: str, width: int = 1000) -> Any:
        """Blocking: the page as a PIL image (a PDF's page rasterised in memory)."""
        data, media_type = self.page_bytes(page_id)
        return to_image(data, media_type, width)

    def open_in_viewer(self, page_id: str, opener: Sequence[str] | None = None) -> Path:
        """Decrypt the page into a private folder in memory-backed storage (0700, removed
        when the form is left or the session ends) and hand it to the system viewer."""
        data, media_type = self.page_bytes(page_id)
        folder = Path(tempfile.mkdtemp(prefix="dt-page-", dir=private_tmp()))
        os.chmod(folder, 0o700)
        self._viewer_dirs.append(folder)
        suffix = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg",
                  "image/tiff": ".tiff"}.get(media_type, ".bin")
        path = folder / f"page{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        command = list(opener) if opener else [shutil.which("xdg-open") or "xdg-open"]
        try:
            subprocess.Popen([*command, str(path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            self.remove_viewer_copies()
            raise FormNotFound(f"no system viewer ({command[0]}: {e.strerror})") from None
        return path

    def remove_viewer_copies(self) -> None:
        for folder in self._viewer_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self._viewer_dirs.clear()

    # --- the needs-indexing queue -------------------------------------------------------------

    def queue(self) -> list[PageState]:
        placed = self.filer.refresh().placed()
        return [p for p in placed.values() if p.placement.status == QUEUED]

    def index(self, page_id: str, text: str) -> Outcome:
        """Index a queued page: `DT-XXXXXXXXXX [page]` (a form) or `patient ID [encounter]`."""
        parts = text.split()
        if parts and parts[0].lower() == "patient" and len(parts) in (2, 3):
            return self.filer.index(page_id, patient_id=parts[1],
                                    encounter_id=parts[2] if len(parts) == 3 else None)
        if parts and FORM_ID.fullmatch(parts[0].upper()) and len(parts) <= 2 and \
                (len(parts) == 1 or parts[1].isdigit()):
            return self.filer.index(page_id, form_id=parts[0].upper(),
                                    page_no=int(parts[1]) if len(parts) == 2 else None)
        raise FormNotFound(f"{text[:40]!r}: index to a form (DT-XXXXXXXXXX 2) or a patient "
                           "(patient ID [encounter])")

    def close(self) -> None:
        self.remove_viewer_copies()
        for got in self._snapshots.values():
            if isinstance(got, OpenedSnapshot):
                got.close()
        self._snapshots.clear()


def private_tmp() -> str:
    """A memory-backed folder for a decrypted page the viewer needs as a file: the user's
    runtime folder, else /dev/shm; never the disk's /tmp."""
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    raise FormNotFound("no memory-backed folder ($XDG_RUNTIME_DIR, /dev/shm) to hand the "
                       "page to a viewer: a decrypted page is never written to disk")


def to_image(data: bytes, media_type: str, width: int = 1000) -> Any:
    from PIL import Image

    if media_type == "application/pdf":
        import pypdfium2

        pdf = pypdfium2.PdfDocument(data)
        try:
            page = pdf[0]
            scale = width / page.get_width()
            return page.render(scale=scale).to_pil().convert("RGB")
        finally:
            pdf.close()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")
