"""`downtime reconcile submit`, `status`, `report` and `close` through the CLI with real keys:
submitted to the sandbox, or to an outbox (encrypted; plain JSON only when asked); status and
the report say what was transcribed, in conflict, decided, submitted and rejected; the episode
closes only once every issued page is accounted for, and then refuses more in one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pypdfium2
import pyrage
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.config import load_config
from downtime.generator import generate
from downtime.sandbox import start_sandbox
from reconcile.backentry import ToRecord, record_entries
from reconcile.episode import EpisodeClosed, load_episode
from reconcile.state import derive
from snapshots.audit.verify import read_entries
from snapshots.keys import create_identity, load_identity
from tests import back_entry_data as data
from tests.reconcile_helpers import START
from tests.submit_helpers import fill, mark_ready, transcribed

PASS = "correct horse battery"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submit-cli")
    generate(folder / "hospital", patients=4, seed=31,
             as_of=datetime.now(UTC).replace(microsecond=0))
    with start_sandbox(folder / "sandbox", load=folder / "hospital") as running:
        yield running


def site(root, url: str = ""):
    create_identity(root / "keys", "him-1", PASS)
    escrow = create_identity(root / "keys", "escrow", PASS)
    (root / "downtime.toml").write_text(
        f'[paths]\naudit_log = "audit.log"\n[recipients]\nescrow = ["{escrow}"]\n'
        + (f'[source]\nurl = "{url}"\n' if url else "")
        + '[reconcile]\nfolder = "rec"\nidentity = "keys/him-1.age"\n'
        '[reconcile.units]\n4W = ["ws-4W-1"]\n')
    run(root, "reconcile", "open", "--start", START.isoformat(), "--end",
        (START + timedelta(days=10)).isoformat(), "--units", "4W")
    config = load_config(root / "downtime.toml")
    ident = load_identity(root / "keys" / "him-1.age", PASS)
    from downtime.cli.reconcile import _recipients
    return load_episode(config.reconcile.folder, None, _recipients(config, ident),
                        [ident.secret], "test@him-1")


def run(root, *args, ok=True):
    result = CliRunner().invoke(cli, ["--config", str(root / "downtime.toml"), *args],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_submit_status_report_and_close(sandbox, tmp_path):
    root = tmp_path
    episode = site(root, sandbox.base_url)
    entries, pages = data.one_of_each("pat-cli-1", "enc-cli-1", seed=71)
    fill(episode, entries, pages, ready=False)
    mark_ready(episode, entries[:-1])  # the note waits: not checked
    episode.journal.append("conflicts-checked", {"against": {"url": sandbox.base_url},
                                                 "entries": [{
        "key": entries[-1].key, "revision": 0, "conflicts": [
            {"code": "outside-window", "reason": "the note's time is after the episode"}]}]},
        episode.who)
    got = run(root, "reconcile", "submit")
    assert "submitted Patient/pat-cli-1: 8 paper lines" in got.output
    assert "1 Bundle submitted to " + sandbox.base_url in got.output
    assert "1 in conflict, waiting for a decision (outside-window)" in got.output
    again = run(root, "reconcile", "submit")
    assert "0 Bundles submitted" in again.output and "8 sent before" in again.output
    status = json.loads(run(root, "reconcile", "status", "--json").output)
    figures = status["back_entry"]
    assert figures["entries"] == 9 and figures["submitted"] == 8
    assert figures["in-conflict"] == 1
    patient = status["units"]["4W"]["patients"]["pat-cli-1"]
    assert patient["back_entry"]["submitted"] == 8
    assert {r["entered_by"] for r in patient["entered"]} == {"Dana Reyes (HIM)"}
    assert status["conflicts"][0]["code"] == "outside-window"
    assert status["conflicts"][0]["decision"] is None
    one = json.loads(run(root, "reconcile", "status", "--patient", "pat-cli-1", "--json").output)
    other = json.loads(run(root, "reconcile", "status", "--patient", "nobody", "--json").output)
    assert one["back_entry"]["entries"] == 9 and other["back_entry"]["entries"] == 0
    shown = run(root, "reconcile", "status").output
    assert "submitted" in shown and "in conflict" in shown
    # the decision, then the rest goes
    episode.journal.append("conflict-decided", {
        "key": entries[-1].key, "revision": 0, "code": "outside-window",
        "decision": "accept", "reason": "clock on the ward was wrong", "person": "Dr. Ana "
        "Silva"}, episode.who)
    run(root, "reconcile", "submit")
    report = tmp_path / "custody.pdf"
    run(root, "reconcile", "report", "--pdf", str(report))
    text = " ".join(" ".join(p.get_textpage().get_text_range().split())
                    for p in pypdfium2.PdfDocument(report))
    assert "Dana Reyes (HIM)" in text and "outside-window" in text
    assert "clock on the ward was wrong" in text and "Dr. Ana Silva" in text
    # close: refused while pages are not transcribed, listing them
    refused = run(root, "reconcile", "close", "--reason", "all back", "--by", "Lee Park",
                  ok=False)
    assert refused.exit_code != 0
    lines = refused.output.strip().splitlines()
    assert "cannot be closed: 4 issued pages are not accounted for" in lines[0]
    assert all("back, not transcribed" in line for line in lines[1:]) and len(lines) == 5
    transcribed(episode, pages)
    closed = run(root, "reconcile", "close", "--reason", "all back", "--by", "Lee Park")
    assert "closed by Lee Park: 4 issued pages accounted for" in closed.output
    # a closed episode refuses submissions, scans and entries in one line
    again = run(root, "reconcile", "submit", ok=False)
    assert again.exit_code != 0 and "was closed by Lee Park" in again.output
    assert len(again.output.strip().splitlines()) == 1
    state = derive(episode.journal.read())
    with pytest.raises(EpisodeClosed, match="no more entries"):
        record_entries(episode.journal, state.entries, [ToRecord(entries[0], "tui")], "x")
    scan = tmp_path / "late.png"
    scan.write_bytes(data.PNG)
    late = run(root, "reconcile", "scan", str(scan), "--keep", ok=False)
    assert "no more scans" in late.output and scan.exists()
    (root / "inbox").mkdir()
    watched = run(root, "reconcile", "watch", "--inbox", str(root / "inbox"), ok=False)
    assert watched.exit_code != 0 and "no more scans" in watched.output
    logged, _ = read_entries(root / "audit.log")
    assert [e["action"] for e in logged] == ["submit", "submit"]


def test_outbox_is_encrypted_unless_asked(tmp_path):
    root = tmp_path
    episode = site(root)
    entries, pages = data.one_of_each("pat-out-1", "enc-out-1", seed=72)
    fill(episode, entries, pages)
    got = run(root, "reconcile", "submit", "--outbox", str(tmp_path / "outbox"))
    assert "written Patient/pat-out-1" in got.output
    [file] = (tmp_path / "outbox").iterdir()
    assert file.name.endswith(".json.age")
    raw = file.read_bytes()
    assert b"pat-out-1" not in raw and b"Jo Kim" not in raw and b"DT-" not in raw
    ident = load_identity(root / "keys" / "escrow.age", PASS)
    bundle = json.loads(pyrage.decrypt(raw, [ident.secret]))
    assert bundle["type"] == "transaction" and len(bundle["entry"]) > 9
    # written once: a second run writes nothing; a status says where they went
    run(root, "reconcile", "submit", "--outbox", str(tmp_path / "outbox"))
    assert len(list((tmp_path / "outbox").iterdir())) == 1
    status = json.loads(run(root, "reconcile", "status", "--json").output)
    assert status["back_entry"]["outbox"] == len(entries)
    # plain JSON only when asked, and only with --outbox
    more, more_pages = data.one_of_each("pat-out-2", "enc-out-2", seed=73)
    fill(episode, more, more_pages)
    run(root, "reconcile", "submit", "--outbox", str(tmp_path / "plain"), "--plaintext")
    [plain] = (tmp_path / "plain").iterdir()
    assert plain.name.endswith(".json") and b"pat-out-2" in plain.read_bytes()
    bad = run(root, "reconcile", "submit", "--plaintext", ok=False)
    assert bad.exit_code == 2 and "--plaintext goes with --outbox only" in bad.output
    nowhere = run(root, "reconcile", "submit", ok=False)
    assert "say where to: --to URL, --outbox DIR" in nowhere.output


def test_a_link_to_a_patient_the_server_lacks_is_said_in_one_line(sandbox, tmp_path):
    root = tmp_path
    episode = site(root, sandbox.base_url)
    entries, pages = data.registration(mrn="DT700001", number="DTE700001", seed=74)
    fill(episode, entries, pages)
    others, other_pages = data.one_of_each("pat-cli-9", "enc-cli-9", seed=75)
    fill(episode, others, other_pages)
    # linked to a patient the server does not have: that patient's entries are held with
    # the server's words, the others go
    episode.journal.append("registration-decided", {
        "key": entries[0].key, "downtime_mrn": "DT700001", "decision": "link",
        "patient_id": "no-such-patient", "grade": "certain", "person": "Dana Reyes"},
        episode.who)
    got = run(root, "reconcile", "submit")
    assert "submitted Patient/pat-cli-9" in got.output
    assert "2 entries held" in got.output
    assert "linked to EHR patient no-such-patient, who cannot be read (HTTP 404" in got.output
