"""Drill scripts refused before anything runs, each problem with its line; the criteria's
expressions evaluated safely; the shipped drills check against the site actions' specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.drills.catalog import shipped_drills
from downtime.drills.criteria import Expression, ExpressionError
from downtime.drills.script import DrillScriptError, duration_seconds, parse_script
from tests.drill_helpers import actions, write_script

GOOD = '''name = "checked"
rollback = "back"

[[phases]]
id = "main"

[[phases.steps]]
id = "first"
owner = "IT"
expect = "5m"
action = "t-write"

[[phases.steps]]
id = "second"
owner = "IT"
expect = "5m"
action = "t-measure"
params = { identity_mismatch_share = 0.1 }
needs = ["first"]

[[phases.steps]]
id = "sign"
owner = "CMIO"
expect = "10m"
action = "gate"
params = { role = "CMIO", signed_by = "Dr. A" }

[[criteria]]
name = "ids"
when = "identity_mismatch_share > 0.01"

[[rollback_paths]]
id = "back"

[[rollback_paths.steps]]
id = "undo"
owner = "IT"
expect = "1m"
action = "rollback"
'''

# (what is wrong, the change to GOOD, the line it is on, words of the reason)
MISTAKES = [
    ("unknown action", ('action = "t-write"', 'action = "t-frobnicate"'), 11,
     "unknown action 't-frobnicate'"),
    ("missing owner", ('id = "second"\nowner = "IT"\n', 'id = "second"\n'), 13,
     "step 'second' has no owner"),
    ("unknown param", ('action = "t-write"', 'action = "t-write"\nparams = { colour = "red" }'),
     12, "takes no parameter 'colour'"),
    ("missing param", ('params = { role = "CMIO", signed_by = "Dr. A" }',
                       'params = { signed_by = "Dr. A" }'), 26, "needs parameter 'role'"),
    ("unknown figure", ('"identity_mismatch_share > 0.01"', '"charts_on_fire > 0"'), 30,
     "names figure 'charts_on_fire', which no step of the drill measures"),
    ("cycle", ('action = "t-write"', 'action = "t-write"\nneeds = ["second"]'), 12,
     "a cycle in needs"),
    ("unknown need", ('needs = ["first"]', 'needs = ["zeroth"]'), 19,
     "needs 'zeroth', which is no step"),
    ("missing rollback path", ('rollback = "back"', 'rollback = "elsewhere"'), 2,
     "rollback path 'elsewhere', which the script does not have"),
    ("criterion's path missing", ('when = "identity_mismatch_share > 0.01"',
                                  'when = "identity_mismatch_share > 0.01"\nrollback = "nowhere"'),
     31, "criterion 'ids' names rollback path 'nowhere'"),
    ("not an expression", ('"identity_mismatch_share > 0.01"', '"identity_mismatch_share >"'),
     30, "is not an expression"),
    ("unsafe expression", ('"identity_mismatch_share > 0.01"', '"__import__(\'os\') > 0"'),
     30, "only min(), max() and abs()"),
    ("bad duration", ('expect = "10m"', 'expect = "soon"'), 24, "not a duration: 'soon'"),
    ("missing duration", ('expect = "10m"\n', ''), 21, "expect (its expected duration"),
    ("unknown key", ('owner = "CMIO"', 'owner = "CMIO"\ncolour = "red"'), 24,
     "unknown key 'colour'"),
    ("fault it cannot inject", ('action = "t-write"', 'action = "t-write"\nfault = "disk-full"'),
     12, "cannot inject fault 'disk-full'"),
    ("same id twice", ('id = "sign"', 'id = "first"'), 22, "step id 'first' is used twice"),
    ("steady state after no phase",
     ('[[phases]]', '[steady_state]\nafter_phase = "setup"\n\n[[phases]]'), 5,
     "after_phase names phase 'setup'"),
    ("not TOML", ('name = "checked"', 'name = "checked'), 1, "not TOML"),
]


@pytest.mark.parametrize("change, line, reason", [m[1:] for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_a_wrong_script_is_refused_with_its_line(tmp_path, change, line, reason):
    old, new = change
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    with pytest.raises(DrillScriptError) as e:
        parse_script(text, tmp_path / "d.toml", actions(), headless=True)
    lines = [(p.line, p.text) for p in e.value.problems]
    assert any(n == line and reason in t for n, t in lines), lines
    assert e.value.exit_status == 3


def test_the_good_script_is_not_refused(tmp_path):
    s = parse_script(GOOD, tmp_path / "d.toml", actions(), headless=True)
    assert [st.id for st in s.steps()] == ["first", "second", "sign"]


def test_a_gate_without_sign_off_is_refused_for_a_headless_run_only(tmp_path):
    text = GOOD.replace(', signed_by = "Dr. A"', "")
    parse_script(text, tmp_path / "d.toml", actions(), headless=False)
    with pytest.raises(DrillScriptError, match=r"d.toml:26: gate 'sign' has no pre-approved"):
        parse_script(text, tmp_path / "d.toml", actions(), headless=True)


def test_every_problem_is_told_on_its_own_line_and_nothing_runs(tmp_path):
    text = GOOD.replace('action = "t-write"', 'action = "t-nope"').replace(
        '"identity_mismatch_share > 0.01"', '"nothing_measured > 1"')
    path = write_script(tmp_path, text)
    actions()
    for args in (["drill", "check", str(path)],
                 ["drill", "run", "--headless", str(path), "--report", str(tmp_path / "r")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 3, result.output
        out = result.output
        assert "2 problems, nothing was run" in out
        assert f"{path}:11: step 'first': unknown action 't-nope'" in out
        assert f"{path}:30: criterion 'ids' names figure 'nothing_measured'" in out
    assert not (tmp_path / "r").exists()


def test_drill_check_says_what_the_script_holds(tmp_path):
    actions()
    result = CliRunner().invoke(cli, ["drill", "check", str(write_script(tmp_path, GOOD))])
    assert result.exit_code == 0, result.output
    assert "ok: checked: 3 steps in 1 phases, 1 rollback criteria, 1 gates" in result.output


@pytest.mark.parametrize("text, figures, value", [
    ("a > 0.5 and not b", {"a": 0.6, "b": 0}, True),
    ("overrun.final_sync > 0.25", {"overrun.final_sync": 0.2}, False),
    ("max(a, b) / 2 >= 1", {"a": 1, "b": 2}, True),
    ("a / b > 0.1", {"a": 1, "b": 0}, False),
    ("1 < a <= 3", {"a": 3}, True),
    ("-a < 0 or b", {"a": 0, "b": 0}, False),
])
def test_expressions(text, figures, value):
    assert Expression.parse(text).value(figures) == value


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "a.__class__()",
                                  "(lambda: 1)()", "a ** 99", "a if b else c", "'x' > a",
                                  "[a][0] > 1", "a in b", "open('f')", "True"])
def test_an_expression_that_is_not_a_plain_formula_is_refused(text):
    with pytest.raises(ExpressionError):
        Expression.parse(text)


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("1h30m", 5400),
                                           (45, 45), ("0.5s", 0.5), ("72h", 259200)])
def test_durations(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["soon", "", "5 minutes", "-3", True, "m"])
def test_not_durations(text):
    assert duration_seconds(text) is None


def test_the_shipped_drills_check_against_the_site_actions(tmp_path):
    specs = actions()  # the real registry: the engine's and downtime/drills/actions/'s
    names = []
    for path in shipped_drills():
        s = parse_script(path.read_text(), path, specs, headless=True)
        names.append(path.stem)
        assert s.criteria and s.paths and any(st.action == "gate" for st in s.steps())
    assert names == ["outage-4h", "planned-cutover", "ransomware-72h"]
    faults = {st.fault for p in shipped_drills()
              for st in parse_script(p.read_text(), p, specs, headless=True).steps()}
    # every fault of the section 2 is named by a shipped drill, but the key
    # faults (wrong or expired key), which test_drill_runs.py injects
    assert len(faults - {None}) >= 9


def test_drill_list_names_the_shipped_drills():
    result = CliRunner().invoke(cli, ["drill", "list"])
    assert result.exit_code == 0
    for name in ("planned-cutover", "outage-4h", "ransomware-72h", "72-hour ransomware"):
        assert name in result.output
    assert Path(result.output.split("planned-cutover")[1].split()[-1]).name == \
        "planned-cutover.toml" or "planned-cutover.toml" in result.output


def test_a_drill_that_is_not_there_cannot_start(tmp_path):
    for args in (["drill", "run", "--headless", "no-such-drill"],
                 ["drill", "check", str(tmp_path / "missing.toml")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 3
        assert "no such drill script, nor a shipped drill" in result.output
        assert "planned-cutover" in result.output
