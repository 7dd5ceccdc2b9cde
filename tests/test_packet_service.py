"""The agent hands its pre-rendered packet to `downtime print` over its socket: the nurse's
command prints it without a passphrase; only this OS user may ask; a wrong printer does not
use the packet up; anything amiss falls back to laying the packet out in the command."""

from __future__ import annotations

import grp
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pyrage
import pytest
import zxingcpp
from click.testing import CliRunner

from downtime.cli import cli
from downtime.config import ConfigError, load_config
from downtime.packet_service import (
    Access,
    PacketService,
    ServiceError,
    allowed,
    check_request,
    fetch_packet,
    socket_path,
)
from forms.prerender import FOLDER, day_of, packet_path, prerender_packet
from forms.qr import QrPayload
from forms.registry import read_registry
from snapshots.keys import load_identity
from snapshots.sealed import open_snapshot
from tests.cups import PDF_QUEUE, job_number, private_cups, wait_for_output
from tests.factory import Keys, print_site, sealed_snapshot

PASS = "agent-print-pass"
DOWNTIME = [str(Path(sys.executable).parent / "downtime")]


@pytest.fixture
def served(tmp_path):
    """A store with a unit snapshot, its packet pre-rendered, and the agent's service on it."""
    keys = Keys()
    store = tmp_path / "store"
    made = sealed_snapshot(store, keys)
    snapshot = open_snapshot(made, keys.trusted, [keys.unit])
    prerender_packet(snapshot, "4W", store / FOLDER, [keys.unit.recipient])
    service = PacketService(store, store / FOLDER, [keys.unit.secret])
    service.start()
    yield store, snapshot.manifest.snapshot_id, service
    service.close()
    snapshot.close()


def test_the_packet_is_handed_over_once(served):
    store, sid, service = served
    packet, why = fetch_packet(store, "4W", sid, "Letter")
    assert why == "" and packet is not None
    pdf, pages, records = packet
    assert pdf.startswith(b"%PDF") and pages == 21 and records[0].kind == "census"
    assert not (store / FOLDER / packet_path(Path(), "4W", sid, "Letter",
                                             day_of(datetime.now(UTC))).name).exists()
    again, why = fetch_packet(store, "4W", sid, "Letter")
    assert again is None and "no Letter packet of unit 4W" in why


def test_only_the_packet_asked_for(served):
    store, sid, _ = served
    for unit, snapshot_id, paper in (("5E", sid, "Letter"), ("4W", "other-id", "Letter"),
                                     ("4W", sid, "A4")):
        packet, why = fetch_packet(store, unit, snapshot_id, paper)
        assert packet is None and "pre-rendered" in why
    assert fetch_packet(store, "4W", sid, "Letter")[0] is not None  # still there till then


def test_a_malformed_request_gets_a_reason_not_a_packet(served):
    store, sid, _ = served
    for request in (b'{"op": "take-packet", "unit": "../4W", "snapshot_id": "x", '
                    b'"paper": "Letter"}\n', b"not json\n", b'{"op": "give-key"}\n',
                    b"x" * 5000 + b"\n"):
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(socket_path(store)))
            conn.sendall(request)
            answer = json.loads(conn.makefile("rb").readline())
        assert answer["ok"] is False and answer["why"].startswith("bad request"), request[:40]
    assert fetch_packet(store, "4W", sid, "Letter")[0] is not None  # the service goes on


def test_request_checks():
    assert check_request({"op": "take-packet", "unit": "4W", "snapshot_id": "ab-1",
                          "paper": "A4"}) == ("4W", "ab-1", "A4")
    for bad in ({"op": "take-packet", "unit": ".hidden", "snapshot_id": "a", "paper": "A4"},
                {"op": "take-packet", "unit": "4W", "snapshot_id": "a/b", "paper": "A4"},
                {"op": "take-packet", "unit": "4W", "snapshot_id": "a", "paper": "Legal"},
                ["take-packet"]):
        with pytest.raises(ValueError):
            check_request(bad)


def test_only_this_user_root_or_the_packet_group_may_ask():
    me, other = os.getuid(), os.getuid() + 4242
    assert allowed(me, 0) and allowed(0, 0)
    assert not allowed(other, 4242) and not allowed(other, 4242, group_id=4243)
    assert allowed(other, 4243, group_id=4243)  # primary group


@pytest.fixture
def short_dir():
    """A folder with a short path: a socket address holds 107 bytes, pytest's paths are long."""
    folder = Path(tempfile.mkdtemp(prefix="dt-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_socket_path_too_long_is_a_clear_error(tmp_path):
    access = Access(tmp_path / ("x" * 120))
    with pytest.raises(ServiceError, match="too long for a socket address"):
        PacketService(tmp_path / "store", tmp_path, [], access).start()
    packet, why = fetch_packet(tmp_path / "store", "4W", "id", "Letter", access)
    assert packet is None and "set paths.packet_socket_dir to a shorter folder" in why


def test_the_agent_closes_its_own_socket_folder_and_the_command_checks_it(tmp_path, short_dir):
    folder = short_dir / "sockets"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # as systemd makes a RuntimeDirectory by default
    access = Access(folder)
    service = PacketService(tmp_path / "store", tmp_path, [pyrage.x25519.Identity.generate()],
                            access)
    service.start()
    try:
        assert folder.stat().st_mode & 0o777 == 0o700
        assert socket_path(tmp_path / "store", access).stat().st_mode & 0o777 == 0o600
        folder.chmod(0o777)  # opened up under the agent: someone could swap the socket
        packet, why = fetch_packet(tmp_path / "store", "4W", "id", "Letter", access)
        assert packet is None and "socket folder is not safe to use" in why
    finally:
        service.close()


def test_packet_group_settings(tmp_path):
    config = tmp_path / "downtime.toml"
    config.write_text('[print]\npacket_group = "staff"\n')
    with pytest.raises(ConfigError, match="packet_group needs paths.packet_socket_dir"):
        Access.from_config(load_config(config))
    config.write_text('[paths]\npacket_socket_dir = "s"\n[print]\npacket_group = 7\n')
    with pytest.raises(ConfigError, match="must be the name of an OS group"):
        Access.from_config(load_config(config))
    config.write_text('[paths]\npacket_socket_dir = "s"\n[print]\n'
                      'packet_group = "no-such-group-here"\n')
    access = Access.from_config(load_config(config))
    assert access.folder == tmp_path / "s"
    with pytest.raises(ConfigError, match="no OS group 'no-such-group-here'"):
        access.group_id()
    done = CliRunner().invoke(cli, ["--config", str(config), "agent", "--prerender",
                                    "--inbox", str(tmp_path / "in"), "--store",
                                    str(tmp_path / "st"), "--trusted-key",
                                    str(_public_key(tmp_path))])
    assert done.exit_code == 1 and "no OS group 'no-such-group-here'" in done.output
    assert "Traceback" not in done.output


_AS_NOBODY = """
import json, os, socket, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(sys.argv[1])
    conn.sendall(json.dumps({"op": "take-packet", "unit": "4W", "snapshot_id": sys.argv[2],
                             "paper": "Letter"}).encode() + b"\\n")
    print(json.loads(conn.makefile("rb").readline())["ok"])
except OSError as e:
    print(type(e).__name__)
"""


def _as_nobody(path: Path, sid: str) -> str:
    """What another OS user (nobody, gid 65534) gets asking the agent at `path` itself."""
    done = subprocess.run([os.path.realpath(sys.executable), "-I", "-S", "-c", _AS_NOBODY,
                           str(path), sid], capture_output=True, text=True, cwd="/", timeout=60)
    assert not done.stderr, done.stderr[-500:]
    return done.stdout.strip()


@pytest.mark.skipif(os.getuid() != 0, reason="becoming another user needs root")
def test_another_user_cannot_reach_the_socket(served):
    store, sid, _ = served
    assert _as_nobody(socket_path(store), sid) == "PermissionError"
    assert fetch_packet(store, "4W", sid, "Letter")[0] is not None  # not taken by them


@pytest.mark.skipif(os.getuid() != 0, reason="becoming another user needs root")
def test_the_packet_group_may_ask_and_others_may_not(tmp_path):
    """A service's socket folder (systemd's /run/downtime): members of the packet group get
    the packet; without a packet group the same user is kept out by the folder's mode."""
    keys = Keys()
    store = tmp_path / "store"
    made = sealed_snapshot(store, keys)
    snapshot = open_snapshot(made, keys.trusted, [keys.unit])
    sid = snapshot.manifest.snapshot_id
    top = Path(tempfile.mkdtemp(prefix="dt-", dir="/tmp"))  # pytest's are root's only
    try:
        top.chmod(0o755)
        for group, expected in ((None, "PermissionError"), (grp.getgrgid(65534).gr_name, "True")):
            prerender_packet(snapshot, "4W", store / FOLDER, [keys.unit.recipient])
            access = Access(top / "run", group)
            service = PacketService(store, store / FOLDER, [keys.unit.secret], access)
            service.start()
            try:
                assert _as_nobody(socket_path(store, access), sid) == expected, group
            finally:
                service.close()
        assert (top / "run").stat().st_mode & 0o777 == 0o750
        assert (top / "run").stat().st_gid == 65534
    finally:
        shutil.rmtree(top)
        snapshot.close()


@pytest.mark.skipif(os.getuid() != 0, reason="handing a folder to another user needs root")
def test_a_socket_folder_of_another_user_is_refused(tmp_path, short_dir, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(short_dir))
    folder = short_dir / f"downtime-{os.getuid()}"
    folder.mkdir(mode=0o755)
    os.chown(folder, 65534, 65534)  # made first by someone else, who could run a fake agent
    socket.socket(socket.AF_UNIX).bind(str(socket_path(tmp_path / "store")))
    with pytest.raises(ServiceError, match="not a folder of this user's"):
        PacketService(tmp_path / "store", tmp_path, []).start()
    packet, why = fetch_packet(tmp_path / "store", "4W", "id", "Letter")
    assert packet is None and "not used" in why


def test_a_stale_socket_is_replaced_and_a_second_agent_refused(tmp_path):
    store = tmp_path / "store"
    path = socket_path(store)
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(path))  # an agent killed without cleaning up leaves this
    left.close()
    assert fetch_packet(store, "4W", "id", "Letter")[0] is None
    first = PacketService(store, tmp_path, [pyrage.x25519.Identity.generate()])
    first.start()
    try:
        with pytest.raises(ServiceError, match="another agent already serves"):
            PacketService(store, tmp_path, []).start()
        packet, why = fetch_packet(store, "4W", "id", "Letter")
        assert packet is None and "no Letter packet" in why
    finally:
        first.close()
    assert not path.exists()


def test_a_damaged_packet_is_not_handed_over(tmp_path):
    keys = Keys()
    folder = tmp_path / "store" / FOLDER
    folder.mkdir(parents=True)
    day = day_of(datetime.now(UTC))
    packet_path(folder, "4W", "sid", "Letter", day).write_bytes(
        pyrage.encrypt(b'{"forms": [], "pages": 3, "pdf": "bm90IGEgcGRm"}',
                       [pyrage.x25519.Recipient.from_str(keys.unit.recipient)]))
    service = PacketService(tmp_path / "store", folder, [keys.unit.secret])
    service.start()
    try:
        packet, why = fetch_packet(tmp_path / "store", "4W", "sid", "Letter")
    finally:
        service.close()
    assert packet is None and "no Letter packet" in why


def test_nurse_prints_the_agents_packet_without_a_passphrase(tmp_path):
    """Real processes: `downtime agent --prerender` (its passphrase in its environment), then
    `downtime print packet --printer` with no passphrase anywhere, through a real queue."""
    site = print_site(tmp_path / "site", PASS)
    store = site / "store"
    with private_cups() as server:
        env = {k: v for k, v in os.environ.items() if k != "DOWNTIME_PASSPHRASE"}
        env["CUPS_SERVER"] = server
        log = (site / "agent.log").open("w")
        agent = subprocess.Popen(DOWNTIME + ["--config", str(site / "downtime.toml"), "agent",
                                             "--prerender"], stdout=log,
                                 stderr=subprocess.STDOUT,
                                 env={**env, "DOWNTIME_PASSPHRASE": PASS})
        try:
            _wait_for(lambda: list((store / FOLDER).glob("packet-4W-*.age")) and
                      socket_path(store).exists(), site / "agent.log")

            wrong = _print(site, env, "--printer", "no-such-printer")
            assert wrong.returncode == 1 and "unknown printer 'no-such-printer'" in wrong.stderr
            assert PDF_QUEUE in wrong.stderr and "Traceback" not in wrong.stderr
            assert list((store / FOLDER).glob("packet-4W-*.age")), "a wrong queue used it up"

            started = time.time()
            done = _print(site, env, "--printer", PDF_QUEUE, "--user", "rn.kim")
            assert done.returncode == 0, done.stderr
            assert "21 pages" in done.stdout and "(pre-rendered)" in done.stdout
            assert "passphrase" not in done.stderr.lower()
            out = wait_for_output(started, "downtime_packet_4W", job_number(done.stdout))
            document = pdfium.PdfDocument(out.read_bytes())
            out.unlink()
            _wait_for(lambda: "handed the pre-rendered 4W packet" in
                      (site / "agent.log").read_text(), site / "agent.log")
        finally:
            agent.terminate()
            agent.wait(30)
            log.close()
    assert not socket_path(store).exists()  # the agent cleans up on SIGTERM
    events = read_registry(site / "registry",
                           [load_identity(site / "keys" / "escrow.age", PASS).secret])
    printed = {e.form_id: e for e in events if e.event == "printed"}
    assert len(document) == 21
    for page in document:
        form_id = QrPayload.parse(zxingcpp.read_barcodes(page.render(scale=2).to_pil())[0]
                                  .text).form_id
        assert printed[form_id].by == "rn.kim" and PDF_QUEUE in printed[form_id].detail
    audited = [json.loads(line) for line in (site / "audit.log").read_text().splitlines()]
    assert [e["user"] for e in audited if e["action"] == "print"] == ["rn.kim"] * len(printed)


def _public_key(root: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    path = root / "builder.pub"
    path.write_bytes(Keys().trusted.public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def _print(site: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(DOWNTIME + ["--config", str(site / "downtime.toml"), "print",
                                      "packet", "--unit", "4W", *args],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=120)


def _wait_for(condition, log: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out; agent log:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def test_the_print_command_loads_no_layout_code_until_it_lays_out():
    """The quick path's budget is under a second: WeasyPrint and Textual alone take a third."""
    code = ("import sys; from downtime.cli import cli; cli.get_command(None, 'print'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('weasyprint', 'textual') or m in ('forms.render', 'snapshots.build')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.strip() == "[]"
