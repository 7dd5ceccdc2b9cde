"""`print-packets`: each unit's downtime packet to a real CUPS queue, and the drill's cupsd.

The drill runs a cupsd of its own (workdir/cups: configuration, spool, logs), on a free
127.0.0.1 port, so that it neither depends on nor changes the machine's CUPS, with one raw
queue, `downtime-drill`, whose device is /dev/null (the paper "comes out"; CUPS keeps no
copy of a job once printed: PreserveJobFiles No, and its spool is removed at the drill's
end). $CUPS_SERVER points the toolkit's `lp`/`lpstat` at it for the rest of
the drill (restored at the drill's end). `make system-deps` installs cups.

`print-packets` (units = [...], default every unit with a workstation): for each unit, as
`downtime print packet` does on its workstation: the printer checked first (a stopped queue
is one line and nothing is registered as printed), the packet laid out from the unit's newest
snapshot opened with the workstation's identity, its forms registered in the workstation's
encrypted form registry, sent with `lp`, recorded `printed`. Figures: `packets_printed`,
`print_failures`, `pages_printed`, `print_seconds`. The PDFs stay in memory only
(ctx.shared["printed"]: (unit, workstation name, pdf bytes, pages, form records)), for
`simulate-paper` (the printed form ids) and `scan`.

ctx.shared: "cups" (the DrillCups), "printed".
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api import ActionSpec, DrillContext, StepResult, register
from .site import DrillActionError, Site, Workstation, failed, site_of, timer, why

CUPS = "cups"
PRINTED = "printed"
QUEUE = "downtime-drill"
CUPSD = Path("/usr/sbin/cupsd")

CUPSD_CONF = """\
Listen 127.0.0.1:{port}
LogLevel warn
WebInterface No
Browsing Off
DefaultAuthType None
PreserveJobFiles No
PreserveJobHistory No
<Location />
  Order allow,deny
  Allow 127.0.0.1
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""

CUPS_FILES_CONF = """\
ServerRoot {root}/etc
RequestRoot {root}/spool
TempDir {root}/spool/tmp
StateDir {root}/state
CacheDir {root}/cache
ErrorLog {root}/log/error_log
AccessLog {root}/log/access_log
PageLog {root}/log/page_log
"""


@dataclass
class DrillCups:
    server: str  # 127.0.0.1:PORT, for $CUPS_SERVER
    queue: str
    root: Path
    process: subprocess.Popen
    previous_env: str | None

    def env(self) -> dict[str, str]:
        return {**os.environ, "CUPS_SERVER": self.server, "LC_ALL": "C"}

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, capture_output=True, text=True, timeout=30, env=self.env())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_cups(ctx: DrillContext) -> DrillCups:
    """The drill's cupsd with its queue, started on first use."""
    cups = ctx.shared.get(CUPS)
    if cups is not None:
        return cups
    for tool in ("lpadmin", "lp", "lpstat", "cupsdisable", "cupsenable"):
        if not shutil.which(tool):
            raise DrillActionError(f"{tool} missing: `make system-deps` installs cups")
    if not CUPSD.exists():
        raise DrillActionError(f"{CUPSD} missing: `make system-deps` installs cups")
    root = ctx.workdir / "cups"
    port = _free_port()
    for sub in ("etc/ppd", "spool/tmp", "state", "cache", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "cupsd.conf").write_text(CUPSD_CONF.format(port=port))
    (root / "etc" / "cups-files.conf").write_text(CUPS_FILES_CONF.format(root=root))
    for path in (root, *root.rglob("*")):  # filters run as `lp` and must reach the spool
        if path.is_dir():
            path.chmod(0o755)
    process = subprocess.Popen([str(CUPSD), "-f", "-c", str(root / "etc" / "cupsd.conf"),
                                "-s", str(root / "etc" / "cups-files.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cups = DrillCups(f"127.0.0.1:{port}", QUEUE, root, process, os.environ.get("CUPS_SERVER"))
    ctx.shared[CUPS] = cups
    for _ in range(100):
        if process.poll() is not None:
            break
        if "scheduler is running" in cups.admin("lpstat", "-r").stdout:
            break
        time.sleep(0.1)
    else:
        raise DrillActionError(f"the drill's cupsd did not come up (see {root}/log/error_log)")
    if process.poll() is not None:
        raise DrillActionError(f"the drill's cupsd stopped at start (see {root}/log/error_log)")
    done = cups.admin("lpadmin", "-p", QUEUE, "-E", "-v", "file:/dev/null")
    if done.returncode != 0:
        raise DrillActionError(f"cannot add the drill's queue: {done.stderr.strip()}")
    os.environ["CUPS_SERVER"] = cups.server  # the toolkit's lp and lpstat: this cupsd
    ctx.log(f"drill cupsd on {cups.server}, queue {QUEUE}")
    return cups


def stop_cups(ctx: DrillContext) -> None:
    cups = ctx.shared.pop(CUPS, None)
    if cups is None:
        return
    if cups.previous_env is None:
        os.environ.pop("CUPS_SERVER", None)
    else:
        os.environ["CUPS_SERVER"] = cups.previous_env
    cups.process.send_signal(signal.SIGTERM)
    try:
        cups.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        cups.process.kill()
        cups.process.wait()
    # a job's spooled copy is the packet in plaintext: none is kept (PreserveJobFiles No),
    # and the spool goes with the drill's cupsd all the same
    shutil.rmtree(cups.root / "spool", ignore_errors=True)


def registry_of(site: Site, ws: Workstation) -> Any:
    """The workstation's form registry, encrypted to its unit's keys, HIM's and escrow."""
    from forms.registry import FormRegistry

    return FormRegistry(ws.folder / "registry",
                        [*site.recipients["units"][ws.unit], *site.recipients["escrow"],
                         str(site.him.to_public())])


def print_packet(ctx: DrillContext, ws: Workstation, printer: str
                 ) -> tuple[bytes, int, list[Any]]:
    """One unit's packet printed from its workstation; (pdf, pages, form records).
    PrintError when the printer cannot take it (nothing registered as printed then)."""
    from forms.delivery import PrintRequest, deliver
    from forms.printing import check_printer
    from forms.render import FormContext, plan, render_pdf
    from snapshots.sealed import open_snapshot
    from snapshots.store import newest_for_unit

    site = site_of(ctx)
    check_printer(printer)  # before laying out pages for a queue that is not there
    identity = ws.opened_identity(site.passphrase)
    newest = newest_for_unit(ws.store, identity.recipient, ws.unit)
    if newest is None:
        raise DrillActionError(f"{ws.name}: no snapshot installed for unit {ws.unit}")
    snapshot = open_snapshot(newest.path, site.trusted, [identity])
    try:
        # laid out in this process, as `print packet` does for a unit's packet (the forms'
        # worker pool is for a whole hospital at once)
        context = FormContext(snapshot, ws.unit, f"drill ({ws.name})", _now(), "Letter")
        # the packet, and what else a unit takes into downtime: each patient's vitals
        # flowsheet and a registration form (a pre-allocated downtime MRN) for an arrival
        forms = [step() for kind in ("packet", "vitals", "registration")
                 for step in plan(context, kind, None)]
        pdf, pages = render_pdf(forms)
        records = [f.record for f in forms]
    finally:
        snapshot.close()
    deliver(PrintRequest("packet", ws.unit, printer=printer, printed_by=f"drill ({ws.name})"),
            registry_of(site, ws), pdf, pages, records)
    return pdf, pages, records


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def first_per_unit(site: Site, units: list[str] | None) -> list[Workstation]:
    chosen: dict[str, Workstation] = {}
    for ws in site.workstations:
        if (units is None or ws.unit in units) and ws.unit not in chosen:
            chosen[ws.unit] = ws
    return list(chosen.values())


def run_print(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    from forms.printing import PrintError

    site = site_of(ctx)
    units = params.get("units")
    stations = first_per_unit(site, list(units) if units else None)
    if not stations:
        return failed("no workstation to print from: an `install-agents` step first")
    cups = ensure_cups(ctx)
    printed, problems, pages = [], [], 0
    with timer() as took:
        for ws in stations:
            try:
                pdf, n, records = print_packet(ctx, ws, cups.queue)
            except (PrintError, DrillActionError) as e:
                problems.append(f"{ws.unit}: {why(e)}")
                continue
            printed.append((ws.unit, ws.name, pdf, n, records))
            pages += n
    ctx.shared.setdefault(PRINTED, []).extend(printed)
    figures = {"packets_printed": len(printed), "print_failures": len(problems),
               "pages_printed": pages, "print_seconds": took[0]}
    if problems:
        return failed(f"{len(problems)} packet(s) not printed: {problems[0]}", figures=figures)
    return StepResult(detail=f"{len(printed)} packets, {pages} pages -> {cups.queue}",
                      figures=figures)


register(ActionSpec(
    name="print-packets", run=run_print, optional=("units", "fault"),
    summary="each unit's downtime packet printed from its workstation to the drill's CUPS "
            "queue (registered, sent with lp, recorded printed)",
    figures=("packets_printed", "print_failures", "pages_printed", "print_seconds"),
    faults=("printer-offline",)))
