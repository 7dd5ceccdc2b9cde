"""A tmux server of one test's own, driven as a person at the terminal would: what the
end-to-end TUI tests (browse, reconcile enter, the drill view) type and read."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time

TMUX = shutil.which("tmux")


class Tmux:
    def __init__(self, session: str = "tui") -> None:
        # a server of this test's own: two test runs at once on one machine would otherwise
        # share, and kill, one server
        self.socket = f"dt-{session}-{os.getpid()}-{secrets.token_hex(4)}"
        self.session = session
        self.tmux = TMUX  # None when tmux is not installed (make system-deps installs it)

    def run(self, *args: str) -> str:
        return subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=10).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-t", self.session, "-p")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on screen:\n{self.screen()}")

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", self.session, "-l", text)

    def key(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)
