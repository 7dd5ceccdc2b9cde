"""The real `downtime drill run FILE` on a terminal (tmux, 110x32): the live view comes up,
the gate is signed with a typed name, the drill ends, q writes the report and the command
exits with the drill's status."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.drill_helpers import TEXT, TMUX, Tmux

ROOT = Path(__file__).resolve().parents[1]
# the command as installed, with the tests' tiny actions registered first
LAUNCH = ("import sys; sys.path.insert(0, {root!r}); from tests.drill_helpers import actions; "
          "actions(); from downtime.cli import main; sys.argv[0] = 'downtime'; main()")


@pytest.mark.slow
def test_drill_run_on_a_terminal_signs_the_gate_in_the_live_view(tmp_path):
    assert TMUX, "tmux is needed (make test installs it)"
    script = tmp_path / "d.toml"
    script.write_text(TEXT)
    launch = LAUNCH.format(root=str(ROOT))
    tmux = Tmux()
    tmux.run("new-session", "-d", "-s", tmux.session, "-x", "110", "-y", "32",
             f"cd {tmp_path} && TERM=xterm-256color {sys.executable} -c \"{launch}\" drill run "
             f"d.toml --report out; echo EXIT=$?; sleep 30")
    try:
        shown = tmux.wait_for("GATE sign: sign-off by the CMIO")
        assert "Go live?" in shown and "GATE WAITING: CMIO" in shown
        tmux.type("Dr. Ana Ruiz")
        tmux.wait_for("Dr. Ana Ruiz")
        tmux.key("Tab")
        time.sleep(0.2)
        tmux.key("Enter")  # Approve
        shown = tmux.wait_for("drill passed (exit 0)")
        assert "PASSED" in shown and "gate sign: approved by Dr. An" in shown
        tmux.key("q")
        shown = tmux.wait_for("EXIT=")
        assert "EXIT=0" in shown and "wrote out/report.pdf" in shown
    finally:
        tmux.run("kill-server")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["gates"][0]["name"] == "Dr. Ana Ruiz"
    assert report["gates"][0]["pre_approved"] is False
