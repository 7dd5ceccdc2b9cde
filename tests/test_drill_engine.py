"""The drill runner with tiny real actions: a drill passes (0), rolls back when a criterion
trips (1), fails on a failed step or a fault not handled (2), cannot start when the steady
state does not hold (3); gates pre-approved and asked; the journal; RTO and RPO."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from downtime.drills.engine_actions import GateAnswer, GateRequest
from downtime.drills.runner import run_drill
from downtime.drills.script import parse_script
from tests.drill_helpers import actions, script, step


def run(tmp_path: Path, text: str, **kw):
    s = parse_script(text, tmp_path / "d.toml", actions(), headless="ask" not in kw)
    return run_drill(s, tmp_path / "run", actions(), **kw)


def journal(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "run" / "journal.jsonl").read_text()
            .splitlines()]


def test_a_drill_that_passes(tmp_path):
    text = script(step("write", "t-write"), step("measure", "t-measure",
                  'params = { identity_mismatch_share = 0.001 }'),
                  step("live", "go-live"),
                  criteria='[[criteria]]\nname = "ids"\nwhen = "identity_mismatch_share > 0.01"\n')
    r = run(tmp_path, text)
    assert (r.status, r.exit_status, r.decision) == ("passed", 0, "go live")
    assert [s.status for s in r.steps] == ["ok", "ok", "ok"]
    assert r.criteria[0].measured and not r.criteria[0].tripped
    assert r.steps[0].evidence["sha256"]
    assert (tmp_path / "run" / "work" / "out.txt").exists()
    lines = journal(tmp_path)
    for sid in ("write", "measure", "live"):
        events = [x["event"] for x in lines if x["activity"] == "step" and x["name"] == sid]
        assert events == ["start", "end"]
    assert lines[0]["event"] == "start" and lines[-1]["outcome"] == "passed"
    assert any(x["activity"] == "log" and x["detail"] == "wrote out.txt" for x in lines)


def test_needs_put_a_step_after_what_it_needs(tmp_path):
    text = script(step("second", "t-write", 'needs = ["first"]\nparams = { name = "b" }'),
                  step("first", "t-write", 'params = { name = "a" }'))
    r = run(tmp_path, text)
    assert [s.step.id for s in r.steps] == ["first", "second"]
    assert r.exit_status == 0


def test_a_criterion_that_trips_takes_the_rollback_path(tmp_path):
    text = script(step("measure", "t-measure", 'params = { identity_mismatch_share = 0.2 }'),
                  step("live", "go-live"),
                  criteria='[[criteria]]\nname = "ids"\nwhen = "identity_mismatch_share > 0.01"\n')
    r = run(tmp_path, text)
    assert (r.status, r.exit_status, r.decision, r.path_taken) == \
        ("rolled back", 1, "roll back", "back")
    assert {s.step.id: s.status for s in r.steps} == {"measure": "ok", "live": "skipped",
                                                       "undo": "ok"}
    assert "identity_mismatch_share = 0.2" in r.why
    assert r.criteria[0].tripped_after == "measure"
    assert any(x["activity"] == "criterion" and x["event"] == "tripped"
               for x in journal(tmp_path))


def test_a_step_overrunning_its_time_trips_the_overrun_criterion(tmp_path):
    text = script(step("slow", "t-sleep", 'params = { seconds = 0.3 }', expect="0.1s"),
                  step("live", "go-live"),
                  criteria='[[criteria]]\nname = "overrun"\nwhen = "overrun.slow > 0.5"\n')
    r = run(tmp_path, text)
    assert r.exit_status == 1
    assert r.figures["overrun.slow"] > 1.0 and r.figures["max_overrun"] == \
        r.figures["overrun.slow"]


def test_time_scale_judges_steps_in_drill_time(tmp_path):
    text = script(step("slow", "t-sleep", 'params = { seconds = 0.2 }', expect="10s"),
                  criteria='[[criteria]]\nname = "overrun"\nwhen = "max_overrun > 0.5"\n',
                  extra="time_scale = 100\n")
    r = run(tmp_path, text)  # 0.2 s real is 20 s of drill time: 100% over its 10 s
    assert r.exit_status == 1 and r.figures["max_overrun"] > 0.9


@pytest.mark.parametrize("how", ["outcome", "toolkit", "bug"])
def test_a_failed_step_fails_the_drill(tmp_path, how):
    text = script(step("bad", "t-fail", f'params = {{ how = "{how}" }}'), step("live", "go-live"))
    r = run(tmp_path, text)
    assert (r.status, r.exit_status) == ("failed", 2)
    assert r.steps[1].status == "skipped"
    detail = r.steps[0].detail
    expected = {"outcome": "on purpose", "toolkit": "cannot reach the source",
                "bug": "a fault of the program: KeyError at drill_helpers.py"}[how]
    assert expected in detail
    assert "no such key" not in json.dumps(journal(tmp_path))  # a bug's message is not told


def test_a_fault_handled_as_expected_passes(tmp_path):
    text = script(step("inbox", "t-fault", 'fault = "corrupt-file"'))
    r = run(tmp_path, text)
    assert r.exit_status == 0
    [(sid, f)] = r.faults()
    assert sid == "inbox" and f.handled and "refused" in f.actual


@pytest.mark.parametrize("params", ["{ handled = false }", "{ silent = true }"])
def test_a_fault_not_handled_or_not_reported_fails_the_drill(tmp_path, params):
    text = script(step("inbox", "t-fault", f'fault = "corrupt-file"\nparams = {params}'),
                  step("live", "go-live"))
    r = run(tmp_path, text)
    assert (r.status, r.exit_status) == ("failed", 2)
    assert "was not handled as expected" in r.why
    assert any(x["activity"] == "fault" and x["outcome"] == "failed" for x in journal(tmp_path))


def test_on_failure_path_runs_and_the_drill_still_fails(tmp_path):
    text = script(step("bad", "t-fail"), extra='on_failure = "back"\n')
    r = run(tmp_path, text)
    assert r.exit_status == 2 and r.path_taken == "back" and r.steps[-1].status == "ok"


PROBE = '''
[steady_state]
title = "the file is there"
[[steady_state.probes]]
name = "file"
action = "t-probe"
tolerance = "file_there == 1"
'''


def test_steady_state_not_holding_before_means_could_not_start(tmp_path):
    r = run(tmp_path, script(step("write", "t-write"), probes=PROBE))
    assert (r.status, r.exit_status) == ("could not start", 3)
    assert r.steps[0].status == "skipped"
    assert not (tmp_path / "run" / "work" / "out.txt").exists()


def test_steady_state_checked_before_and_after(tmp_path):
    (tmp_path / "run" / "work").mkdir(parents=True)
    (tmp_path / "run" / "work" / "out.txt").write_text("there")
    r = run(tmp_path, script(step("write", "t-write"), probes=PROBE))
    assert r.exit_status == 0
    assert [(p.when, p.held) for p in r.probes] == [("before", True), ("after", True)]


def test_rto_and_rpo_from_the_moments_the_actions_report(tmp_path):
    text = script(step("outage", "t-measure",
                       'params = { outage_started_at = 0, data_age_at_failure_seconds = 12 }'),
                  step("wait", "t-sleep", 'params = { seconds = 0.1 }'),
                  step("ready", "t-measure", 'params = { units_ready_at = 0, units_ready = 3, '
                                             'units_total = 3 }'),
                  extra="time_scale = 10\n")
    r = run(tmp_path, text)
    assert r.exit_status == 0
    assert 1.0 <= r.figures["rto_seconds"] < 5.0  # 0.1 s real, times 10
    assert r.figures["rpo_seconds"] == 120


GATE = 'params = { role = "CMIO", question = "go live?", signed_by = "Dr. A. Osei" }'


def test_a_pre_approved_gate_is_signed_in_a_headless_run(tmp_path):
    r = run(tmp_path, script(step("sign", "gate", GATE, owner="CMIO"), step("live", "go-live")))
    assert r.exit_status == 0
    [g] = r.gates
    assert (g.name, g.role, g.decision, g.pre_approved) == ("Dr. A. Osei", "CMIO", "approved",
                                                            True)
    assert r.steps[0].evidence["signed_by"] == "Dr. A. Osei"


def asker(*answers: tuple[str, str]):
    asked: list[GateRequest] = []
    it = iter(answers)

    def ask(request: GateRequest) -> GateAnswer:
        asked.append(request)
        choice, name = next(it)
        return GateAnswer(choice, name)
    return ask, asked


def test_an_interactive_gate_is_asked_even_when_pre_approved(tmp_path):
    ask, asked = asker(("approve", "Nurse B. Kim"))
    r = run(tmp_path, script(step("sign", "gate", GATE, owner="CMIO"), step("live", "go-live")),
            ask=ask, headless=False)
    assert r.exit_status == 0 and [a.question for a in asked] == ["go live?"]
    assert (r.gates[0].name, r.gates[0].pre_approved) == ("Nurse B. Kim", False)


def test_stop_the_line_pauses_then_resumes(tmp_path):
    ask, asked = asker(("stop", "Dr. C"), ("approve", "Dr. C"))
    r = run(tmp_path, script(step("sign", "gate", 'params = { role = "CMIO" }', owner="CMIO"),
                             step("live", "go-live")), ask=ask, headless=False)
    assert r.exit_status == 0 and [a.paused for a in asked] == [False, True]
    assert r.gates[0].decision == "approved"
    assert any("paused" in x.get("detail", "") for x in journal(tmp_path))


@pytest.mark.parametrize("answers", [[("abort", "Dr. C")], [("stop", "Dr. C"), ("abort", "Dr. C")]])
def test_abort_at_a_gate_takes_the_rollback_path(tmp_path, answers):
    ask, _ = asker(*answers)
    r = run(tmp_path, script(step("sign", "gate", 'params = { role = "CMIO" }', owner="CMIO"),
                             step("live", "go-live")), ask=ask, headless=False)
    assert (r.exit_status, r.decision, r.path_taken) == (1, "roll back", "back")
    assert "Dr. C (CMIO) stopped the line at gate 'sign'" in r.why
    assert r.gates[0].decision == "aborted"


def test_stop_at_an_abort_gate_aborts_at_once(tmp_path):
    ask, asked = asker(("stop", "Dr. C"))
    r = run(tmp_path, script(step("sign", "gate", 'params = { role = "CMIO", stop = "abort" }',
                                  owner="CMIO")), ask=ask, headless=False)
    assert r.exit_status == 1 and len(asked) == 1


def test_a_pre_approved_abort_rolls_back_unattended(tmp_path):
    gate = 'params = { role = "CMIO", signed_by = "Dr. A", answer = "abort" }'
    r = run(tmp_path, script(step("sign", "gate", gate, owner="CMIO"), step("live", "go-live")))
    assert r.exit_status == 1 and r.steps[-1].step.id == "undo"


def test_steady_state_after_a_setup_phase(tmp_path):
    """The hypothesis is first checked once the phase that sets the drill up is done."""
    probes = PROBE.replace('title = "the file is there"', 'title = "x"\nafter_phase = "main"')
    r = run(tmp_path, script(step("write", "t-write"), probes=probes))
    assert r.exit_status == 0 and [p.when for p in r.probes] == ["before", "after"]
    r = run(tmp_path / "2", script(step("write", "t-write", 'params = { name = "other" }'),
                                   probes=probes))
    assert r.exit_status == 3 and "once phase 'main' had set the drill up" in r.why
