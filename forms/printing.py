"""Printing through CUPS with `lp`, the PDF on standard input: no temporary file on disk."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from snapshots.errors import ToolkitError


class PrintError(ToolkitError):
    """The job did not reach the printer. The message says why, in one line."""

    reason = "print"


def _cups_env() -> dict[str, str]:
    # untranslated messages: lpstat's and lp's output is parsed
    return {**os.environ, "LC_ALL": "C"}


def _lpstat(*args: str) -> subprocess.CompletedProcess:
    if not shutil.which("lpstat"):
        raise PrintError("CUPS client tools (lpstat, lp) are not installed")
    try:
        return subprocess.run(["lpstat", *args], capture_output=True, text=True,
                              env=_cups_env(), timeout=20)
    except subprocess.TimeoutExpired:
        raise PrintError("CUPS did not answer within 20 s (is cupsd running?)") from None


def list_printers() -> list[str]:
    """The CUPS queues this machine can print to."""
    out = _lpstat("-e")
    if out.returncode != 0:
        reason = (out.stderr.strip() or "lpstat failed").splitlines()[0]
        raise PrintError(f"cannot list printers: {reason}")
    return sorted(line.strip() for line in out.stdout.splitlines() if line.strip())


def check_printer(printer: str) -> None:
    """PrintError unless `printer` is a queue here that is enabled. A stopped (disabled)
    queue still accepts jobs and holds them, so paper would silently not come out."""
    printers = list_printers()
    if printer not in printers:
        there = ", ".join(printers) or "none"
        raise PrintError(f"unknown printer {printer!r}; printers here: {there}")
    out = _lpstat("-p", printer)
    lines = out.stdout.splitlines()
    # "printer Q is idle.  enabled since ..." or "printer Q disabled since ... -" + reason
    if out.returncode == 0 and lines and re.match(rf"printer {re.escape(printer)} disabled",
                                                  lines[0]):
        reason = lines[1].strip() if len(lines) > 1 and lines[1].strip() else "no reason given"
        raise PrintError(f"printer {printer!r} is stopped (disabled: {reason}); start it "
                         f"(cupsenable {printer}) or choose another printer")


def send_pdf(pdf: bytes, printer: str, title: str, media: str = "Letter") -> str:
    """Queue a PDF on `printer` on `media` paper (Letter or A4); return the CUPS job id.
    Raises PrintError."""
    check_printer(printer)
    try:
        out = subprocess.run(["lp", "-d", printer, "-t", title, "-o", f"media={media}", "-"],
                             input=pdf, capture_output=True, env=_cups_env(), timeout=60)
    except subprocess.TimeoutExpired:
        raise PrintError(f"printer {printer!r} did not accept the job within 60 s") from None
    if out.returncode != 0:
        reason = out.stderr.decode(errors="replace").strip().splitlines()
        raise PrintError(f"printer {printer!r} refused the job: "
                         f"{reason[0] if reason else 'lp exit ' + str(out.returncode)}")
    match = re.search(r"request id is (\S+)", out.stdout.decode(errors="replace"))
    return match.group(1) if match else "?"
