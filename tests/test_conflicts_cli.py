"""`downtime reconcile check | conflicts | decide` through the CLI, with a real passphrase-
protected identity and the seeded episode: the summary, the open conflicts by patient in
words and as JSON, decisions (accept, reject, edit) journaled, and bad input one line."""

from __future__ import annotations

import json

import pytest

from reconcile.state import derive
from tests.conflict_data import make_site, run


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("him-conflicts"))


def test_check_conflicts_decide(site):
    root, ep, cases, export = site
    out = run(root, "reconcile", "conflicts").output
    assert f"no open conflicts ({len(cases)} entries not checked yet" in out
    out = run(root, "reconcile", "check", "--export", str(export)).output
    flagged = sum(1 for _, want in cases if want)
    assert f"checked {len(cases)} entries against {export}: {len(cases) - flagged} clear, " \
           f"{flagged} with conflicts" in out
    assert "  discharged: 1\n" in out and "  dose-mismatch: 2\n" in out
    assert "conflicts wait for a decision" in out

    listed = run(root, "reconcile", "conflicts", "--unit", "4W").output
    # under each patient's line, the entry's line key, the code, what and when, the problem
    block = listed[listed.index("DIJKSTRA, Test MRN200003\n"):]
    lines = block.splitlines()
    assert lines[1].endswith("[discharged]") and lines[1].strip().startswith("DT-")
    assert lines[2].strip().startswith("vital signs (heart rate) ")
    assert "— the patient was discharged" in lines[2]
    as_json = json.loads(run(root, "reconcile", "conflicts", "--json").output)
    assert set(as_json) == {"p-alive", "p-disc", "p-moved", "p-dead", "p-old", "p-nobody"}
    assert run(root, "reconcile", "conflicts", "--unit", "5E").output.startswith(
        "episode EP-")  # nothing of 5E

    merged = next(e for e, want in cases if want == {"merged"})
    out = run(root, "reconcile", "decide", merged.key, "--code", "merged", "--accept",
              "--reason", "same person", "--by", "Dana Reyes").output
    assert "merged accepted by Dana Reyes" in out and "Patient/p-alive" in out
    mismatch = next(e for e, want in cases if want == {"dose-mismatch"})
    out = run(root, "reconcile", "decide", mismatch.key, "--code", "dose-mismatch",
              "--edit", "dose=5000 [iU]", "--reason", "misread", "--by", "Dana Reyes").output
    assert "corrected as revision 1" in out
    dup = next(e for e, want in cases if want == {"order-duplicate"})
    run(root, "reconcile", "decide", dup.key, "--code", "order-duplicate", "--reject",
        "--reason", "in the EHR since recovery", "--by", "Pat Lee, PharmD")

    state = derive(ep.journal.read())
    assert state.decisions.standing(merged.key, 0) == "decided"
    assert state.decisions.standing(dup.key, 0) == "rejected"
    assert state.entries.current(mismatch.key).entry.revision == 1
    out = run(root, "reconcile", "check", "--export", str(export)).output
    assert "  dose-mismatch: 1\n" in out  # the corrected one is clear now

    # bad input: one line, non-zero, nothing written
    before = len(ep.journal.read())
    for args, words in (
            ([dup.key, "--code", "order-duplicate", "--accept"], "not open (decided reject"),
            ([dup.key, "--code", "order-duplicate", "--reason", "x", "--by", "y"],
             "say --accept, --reject or --edit"),
            (["DT-AAAAAAAAAA/p1/l1", "--code", "merged", "--accept"], "no such entry"),
            ([merged.key, "--code", "merged", "--edit", "nope=1"], "not open")):
        full = [*args] if "--reason" in args else [*args, "--reason", "r", "--by", "P"]
        result = run(root, "reconcile", "decide", *full, ok=False)
        assert result.exit_code != 0 and words in result.output, result.output
        assert "Traceback" not in result.output
    result = run(root, "reconcile", "check", ok=False)
    assert result.exit_code != 0 and "give --server URL or --export DIR" in result.output
    result = run(root, "reconcile", "check", "--export", str(root / "keys"), ok=False)
    assert result.exit_code != 0 and "no .ndjson" in result.output
    assert len(ep.journal.read()) == before
