"""The every-shift readiness check: is there a good, recent snapshot for every scope?"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from forms.delivery import PAPERS
from forms.prerender import day_of, packet_path, prerendered_folder
from snapshots.chart import data_age
from snapshots.keys import (
    KeyFileError,
    identity_file_problem,
    load_public_key,
    read_recipient,
    recipient_file,
)
from snapshots.sealed import SnapshotError, verify
from snapshots.store import list_snapshots

from .installer import REJECTED


@dataclass
class ScopeStatus:
    scope: str
    sequence: int
    path: Path
    as_of: str
    age_text: str
    minutes_old: int
    patients: int
    stale: bool
    verified: bool | None  # None: no trusted key given, not checked
    problem: str = ""
    opens: bool | None = None  # encrypted to this workstation's identity; None: not known
    prerendered: list[str] = field(default_factory=list)  # papers of today's packet, ready


# The monitoring-plugin exit convention (Nagios, Icinga, Zabbix), as `builder status` has it.
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


@dataclass
class StatusReport:
    store: Path
    scopes: list[ScopeStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rejected: list[Path] = field(default_factory=list)
    # the problems that are only "old": the data is there and opens, a newer one is late
    aging: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def code(self) -> int:
        """WARNING when the only trouble is data past its age threshold; CRITICAL when
        browse or print would fail or show nothing (a missing identity, no snapshot, one
        that does not verify)."""
        if not self.problems:
            return OK
        return WARNING if all(p in self.aging for p in self.problems) else CRITICAL

    def as_dict(self) -> dict:
        return {"ready": self.ok, "state": STATES[self.code], "exit_status": self.code,
                "store": str(self.store), "problems": self.problems,
                "rejected": len(self.rejected),
                "scopes": [{"scope": s.scope, "sequence": s.sequence, "file": str(s.path),
                            "as_of": s.as_of, "minutes_old": s.minutes_old,
                            "patients": s.patients, "stale": s.stale, "verified": s.verified,
                            "problem": s.problem, "opens": s.opens,
                            "prerendered": s.prerendered} for s in self.scopes]}

    def lines(self) -> list[str]:
        out = [f"store {self.store}"]
        for s in self.scopes:
            check = {True: "verified", False: "FAILED VERIFY", None: "not verified"}[s.verified]
            mine = {True: "", False: "  (not for this workstation)", None: ""}[s.opens]
            ready = f"  packet pre-rendered ({', '.join(s.prerendered)})" \
                if s.prerendered else ""
            out.append(f"  {s.scope:<12} seq {s.sequence:<6} {s.patients:>5} patients  "
                       f"{s.age_text}  {check}{mine}{ready}")
        if self.rejected:
            out.append(f"  {len(self.rejected)} file(s) in {REJECTED}/, newest: "
                       f"{self.rejected[0].name}")
        for p in self.problems:
            out.append(f"WARNING: {p}")
        out.append("READY" if self.ok else "NOT READY")
        return out


def _prerendered(store: Path, scope: str, snapshot_id: str, now: datetime | None) -> list[str]:
    """The papers for which `agent --prerender` has today's packet of this unit snapshot
    ready (by its file name: nothing is decrypted)."""
    if not scope.startswith("unit:"):
        return []
    day = day_of(now or datetime.now(UTC))
    return [paper for paper in PAPERS
            if packet_path(prerendered_folder(store), scope.removeprefix("unit:"), snapshot_id,
                           paper, day).exists()]


@dataclass
class Setup:
    """What the workstation itself needs at downtime besides snapshots, as far as it can be
    checked without a passphrase: what is wrong, the pinned key and the identity's public
    half (which scopes it opens), when they could be read."""

    problems: list[str] = field(default_factory=list)
    trusted_key: Ed25519PublicKey | None = None
    recipient: str | None = None


def check_setup(identity: Path | None, trusted_key: Path | None, printer: str | None = None,
                identity_given: bool = False, audit_problem: str = "") -> Setup:
    """The configured identity (there, readable, an age identity file), the pinned builder
    key (there and a key) and the configured printer (known to CUPS and enabled): each one
    that is wrong is a problem, so `agent status` says NOT READY rather than leave browse or
    print to fail at 3 a.m. Without a public half beside the identity, which scopes it opens
    is not checked (a problem only when the identity was given on the command line)."""
    setup = Setup()
    if identity is not None:
        problem = identity_file_problem(identity)
        if problem:
            setup.problems.append(f"identity: {problem}")
        public = recipient_file(identity)
        if public.exists() or identity_given:
            try:
                setup.recipient = read_recipient(public)
            except KeyFileError as e:
                setup.problems.append(f"{e} (the public half of {identity})")
    if trusted_key is not None:
        try:
            setup.trusted_key = load_public_key(trusted_key)
        except KeyFileError as e:
            setup.problems.append(f"pinned builder key: {e}")
    if audit_problem:  # care would go on, but its record would not be authenticated
        setup.problems.append(audit_problem)
    if printer:
        from forms.printing import PrintError, check_printer

        try:
            check_printer(printer)
        except PrintError as e:
            setup.problems.append(f"[print] printer: {e}")
    return setup


def status(store: Path, stale_minutes: int = 30,
           trusted_key: Ed25519PublicKey | None = None, now: datetime | None = None,
           inbox: Path | None = None, recipient: str | None = None,
           setup: Setup | None = None) -> StatusReport:
    """Newest snapshot per scope, its age and patient count, and what is wrong. Given this
    workstation's recipient (`age1...`), a store holding nothing encrypted to it is not ready:
    the files are there, but at downtime `browse` and `print` could open none of them. The
    problems of `setup` (check_setup) come first."""
    store = Path(store)
    report = StatusReport(store)
    if setup is not None:
        report.problems.extend(setup.problems)
        trusted_key = trusted_key or setup.trusted_key
        recipient = recipient or setup.recipient
    if not store.is_dir():
        report.problems.append(f"{store}: no snapshot store here")
        return report
    if trusted_key is None and not any(p.startswith("pinned builder key") for p in
                                       report.problems):  # unchecked is not ready
        report.problems.append("no pinned builder key: signatures not checked (pass "
                               "--trusted-key or set paths.trusted_builder_key)")
    found, unreadable = list_snapshots(store)
    newest: dict[str, object] = {}
    for snap in found:
        newest.setdefault(snap.manifest.scope, snap)
    for scope, snap in sorted(newest.items()):
        m = snap.manifest
        age = data_age(m.as_of, now, stale_minutes)
        verified, problem = None, ""
        if trusted_key is not None:
            try:
                verify(snap.path, trusted_key)
                verified = True
            except SnapshotError as e:
                verified, problem = False, str(e)
        opens = None if recipient is None else recipient in m.recipients
        row = ScopeStatus(scope, m.sequence, snap.path, m.as_of, age.text, age.minutes_old,
                          int(m.counts.get("patients", 0)), age.stale, verified, problem, opens,
                          _prerendered(store, scope, m.snapshot_id, now))
        report.scopes.append(row)
        # Another unit's file is not this workstation's concern when old (a failed verify is:
        # it is a file in this store that someone altered).
        if age.clock_behind and opens is not False:
            report.problems.append(
                f"{scope}: newest snapshot is dated {-age.minutes_old} min after this "
                "workstation's clock: the clock is behind (set it right: the ages and due "
                "times browse and the packets show are wrong until then)")
            report.aging.append(report.problems[-1])  # as for stale data: a WARNING
        if age.stale and opens is not False:
            report.problems.append(f"{scope}: newest snapshot is {age.minutes_old} min old "
                                   f"(threshold {stale_minutes} min)")
            report.aging.append(report.problems[-1])
        if verified is False:
            report.problems.append(f"{scope}: newest snapshot failed to verify: {problem}")
    for path, why in unreadable:
        report.problems.append(f"{path.name}: unreadable: {why}")
    if not newest:
        report.problems.append(f"{store}: no snapshot installed")
    elif recipient is not None and not any(s.opens for s in report.scopes):
        report.problems.append(f"no installed snapshot is encrypted to this workstation's "
                               f"identity ({recipient[:16]}...): browse and print could open "
                               "none of them")
    if inbox is not None and (Path(inbox) / REJECTED).is_dir():
        report.rejected = sorted((Path(inbox) / REJECTED).glob("*.dtsnap"), reverse=True)
    return report
