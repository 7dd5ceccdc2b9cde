"""Printing through CUPS with `lp`, the PDF on standard input: no temporary file on disk."""

from __future__ import annotations

import os
import re
import shutil
import subprocess


class PrintError(Exception):
    """The job did not reach the printer. The message says why, in one line."""


def _cups_env() -> dict[str, str]:
    return dict(os.environ)


def list_printers() -> list[str]:
    """The CUPS queues this machine can print to."""
    if not shutil.which("lpstat"):
        raise PrintError("CUPS client tools (lpstat, lp) are not installed")
    out = subprocess.run(["lpstat", "-e"], capture_output=True, text=True, env=_cups_env(),
                         timeout=20)
    if out.returncode != 0:
        reason = (out.stderr.strip() or "lpstat failed").splitlines()[0]
        raise PrintError(f"cannot list printers: {reason}")
    return sorted(line.strip() for line in out.stdout.splitlines() if line.strip())


def send_pdf(pdf: bytes, printer: str, title: str) -> str:
    """Queue a PDF on `printer`; return the CUPS job id. Raises PrintError."""
    printers = list_printers()
    if printer not in printers:
        there = ", ".join(printers) or "none"
        raise PrintError(f"unknown printer {printer!r}; printers here: {there}")
    try:
        out = subprocess.run(["lp", "-d", printer, "-t", title, "-o", "media=Letter", "-"],
                             input=pdf, capture_output=True, env=_cups_env(), timeout=60)
    except subprocess.TimeoutExpired:
        raise PrintError(f"printer {printer!r} did not accept the job within 60 s") from None
    if out.returncode != 0:
        reason = out.stderr.decode(errors="replace").strip().splitlines()
        raise PrintError(f"printer {printer!r} refused the job: "
                         f"{reason[0] if reason else 'lp exit ' + str(out.returncode)}")
    match = re.search(r"request id is (\S+)", out.stdout.decode(errors="replace"))
    return match.group(1) if match else "?"
