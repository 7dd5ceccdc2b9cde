"""`downtime reconcile` through the CLI with real keys (passphrase-protected age identities),
real registries and audit logs: open an episode, collect two workstations' copies (a third
expected one sends nothing; one audit log broken), file pages, index a queued one by hand,
status in JSON and in the terminal, the custody report as a PDF. Bad input is one line."""

from __future__ import annotations

import json
from datetime import timedelta

import pypdfium2
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.config import load_config
from forms.registry import FormRecord, FormRegistry
from reconcile.episode import load_episode
from reconcile.filing import Filer
from snapshots.audit import AuditLog
from snapshots.keys import create_identity, load_identity
from tests.reconcile_helpers import START, Payload, page, record

PASS = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("him")
    him = create_identity(root / "keys", "him-1", PASS)
    escrow = create_identity(root / "keys", "escrow", PASS)
    ws = create_identity(root / "keys", "ws-4W-1", PASS)
    (root / "downtime.toml").write_text(
        f'[recipients]\nescrow = ["{escrow}"]\n'
        '[reconcile]\nfolder = "rec"\nidentity = "keys/him-1.age"\ninbox = "inbox"\n'
        '[reconcile.units]\n4W = ["ws-4W-1", "ws-4W-2", "ws-4W-3"]\n5E = ["ws-5E-1"]\n')
    # two workstations' copies: their registries are encrypted to the workstation and escrow
    for name, forms in (("ws-4W-1", ["DT-AAAAAAAAAA", "DT-BBBBBBBBBB"]),
                        ("ws-4W-2", ["DT-AAAAAAAAAA", "DT-CCCCCCCCCC"])):
        reg = FormRegistry(root / "share" / name / "registry", [ws, escrow])
        reg.append([FormRecord(**{k: v for k, v in record(f, patient="p1").items()
                                  if k in FormRecord.__dataclass_fields__})
                    for f in forms])
        log = AuditLog(root / "share" / name / "audit.log")
        log.append("print", "rn", patient_id="p1", detail="packet")
        log.append("print", "rn", patient_id="p1", detail="mar")
    broken = root / "share" / "ws-4W-2" / "audit.log"
    broken.write_text(broken.read_text().replace('"mar"', '"MAR"'))
    return root, him, escrow


def run(root, *args, ok=True):
    result = CliRunner().invoke(cli, ["--config", str(root / "downtime.toml"), *args],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_the_whole_path(site, tmp_path):
    root, _, _ = site
    opened = run(root, "reconcile", "open", "--start", START.isoformat(), "--end",
                 (START + timedelta(hours=10)).isoformat(), "--units", "4W")
    assert "episode EP-" in opened.output and "units 4W" in opened.output
    share = root / "share"
    got = run(root, "reconcile", "collect", str(share / "ws-4W-1"), str(share / "ws-4W-2"),
              "--identity", str(root / "keys" / "escrow.age"),
              "--identity-passphrase-file", str(_passfile(tmp_path)))
    out = got.output
    assert "ws-4W-1: 2 registry events (2 new)" in out
    assert "ws-4W-2: 2 registry events (1 new)" in out  # DT-AAAAAAAAAA printed: counted once
    assert "AUDIT LOG BROKEN: ws-4W-2" in out
    assert "NOTHING FROM ws-4W-3 (4W)" in out and "ws-5E-1" not in out
    assert "3 forms issued in the window" in out
    # without the escrow identity the station cannot open a workstation's registry: said
    again = run(root, "reconcile", "collect", str(share / "ws-4W-1"))
    assert "not encrypted to this identity (use the escrow identity)" in again.output
    # a second collect of the same copy adds nothing
    again = run(root, "reconcile", "collect", str(share / "ws-4W-1"), "--identity",
                str(root / "keys" / "escrow.age"))
    assert "ws-4W-1: 2 registry events (0 new)" in again.output

    config = load_config(root / "downtime.toml")
    ident = load_identity(root / "keys" / "him-1.age", PASS)
    from downtime.cli.reconcile import _recipients
    ep = load_episode(config.reconcile.folder, None, _recipients(config, ident),
                      [ident.secret], "test@him-1")
    filer = Filer(ep)
    filer.file_pages([page("s1.pdf", Payload("DT-AAAAAAAAAA", "mar", "p1", "e1", 1, 2), 1, 2),
                      page("s1.pdf", None, 2, 2)])
    status = json.loads(run(root, "reconcile", "status", "--json").output)
    assert status["totals"] == {"forms_issued": 3, "pages_in": 2, "pages_back": 1,
                                "pages_missing": 5, "pages_lost": 0, "back_after_lost": 0,
                                "queued": 1, "flagged": 0, "duplicates": 0, "set_aside": 0}
    assert "Downtime MAR DT-AAAAAAAAAA page 2 of 2" in \
        status["units"]["4W"]["patients"]["p1"]["missing"]
    assert status["workstations_missing"] == {"ws-4W-3": "4W"}
    assert status["workstations"]["ws-4W-2"]["audit"]["ok"] is False
    queued = status["queued"][0]["page"]

    indexed = run(root, "reconcile", "index", queued, "--form", "DT-AAAAAAAAAA", "--page", "2")
    assert "indexed by hand: Downtime MAR DT-AAAAAAAAAA page 2 of 2" in indexed.output
    status = json.loads(run(root, "reconcile", "status", "--json", "--patient", "p1").output)
    assert status["units"]["4W"]["patients"]["p1"]["pages_missing"] == 4
    view = run(root, "reconcile", "status").output
    assert "Unit 4W" in view and "nothing collected from ws-4W-3" in view

    # a page marked lost by a named person: counted apart, then the mark withdrawn
    lost = run(root, "reconcile", "lost", "DT-BBBBBBBBBB", "--page", "2", "--reason",
               "soaked, discarded on the unit", "--by", "Jane Doe RN")
    assert "marked lost: Downtime MAR DT-BBBBBBBBBB page 2 of 2, by Jane Doe RN" in lost.output
    status = json.loads(run(root, "reconcile", "status", "--json").output)
    assert (status["totals"]["pages_missing"], status["totals"]["pages_lost"]) == (3, 1)
    assert status["lost_marks"][0]["person"] == "Jane Doe RN"
    assert status["lost_marks"][0]["at"].endswith("Z")  # JSON keeps ISO 8601
    view = " ".join(run(root, "reconcile", "status").output.split())  # as wrapped at 80
    assert "1 marked lost" in view and "said by Jane Doe RN" in view
    bad = run(root, "reconcile", "lost", "DT-BBBBBBBBBB", "--reason", "x", ok=False)
    assert bad.exit_code == 2 and "--by" in bad.output  # who says so is required
    bad = run(root, "reconcile", "lost", "DT-BBBBBBBBBB", "--page", "9", "--reason", "gone",
              "--by", "Jane Doe RN", ok=False)
    assert bad.exit_code == 1 and "has 2 pages, not a page 9" in bad.output
    assert "Traceback" not in bad.output
    found = run(root, "reconcile", "found", "DT-BBBBBBBBBB", "--page", "2", "--reason",
                "turned up in the med room", "--by", "Jane Doe RN")
    assert "lost mark withdrawn" in found.output and "waited for again" in found.output
    status = json.loads(run(root, "reconcile", "status", "--json").output)
    assert (status["totals"]["pages_missing"], status["totals"]["pages_lost"]) == (4, 0)
    run(root, "reconcile", "lost", "DT-CCCCCCCCCC", "--reason", "sent with the patient",
        "--by", "Sam Lee charge RN")

    pdf = tmp_path / "custody.pdf"
    made = run(root, "reconcile", "report", "--pdf", str(pdf))
    assert "written to" in made.output
    doc = pypdfium2.PdfDocument(pdf)
    text = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    assert all("Data as of" in t and ep.id in t for t in text)
    assert "DT-BBBBBBBBBB" in "".join(text)
    words = " ".join(" ".join(text).split())
    assert "LOST" in words and "Sam Lee charge RN" in words, words
    assert "Lost marks and withdrawals (3)" in words


def _passfile(tmp_path):
    f = tmp_path / "pass"
    f.write_text(PASS)
    f.chmod(0o600)
    return f


def test_bad_input_is_one_line(site, tmp_path):
    root, _, _ = site
    bad = run(root, "reconcile", "open", "--start", "yesterday", ok=False)
    assert bad.exit_code == 1 and "--start 'yesterday': not an ISO 8601 time" in bad.output
    bad = run(root, "reconcile", "status", "--episode", "EP-nope", ok=False)
    assert bad.exit_code == 1 and "no episode EP-nope" in bad.output
    # an episode of its own: the tests of this module may run in other processes (xdist)
    run(root, "reconcile", "open", "--start", START.isoformat())
    bad = run(root, "reconcile", "collect", str(tmp_path / "nowhere"), ok=False)
    assert bad.exit_code != 0
    empty = tmp_path / "ws-empty"
    empty.mkdir()
    said = run(root, "reconcile", "collect", str(empty))
    assert "no forms.log and no audit log" in said.output
    assert "Traceback" not in said.output
