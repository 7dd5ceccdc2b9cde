"""The episode journal: events read back as written, a torn last line recognised and cut off by
the next writer, damage before it loud; and the writer killed with SIGKILL at random points,
over and over: no event it had returned is ever lost or damaged, at most the one being
written, and the journal reopens cleanly every time."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import time

import pyrage
import pytest

from reconcile.journal import Journal, JournalError, write_durably


@pytest.fixture(scope="module")
def ident():
    return pyrage.x25519.Identity.generate()


def _journal(path, ident):
    return Journal(path, [str(ident.to_public())], [ident])


def test_events_read_back_in_order(tmp_path, ident):
    j = _journal(tmp_path, ident)
    j.append("a", {"n": 1}, "clerk")
    j.append_many([("b", {"n": 2}), ("c", {"n": 3})], "clerk")
    events = _journal(tmp_path, ident).read()
    assert [(e.seq, e.type, e.data["n"], e.by) for e in events] == [
        (1, "a", 1, "clerk"), (2, "b", 2, "clerk"), (3, "c", 3, "clerk")]
    assert b'"n"' not in (tmp_path / "journal.log").read_bytes()  # encrypted


def test_torn_last_line_is_reported_then_cut_off(tmp_path, ident):
    j = _journal(tmp_path, ident)
    j.append("a", {"n": 1}, "clerk")
    with open(tmp_path / "journal.log", "ab") as f:
        f.write(b"YWdlLWVuY3J5cHRpb24ub3JnL3Yx")  # a crash mid-line: no newline
    reader = _journal(tmp_path, ident)
    assert [e.seq for e in reader.read()] == [1]
    assert reader.torn is not None and "cut short by a crash" in reader.torn.text(reader.path)
    writer = _journal(tmp_path, ident)
    writer.append("b", {"n": 2}, "clerk")
    assert writer.repaired is not None
    assert [e.seq for e in _journal(tmp_path, ident).read()] == [1, 2]


def test_damage_before_the_end_is_loud(tmp_path, ident):
    j = _journal(tmp_path, ident)
    for n in range(3):
        j.append("a", {"n": n}, "clerk")
    lines = (tmp_path / "journal.log").read_bytes().split(b"\n")
    lines[1] = lines[1][:20] + (b"A" if lines[1][20:21] != b"A" else b"B") + lines[1][21:]
    (tmp_path / "journal.log").write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match="event 2 .* cannot be read .* damaged"):
        _journal(tmp_path, ident).read()


def test_a_removed_event_is_seen(tmp_path, ident):
    j = _journal(tmp_path, ident)
    for n in range(3):
        j.append("a", {"n": n}, "clerk")
    lines = (tmp_path / "journal.log").read_bytes().split(b"\n")
    (tmp_path / "journal.log").write_bytes(b"\n".join([lines[0], *lines[2:]]))
    with pytest.raises(JournalError, match="event 3 does not follow event 1"):
        _journal(tmp_path, ident).read()


def test_another_identity_is_told_so(tmp_path, ident):
    _journal(tmp_path, ident).append("a", {}, "clerk")
    other = pyrage.x25519.Identity.generate()
    with pytest.raises(JournalError, match="not encrypted to this identity"):
        Journal(tmp_path, [str(other.to_public())], [other]).read()


def _expected(n: int) -> dict:
    """What event n holds: checkable by the reader without the writer's help."""
    rng = random.Random(n)
    size = rng.choice([50] * 3 + [600_000])  # now and then a long write, to be cut mid-way
    return {"n": n, "pad": hashlib.sha256(str(n).encode()).hexdigest() * (size // 64)}


def _writer(folder, recipient, secret, acks, ready) -> None:
    """The child: a page copy written durably, then its event; says each event it returned."""
    ident = pyrage.x25519.Identity.from_str(secret)
    j = Journal(folder, [recipient], [ident])
    j.read()
    n = j.last_seq
    ready.set()
    while True:
        n += 1
        copy = folder / "pages" / f"{n}.age"
        write_durably(copy, pyrage.encrypt(str(n).encode() * 1000,
                                           [pyrage.x25519.Recipient.from_str(recipient)]))
        event = j.append("page-read", {**_expected(n), "copy": copy.name}, "writer")
        os.write(acks, f"{event.seq}\n".encode())


def test_sigkill_at_random_points_loses_nothing_written(tmp_path, ident):
    ctx = multiprocessing.get_context("fork")  # a fresh interpreter each time costs 100x
    rng = random.Random(11)
    acked, torn_seen, kills, before = 0, 0, 100, 0
    for _ in range(kills):
        read_fd, write_fd = os.pipe()
        ready = ctx.Event()
        child = ctx.Process(target=_writer, args=(tmp_path, str(ident.to_public()),
                                                  str(ident), write_fd, ready))
        child.start()
        os.close(write_fd)
        ready.wait(30)
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        with os.fdopen(read_fd, "rb") as acks:
            said = [int(x) for x in acks.read().split()]
        acked = max([acked, *said])
        reader = _journal(tmp_path, ident)
        events = reader.read()  # reopens cleanly: a torn last line is no error
        torn_seen += reader.torn is not None
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(events) >= max(acked, before), f"event {acked} was returned, then lost"
        # besides what it said it wrote, at most the one it was writing (durable, but killed
        # before it could say so)
        assert len(events) - before <= len(said) + 1
        before = len(events)
        for e in events:
            assert {k: v for k, v in e.data.items() if k != "copy"} == _expected(e.seq)
            # the page copy its event names was durable before the event
            copy = tmp_path / "pages" / e.data["copy"]
            assert pyrage.decrypt(copy.read_bytes(), [ident]) == str(e.seq).encode() * 1000
    print(f"{kills} kills, {before} events, {torn_seen} torn last lines recognised")
    assert before > kills // 2  # the writer got work done between the kills
