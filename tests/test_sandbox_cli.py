"""`downtime sandbox serve`, `fault` and `status` as a user runs them: a real process on a
free port, its first line the base URL; and what goes wrong said in one line."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from downtime.generator import generate

ROOT = Path(__file__).resolve().parents[1]
DOWNTIME = str(Path(sys.executable).parent / "downtime")


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([DOWNTIME, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def one_line_error(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], \
        result.stderr
    assert "Traceback" not in result.stderr


def first_line(process: subprocess.Popen, timeout: float = 60) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "serve printed nothing"
    return process.stdout.readline().strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    generate(folder / "hospital", patients=5, seed=1)
    process = subprocess.Popen([DOWNTIME, "sandbox", "serve", "--data", str(folder / "data"),
                                "--load", str(folder / "hospital")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        base = first_line(process)
        yield process, base, folder / "data"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_prints_its_base_url_first_and_serves_the_hospital(served):
    _, base, data = served
    assert base.startswith("http://127.0.0.1:") and base.endswith("/fhir")
    assert httpx.get(f"{base}/Patient/pat-000001").status_code == 200
    info = json.loads((data / "sandbox.json").read_text())
    assert info["base_url"] == base


def test_fault_commands_reach_the_running_sandbox(served):
    _, base, data = served
    result = run("sandbox", "fault", "5xx", "--share", "1", "--status", "502", "--data", str(data))
    assert result.returncode == 0 and result.stdout.startswith("fault 5xx in force")
    assert httpx.get(f"{base}/Patient/pat-000001").status_code == 502
    status = json.loads(run("sandbox", "status", "--json", "--data", str(data)).stdout)
    assert status["faults"][0]["kind"] == "5xx" and status["up"] is True
    assert run("sandbox", "fault", "clear", "--data", str(data)).stdout.strip() == \
        "cleared: 5xx"
    assert httpx.get(f"{base}/Patient/pat-000001").status_code == 200
    assert run("sandbox", "fault", "down", "--data", str(data)).returncode == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/metadata")
    assert "DOWN" in run("sandbox", "status", "--data", str(data)).stdout
    assert run("sandbox", "fault", "clear", "down", "--data", str(data)).returncode == 0
    assert httpx.get(f"{base}/metadata").status_code == 200


def test_a_fault_it_cannot_have_is_one_line(served):
    _, _, data = served
    one_line_error(run("sandbox", "fault", "meltdown", "--data", str(data)),
                   "unknown fault 'meltdown': one of down, slow, 5xx, 429, truncate, clear")
    one_line_error(run("sandbox", "fault", "slow", "--data", str(data)), "needs seconds")
    one_line_error(run("sandbox", "fault", "429", "--keep", "0.5", "--data", str(data)),
                   "fault 429 takes no keep")


def test_sigterm_stops_it_cleanly(served):
    process, base, data = served
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not (data / "sandbox.json").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/metadata")
    one_line_error(run("sandbox", "fault", "5xx", "--data", str(data)),
                   "no sandbox is running there")


def test_a_port_in_use_and_a_folder_that_is_not_an_export(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        one_line_error(run("sandbox", "serve", "--data", str(tmp_path / "a"), "--port",
                           str(port)), f"127.0.0.1:{port} is in use")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    one_line_error(run("sandbox", "serve", "--data", str(tmp_path / "b"), "--load",
                       str(tmp_path / "notes")), "not a Bulk Data export (no .ndjson")
    one_line_error(run("sandbox", "serve", "--data", str(tmp_path / "c"), "--host",
                       "0.0.0.0"), "listens on 127.0.0.1 only")


def test_without_the_extra_it_says_what_to_install(tmp_path):
    code = ("import sys\n"
            "sys.modules['sekmet'] = None  # as on a workstation: not installed\n"
            "from downtime.cli import main\n"
            f"sys.argv = ['downtime', 'sandbox', 'serve', '--data', {str(tmp_path)!r}]\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env={**os.environ})
    one_line_error(result, "needs the [sandbox] extra (sekmet-fhir is not installed): "
                           "pip install 'downtime-toolkit[sandbox]'")
