"""A real CUPS print queue for the tests: a private cupsd of the tests' own, on a free loopback
port with its own configuration, spool and state, so the tests neither depend on nor change the
machine's CUPS. It has a cups-pdf queue (output PDFs land in the job owner's ~/PDF), a queue
that refuses jobs, a stopped (disabled) queue that accepts jobs and holds them, and one that
discards them (for the benchmarks: no plaintext copy left in ~/PDF). Each server numbers its
jobs from a random start and tests find their output by job number, so test modules with
servers of their own can run at the same time.
`make test` installs cups and printer-driver-cups-pdf.

Clients (`lp`, `lpstat`, `lpadmin`, and `downtime print`) reach it through $CUPS_SERVER."""

from __future__ import annotations

import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PDF_QUEUE = "downtime-test-pdf"
REJECTING_QUEUE = "downtime-test-rejecting"
STOPPED_QUEUE = "downtime-test-stopped"  # accepts jobs but is disabled: holds them
DISCARD_QUEUE = "downtime-test-discard"  # takes jobs and throws them away (the benchmarks')
# cups-pdf writes to the job owner's home from the password database, whatever $HOME says
OUTPUT = Path(pwd.getpwuid(os.getuid()).pw_dir) / "PDF"
CUPS_PDF_PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
CUPSD = Path("/usr/sbin/cupsd")

# No authentication on a loopback-only test server: the tests add and reject queues as
# whatever user runs them.
CUPSD_CONF = """\
Listen 127.0.0.1:{port}
LogLevel warn
WebInterface No
Browsing Off
DefaultAuthType None
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
FileDevice Yes
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


def _write_config(root: Path, port: int) -> None:
    for sub in ("etc/ppd", "spool/tmp", "state", "cache", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "cupsd.conf").write_text(CUPSD_CONF.format(port=port))
    (root / "etc" / "cups-files.conf").write_text(CUPS_FILES_CONF.format(root=root))
    # cups-pdf names its output after the title and the job number, in the one ~/PDF of the
    # user: two private servers numbering from 1 each would write over each other's files
    (root / "cache" / "job.cache").write_text(
        f"NextJobId {random.randrange(1000, 10_000_000)}\n")
    # filters run as the unprivileged `lp` user and must reach the spool below this folder
    for path in (root, *root.rglob("*")):
        if path.is_dir():
            path.chmod(0o755)


def _wait_until_up(env: dict[str, str], daemon: subprocess.Popen, root: Path) -> None:
    for _ in range(100):
        if daemon.poll() is not None:
            break
        if "scheduler is running" in _run("lpstat", "-r", env=env).stdout:
            return
        time.sleep(0.1)
    log = root / "log" / "error_log"
    detail = log.read_text()[-2000:] if log.exists() else "(no error log)"
    raise AssertionError(f"private cupsd did not come up:\n{detail}")


def _add_queues(env: dict[str, str]) -> None:
    done = _run("lpadmin", "-p", PDF_QUEUE, "-E", "-v", "cups-pdf:/", "-P", str(CUPS_PDF_PPD),
                env=env)
    assert done.returncode == 0, done.stderr
    done = _run("lpadmin", "-p", REJECTING_QUEUE, "-E", "-v", "file:/dev/null", env=env)
    assert done.returncode == 0, done.stderr
    done = _run("cupsreject", "-r", "closed for the test", REJECTING_QUEUE, env=env)
    assert done.returncode == 0, done.stderr
    done = _run("lpadmin", "-p", STOPPED_QUEUE, "-E", "-v", "file:/dev/null", env=env)
    assert done.returncode == 0, done.stderr
    done = _run("cupsdisable", "-r", "paper jam", STOPPED_QUEUE, env=env)
    assert done.returncode == 0, done.stderr
    done = _run("lpadmin", "-p", DISCARD_QUEUE, "-E", "-v", "file:/dev/null", env=env)
    assert done.returncode == 0, done.stderr


@contextmanager
def private_cups() -> Iterator[str]:
    """Run a private cupsd with the test queues; yield its address for $CUPS_SERVER."""
    for tool in ("lpadmin", "lp", "lpstat", "cupsreject", "cupsdisable"):
        assert shutil.which(tool), \
            f"{tool} missing: `make test` installs cups and printer-driver-cups-pdf"
    assert CUPSD.exists(), "cupsd missing: `make test` installs cups"
    assert CUPS_PDF_PPD.exists(), "cups-pdf missing: `make test` installs printer-driver-cups-pdf"
    root = Path(tempfile.mkdtemp(prefix="downtime-cups-"))
    port = _free_port()
    _write_config(root, port)
    server = f"127.0.0.1:{port}"
    env = {**os.environ, "CUPS_SERVER": server}
    daemon = subprocess.Popen([str(CUPSD), "-f", "-c", str(root / "etc" / "cupsd.conf"),
                               "-s", str(root / "etc" / "cups-files.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_up(env, daemon, root)
        _add_queues(env)
        yield server
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
        shutil.rmtree(root, ignore_errors=True)


def _ends_whole(pdf: Path) -> bool:
    with open(pdf, "rb") as f:
        f.seek(max(0, pdf.stat().st_size - 64))
        return b"%%EOF" in f.read()


def job_number(output: str) -> str:
    """The CUPS job number in `downtime print`'s "-> QUEUE job QUEUE-1234" line."""
    match = re.search(r"job \S+-(\d+)", output)
    assert match, f"no CUPS job in {output!r}"
    return match[1]


def wait_for_output(since: float, title_part: str, job: str, timeout: float = 90) -> Path:
    """The PDF cups-pdf wrote for job number `job` (named after its title and number) after
    `since`, once whole: Ghostscript may pause mid-file on a loaded machine, so a size that
    holds still is not enough; the file must also end with the PDF trailer."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [p for p in OUTPUT.glob(f"*-job_{job}.pdf")
                 if p.stat().st_mtime >= since - 1 and title_part in p.name]
        if found:
            newest = max(found, key=lambda p: p.stat().st_mtime)
            size = newest.stat().st_size
            time.sleep(0.5)
            if size and newest.stat().st_size == size and _ends_whole(newest):
                return newest
        time.sleep(0.5)
    raise AssertionError(f"no PDF with {title_part!r} from the cups-pdf queue in {timeout} s")
