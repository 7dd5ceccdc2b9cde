"""A real CUPS print queue for the tests: the system's cupsd (started if it is not running)
with a cups-pdf queue, whose output PDFs land in $HOME/PDF. `make test` installs cups and
printer-driver-cups-pdf."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

PDF_QUEUE = "downtime-test-pdf"
REJECTING_QUEUE = "downtime-test-rejecting"
# cups-pdf writes to the job owner's home from the password database, whatever $HOME says
OUTPUT = Path(pwd.getpwuid(os.getuid()).pw_dir) / "PDF"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def ensure_cups() -> None:
    for tool in ("cupsd", "lpadmin", "lp", "lpstat"):
        assert shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists(), \
            f"{tool} missing: `make test` installs cups and printer-driver-cups-pdf"
    if _run("lpstat", "-r").returncode != 0:
        subprocess.run(["/usr/sbin/cupsd"], check=True, timeout=30)
        for _ in range(50):
            if _run("lpstat", "-r").returncode == 0:
                break
            time.sleep(0.2)
    if PDF_QUEUE not in _run("lpstat", "-e").stdout.split():
        model = next((line.split()[0] for line in _run("lpinfo", "-m").stdout.splitlines()
                      if "CUPS-PDF" in line), "lsb/usr/cups-pdf/CUPS-PDF_noopt.ppd")
        done = _run("lpadmin", "-p", PDF_QUEUE, "-E", "-v", "cups-pdf:/", "-m", model)
        assert done.returncode == 0, done.stderr
    if REJECTING_QUEUE not in _run("lpstat", "-e").stdout.split():
        done = _run("lpadmin", "-p", REJECTING_QUEUE, "-E", "-v", "file:/dev/null")
        assert done.returncode == 0, done.stderr
    _run("cupsreject", REJECTING_QUEUE)


def wait_for_output(since: float, title_part: str, timeout: float = 90) -> Path:
    """The PDF cups-pdf wrote for a job (named after its title) after `since`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [p for p in OUTPUT.glob("*.pdf")
                 if p.stat().st_mtime >= since - 1 and title_part in p.name]
        if found:
            newest = max(found, key=lambda p: p.stat().st_mtime)
            size = newest.stat().st_size
            time.sleep(0.5)
            if size and newest.stat().st_size == size:
                return newest
        time.sleep(0.5)
    raise AssertionError(f"no PDF with {title_part!r} from the cups-pdf queue in {timeout} s")
