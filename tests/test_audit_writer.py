"""The agent's audit writer (snapshots.audit.writer) and what browse and print append through
(snapshots.audit.client): entries signed and kept where the browsing user cannot write; the
browsing user kept out of the log; a writer that cannot be reached, or a socket answered by
someone else, leaves the entry in the user's spool, said and later handed over; anchors
copied off the workstation."""

from __future__ import annotations

import grp
import json
import logging
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from downtime.config import Config, load_config
from snapshots.audit import (
    AuditItem,
    AuditLog,
    head_path,
    load_audit_public_key,
    public_key_path,
    verify,
)
from snapshots.audit.client import WriterClient, audit_sink
from snapshots.audit.writer import (
    AuditAccess,
    AuditWriterService,
    check_request,
    socket_path,
    start_audit_writer,
)
from snapshots.local_socket import ServiceError

ROOT = os.getuid() == 0
NOBODY = 65534


@pytest.fixture
def short_dir():
    """A folder with a short path (a socket address holds 107 bytes), that other users may
    enter (pytest's own folders are root's only), so that what keeps them out is the
    writer's modes."""
    folder = Path(tempfile.mkdtemp(prefix="dta-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _writer(root: Path, group: str | None = None, **kw) -> AuditWriterService:
    access = AuditAccess(root / "run", group)
    log = root / "audit" / "audit.log"
    return AuditWriterService(log, log.parent / "audit-key.pem", access, host="ws-4W-1", **kw)


def _client(service: AuditWriterService, spool: Path) -> WriterClient:
    return WriterClient(service.log_path, service.access, spool)


def _entries(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_entries_go_through_the_writer_signed_and_name_the_asking_os_user(short_dir):
    service = _writer(short_dir)
    service.start()
    try:
        client = _client(service, short_dir / "spool.log")
        written = client.append("chart-open", "badge 4411", patient_id="p1", snapshot_id="s1")
        client.append_many("print", "badge 4411", [AuditItem("p1", "s1", f"mar DT-{i}")
                                                   for i in range(3)])
    finally:
        service.close()
    assert client.warning is None and not (short_dir / "spool.log").exists()
    assert written["seq"] == 1 and written["key"] == service.audit.signer.id
    entries = _entries(service.log_path)
    assert [e["action"] for e in entries] == ["chart-open", "print", "print", "print"]
    me = "root" if ROOT else entries[0]["os_user"]
    assert all(e["os_user"] == me and e["host"] == "ws-4W-1" for e in entries)
    public = load_audit_public_key(public_key_path(service.key_path))
    result = verify(service.log_path, public, key_source="audit-key.pub")
    assert result.ok and result.guarantee == "keyed", str(result)
    assert not service.path.exists()  # the socket goes with the service


def test_the_writers_files_are_its_own_and_closed_to_others(short_dir):
    (short_dir / "audit").mkdir(mode=0o700)
    (short_dir / "audit" / "audit.log").touch(mode=0o666)  # left open by hand
    (short_dir / "audit" / "audit.log").chmod(0o666)
    service = _writer(short_dir)
    service.start()
    try:
        _client(service, short_dir / "spool.log").append("unlock", "badge 4411")
    finally:
        service.close()
    modes = {p.name: p.stat().st_mode & 0o777 for p in (
        service.log_path.parent, service.log_path, head_path(service.log_path),
        service.key_path, public_key_path(service.key_path))}
    assert modes == {"audit": 0o700, "audit.log": 0o600, "audit.log.head": 0o600,
                     "audit-key.pem": 0o600, "audit-key.pub": 0o644}


def test_the_writer_refuses_a_log_folder_others_may_write_to(short_dir):
    (short_dir / "audit").mkdir(mode=0o777)
    (short_dir / "audit").chmod(0o777)
    with pytest.raises(ServiceError, match="others may write to this folder"):
        _writer(short_dir).start()


def test_the_writer_refuses_to_go_on_with_a_log_of_another_key(short_dir):
    service = _writer(short_dir)
    service.start()
    try:
        _client(service, short_dir / "spool.log").append("unlock", "badge 4411")
    finally:
        service.close()
    old = service.audit.signer.id
    service.key_path.unlink()  # the key lost: a new one would sign on from here
    with pytest.raises(ServiceError, match=f"signed by audit key {old}, but the key at"):
        _writer(short_dir).start()


@pytest.mark.skipif(not ROOT, reason="a file of another user needs root to make")
def test_the_writer_refuses_a_log_file_that_is_another_users(short_dir):
    folder = short_dir / "audit"
    folder.mkdir(mode=0o700)
    (folder / "audit.log").write_text("")
    os.chown(folder / "audit.log", NOBODY, NOBODY)  # made by the nurse in single-user days
    with pytest.raises(ServiceError, match="not the audit writer's own file .owned by nobody"):
        _writer(short_dir).start()
    assert not list((short_dir / "run").glob("*.sock"))


_AS_NOBODY = """
import json, os, socket, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
log, key, sock = sys.argv[1:4]
def attempt(what, do):
    try:
        do()
        print(what, "DONE")
    except OSError as e:
        print(what, type(e).__name__)
attempt("append", lambda: open(log, "a").write("{}\\n"))
attempt("head", lambda: open(log + ".head", "w").write("{}"))
attempt("replace", lambda: os.replace(log + ".head", log))
attempt("delete", lambda: os.unlink(log))
attempt("new-file", lambda: open(os.path.join(os.path.dirname(log), "x"), "w"))
attempt("read-key", lambda: open(key).read())
def ask():
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(sock)
    conn.sendall(json.dumps({"op": "append", "action": "break-glass", "user": "rn.kim",
                             "items": [{"patient_id": "p1", "snapshot_id": None,
                                        "detail": "crisis"}]}).encode() + b"\\n")
    answer = json.loads(conn.makefile("rb").readline())
    if not answer["ok"]:
        raise PermissionError(answer["why"])
attempt("socket", ask)
"""


def _as_nobody(service: AuditWriterService) -> dict[str, str]:
    done = subprocess.run([os.path.realpath(sys.executable), "-I", "-S", "-c", _AS_NOBODY,
                           str(service.log_path), str(service.key_path), str(service.where())],
                          capture_output=True, text=True, cwd="/", timeout=60)
    assert not done.stderr, done.stderr[-500:]
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


@pytest.mark.skipif(not ROOT, reason="becoming another user needs root")
@pytest.mark.parametrize("log_folder_mode", [0o700, 0o755])
def test_the_browsing_user_cannot_write_the_log_but_can_append_through_the_writer(
        short_dir, log_folder_mode):
    """Another OS user (nobody, of the writer's group): every way of changing the log is
    closed to them, whether the site leaves the log's folder 0700 or 0755; their entry goes
    in through the socket, under their own name."""
    (short_dir / "audit").mkdir(mode=log_folder_mode)
    (short_dir / "audit").chmod(log_folder_mode)
    service = _writer(short_dir, group=grp.getgrgid(NOBODY).gr_name)
    service.start()
    try:
        _client(service, short_dir / "spool.log").append("unlock", "badge 4411")
        tried = _as_nobody(service)
    finally:
        service.close()
    assert tried == {"append": "PermissionError", "head": "PermissionError",
                     "replace": "PermissionError", "delete": "PermissionError",
                     "new-file": "PermissionError", "read-key": "PermissionError",
                     "socket": "DONE"}
    entries = _entries(service.log_path)
    assert [(e["action"], e["os_user"]) for e in entries] == [("unlock", "root"),
                                                              ("break-glass", "nobody")]
    assert verify(service.log_path, service.audit.signer.public).ok


@pytest.mark.skipif(not ROOT, reason="becoming another user needs root")
def test_a_user_not_of_the_writers_group_is_kept_out(short_dir):
    service = _writer(short_dir)
    service.start()
    try:
        tried = _as_nobody(service)
    finally:
        service.close()
    assert tried["socket"] == "PermissionError"
    assert not service.log_path.exists() or service.log_path.read_text() == ""


def test_the_writer_checks_the_peer_itself(short_dir):
    """Behind the folder's mode, each connection's credentials: a uid neither the writer's
    nor root's nor of its group is refused."""
    service = _writer(short_dir)
    service.start()
    try:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            theirs.sendall(json.dumps({"op": "append", "action": "unlock", "user": "x",
                                       "items": [{}]}).encode() + b"\n")
            service.answer(ours, os.getuid() + 4242, os.getgid() + 4242)
            answer = json.loads(theirs.makefile("rb").readline())
    finally:
        service.close()
    assert answer == {"ok": False, "why": "not the audit writer's user nor of its group"}
    assert not service.log_path.exists() or service.log_path.read_text() == ""


_FAKE_WRITER = """
import os, socket, sys
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
os.setgroups([]); os.setgid(65534); os.setuid(65534)   # listens as nobody
listener.listen(1)
print("ready", flush=True)
conn, _ = listener.accept()
conn.sendall(b'{"ok": true, "entries": []}\\n')
"""


@pytest.mark.skipif(not ROOT, reason="a listener of another user needs root")
def test_a_socket_answered_by_another_user_is_not_the_writer(short_dir, tmp_path):
    """Someone else's process on the writer's socket (it would take the entries and keep
    none): the client does not hand it anything and spools instead, saying why."""
    access = AuditAccess(short_dir / "run")
    (short_dir / "run").mkdir(mode=0o755)
    log = tmp_path / "audit.log"
    fake = subprocess.Popen([os.path.realpath(sys.executable), "-I", "-S", "-c", _FAKE_WRITER,
                             str(socket_path(log, access))], stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout.readline().strip() == "ready"
        client = WriterClient(log, access, tmp_path / "spool.log")
        client.append("break-glass", "badge 4411", patient_id="p1", detail="crisis")
    finally:
        fake.kill()
        fake.wait(10)
    assert "answered by a process not of the folder's owner (nobody)" in client.warning
    assert [e["action"] for e in _entries(tmp_path / "spool.log")] == ["break-glass"]


def test_an_unreachable_writer_spools_says_so_and_hands_the_spool_over_later(short_dir, caplog):
    service = _writer(short_dir)
    spool = short_dir / "spool.log"
    client = _client(service, spool)
    client.append("unlock", "badge 4411", detail="ws-4W-1: unit:4W #1")
    client.append("break-glass", "badge 4411", patient_id="p1", detail="crisis")
    assert "the audit writer cannot be reached (no audit writer at" in client.warning
    assert "is the agent running?" in client.warning and str(spool) in client.warning
    spooled = _entries(spool)
    assert [e["action"] for e in spooled] == ["unlock", "break-glass"]
    assert "sig" not in spooled[0] and verify(spool).ok  # a plain chain, the user's own
    service.start()
    try:
        written = client.append("chart-open", "badge 4411", patient_id="p1")
    finally:
        service.close()
    assert client.warning is None and client.handed_over == 2 and written["seq"] == 3
    assert spool.read_text() == "" and not head_path(spool).exists()
    entries = _entries(service.log_path)
    assert [(e["action"], e.get("spooled")) for e in entries] == [
        ("unlock", spooled[0]["time"]), ("break-glass", spooled[1]["time"]),
        ("chart-open", None)]
    assert entries[1]["detail"] == "crisis"
    result = verify(service.log_path, service.audit.signer.public)
    assert result.ok and result.guarantee == "keyed"
    assert "entries 1..2 were kept in the spool of" in str(result)


def test_a_damaged_spool_is_handed_over_as_far_as_it_goes_and_kept(short_dir):
    service = _writer(short_dir)
    spool = short_dir / "spool.log"
    client = _client(service, spool)
    client.append("unlock", "badge 4411")
    with spool.open("a") as f:
        f.write('{"seq": 2, "act\n')
    service.start()
    try:
        client.append("lock", "badge 4411")
    finally:
        service.close()
    assert client.handed_over == 1
    assert "the audit spool was not handed over whole (1 line(s) were not entries (first: " \
           "line 2, not JSON" in client.warning
    kept = list(short_dir.glob("spool.log.kept-*"))
    assert len(kept) == 1 and '{"seq": 2, "act' in kept[0].read_text()
    assert kept[0].stat().st_mode & 0o777 == 0o600
    assert [e["action"] for e in _entries(service.log_path)] == ["unlock", "lock"]


def test_a_spool_the_writer_refuses_does_not_hold_later_entries_back(short_dir):
    service = _writer(short_dir)
    spool = short_dir / "spool.log"
    # a spool edited into something the writer does not take (it claims to be spooled)
    AuditLog(spool).append_rows([("lock", "x", AuditItem(spooled="2026-11-24T14:07:02Z"))])
    service.start()
    try:
        client = _client(service, spool)
        client.append("chart-open", "badge 4411", patient_id="p1")
        said = client.warning
        client.append("lock", "badge 4411")
    finally:
        service.close()
    assert said.startswith("the audit spool was not handed over whole (the audit writer "
                           "refused: bad request: a spooled entry is not one")
    assert [e["action"] for e in _entries(service.log_path)] == ["chart-open", "lock"]
    kept = list(short_dir.glob("spool.log.kept-*"))
    assert len(kept) == 1 and '"spooled"' in kept[0].read_text() and spool.read_text() == ""
    assert client.warning is None  # said once, with the entry that found it


def test_an_unwritable_spool_with_no_writer_is_an_audit_error(short_dir):
    from snapshots.audit import AuditError

    (short_dir / "blocker").write_text("a file, not a folder")
    client = WriterClient(short_dir / "audit.log", AuditAccess(short_dir / "run"),
                          short_dir / "blocker" / "spool.log")
    with pytest.raises(AuditError, match="cannot open audit log"):
        client.append("chart-open", "badge 4411", patient_id="p1")


def test_malformed_requests_are_refused_and_the_writer_goes_on(short_dir):
    service = _writer(short_dir)
    service.start()
    try:
        path = service.where()
        answers = []
        for request in (b"not json\n", b'{"op": "erase"}\n', b'{"op": "append"}\n',
                        b'{"op": "append", "action": "delete", "user": "x", "items": [{}]}\n',
                        b'{"op": "append", "action": "lock", "user": 7, "items": [{}]}\n',
                        b'{"op": "append", "action": "lock", "user": "x", "items": [{"a": 1}]}\n',
                        b'{"op": "append", "spooled": [{"seq": 1, "action": "lock"}]}\n'):
            with socket.socket(socket.AF_UNIX) as conn:
                conn.connect(str(path))
                conn.sendall(request)
                answers.append(json.loads(conn.makefile("rb").readline()))
        client = _client(service, short_dir / "spool.log")
        client.append("lock", "badge 4411")
    finally:
        service.close()
    assert all(a["ok"] is False and a["why"].startswith("bad request") for a in answers), answers
    assert client.warning is None and len(_entries(service.log_path)) == 1


def test_request_checks():
    rows = check_request({"op": "append", "action": "print", "user": "rn",
                          "items": [{"patient_id": "p1", "snapshot_id": "s", "detail": "mar"}]})
    assert rows == [("print", "rn", AuditItem("p1", "s", "mar"))]
    long = check_request({"op": "append", "action": "break-glass", "user": "n" * 900,
                          "items": [{"detail": "why " * 900}]})  # recorded, not refused
    assert long[0][1] == "n" * 900 and len(long[0][2].detail) == 3600
    for bad in ({"op": "append", "action": "print", "user": None, "items": [{}]},
                {"op": "append", "action": "print", "user": "rn", "items": "all"},
                {"op": "append", "action": "print", "user": "rn", "items": [{"detail": 7}]},
                {"op": "append", "spooled": [{"seq": 1, "time": "now"}]}):
        with pytest.raises(ValueError):
            check_request(bad)


def _appender(log: str, run: str, spool: str, who: str) -> None:
    client = WriterClient(Path(log), AuditAccess(Path(run)), Path(spool))
    for i in range(20):
        client.append("chart-open", who, patient_id=f"{who}-{i}")
    assert client.warning is None


def test_two_processes_through_the_writer_make_one_chain(short_dir):
    service = _writer(short_dir)
    service.start()
    try:
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_appender, args=(str(service.log_path),
                                                      str(short_dir / "run"),
                                                      str(short_dir / f"{w}.spool"), w))
                 for w in ("tui", "print")]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
    finally:
        service.close()
    assert [p.exitcode for p in procs] == [0, 0]
    result = verify(service.log_path, service.audit.signer.public)
    assert result.ok and result.entries == 40, str(result)


def _wait(condition, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_the_writer_anchors_its_heads_off_the_workstation(short_dir, caplog):
    share = short_dir / "share"
    service = _writer(short_dir, anchors=share, anchor_seconds=0.1)
    caplog.set_level(logging.INFO, "downtime.agent.audit")
    service.start()
    try:
        client = _client(service, short_dir / "spool.log")
        client.append("unlock", "badge 4411")
        _wait(lambda: "cannot anchor the audit log's head off the workstation" in caplog.text)
        assert not share.exists()  # a share not mounted is not made on the local disk
        client.append("chart-open", "badge 4411", patient_id="p1")  # appends go on
        share.mkdir()
        _wait(lambda: list(share.glob("*/seq-000000002.anchor")))
        assert "anchoring the audit log's head to" in caplog.text
        client.append("lock", "badge 4411")
    finally:
        service.close()  # and the last head, once more
    folder = next(share.iterdir())
    assert folder.name == f"ws-4W-1-{service.audit.signer.id}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "audit-key.pub", "seq-000000002.anchor", "seq-000000003.anchor"]
    result = verify(service.log_path, load_audit_public_key(folder / "audit-key.pub"),
                    key_source="the share's audit-key.pub", anchors=share)
    assert result.ok and result.guarantee == "anchored" and "up to seq 3" in result.summary()


def test_start_audit_writer_follows_the_config(tmp_path, short_dir, caplog):
    # writer = "local"
    assert start_audit_writer(Config().audit, None, logging.getLogger("t")) is None
    config = tmp_path / "downtime.toml"
    (short_dir / "audit").mkdir(mode=0o777)
    (short_dir / "audit").chmod(0o777)
    config.write_text(f'[paths]\naudit_log = "{short_dir}/audit/audit.log"\n[audit]\n'
                      f'writer = "agent"\nsocket_dir = "{short_dir}/run"\n')
    caplog.set_level(logging.ERROR)
    assert start_audit_writer(*_audit(load_config(config)), logging.getLogger("t")) is None
    assert "NOT writing the audit entries of browse and print" in caplog.text
    assert "others may write to this folder" in caplog.text
    (short_dir / "audit").chmod(0o700)
    service = start_audit_writer(*_audit(load_config(config)), logging.getLogger("t"))
    try:
        assert service is not None and service.key_path == short_dir / "audit" / "audit-key.pem"
        sink = audit_sink(*_audit(load_config(config)))
        sink.append("unlock", "badge 4411")
        assert sink.warning is None and len(_entries(short_dir / "audit" / "audit.log")) == 1
    finally:
        service.close()


def test_audit_sink_is_the_log_itself_in_single_user_mode(tmp_path):
    config = tmp_path / "downtime.toml"
    config.write_text('[paths]\naudit_log = "audit.log"\n')
    sink = audit_sink(*_audit(load_config(config)))
    assert isinstance(sink, AuditLog) and sink.path == tmp_path / "audit.log"
    assert sink.warning is None


def test_agent_status_says_when_the_audit_writer_cannot_take_entries(tmp_path, short_dir):
    """With [audit] writer = "agent", a writer that does not answer is a readiness problem
    (care would go on, its record unauthenticated in the spool); one that answers is none."""
    from snapshots.audit.client import writer_problem

    config = tmp_path / "downtime.toml"
    (short_dir / "audit").mkdir(mode=0o700)
    config.write_text(f'[paths]\naudit_log = "{short_dir}/audit/audit.log"\n[audit]\n'
                      f'writer = "agent"\nsocket_dir = "{short_dir}/run"\n')
    assert writer_problem(Config().audit, None) == ""  # writer = "local": nothing to reach
    problem = writer_problem(*_audit(load_config(config)))
    assert problem.startswith("audit writer: ") and "is the agent running?" in problem
    service = start_audit_writer(*_audit(load_config(config)), logging.getLogger("t"))
    try:
        assert writer_problem(*_audit(load_config(config))) == ""
    finally:
        service.close()
    assert "is the agent running?" in writer_problem(*_audit(load_config(config)))


def _audit(config: Config) -> tuple:
    """What the audit code takes of a config: its [audit] table and paths.audit_log."""
    return config.audit, config.paths.audit_log
