"""The planned-cutover drill (downtime/drills/shipped/planned-cutover.toml) on the demo
hospital, headless, end to end: the issue's target is under 60 s, with the time of every
step. Meaningful only with the site actions registered (downtime/drills/actions/): until
then the module says which are missing and measures nothing."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.bench.common import BenchRow

TARGET_SECONDS = 60


def run() -> list[BenchRow]:
    from downtime.config import load_config
    from downtime.demo import run_demo
    from downtime.drills.catalog import SHIPPED, load_actions
    from downtime.drills.runner import run_drill
    from downtime.drills.script import load_script

    actions = load_actions()
    path = SHIPPED / "planned-cutover.toml"
    import tomllib

    wanted = {s["action"] for p in tomllib.loads(path.read_text())["phases"]
              for s in p["steps"]}
    missing = sorted(wanted - set(actions))
    if missing:
        print(f"  drill: skipped: the site actions are not registered yet ({', '.join(missing)}"
              "): the planned-cutover benchmark needs downtime/drills/actions/")
        return []
    os.environ.setdefault("DOWNTIME_PASSPHRASE", "bench demo passphrase")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = run_demo(work / "site")
        script = load_script(path, actions, headless=True)
        t0 = time.perf_counter()
        result = run_drill(script, work / "drill", actions, config=load_config(demo.config))
        elapsed = time.perf_counter() - t0
    for r in result.steps:
        print(f"  {r.step.id:<22} {r.status:<8} {r.seconds:7.2f} s  {r.detail[:70]}")
    print(f"  drill: {result.status} (exit {result.exit_status}): {result.why}")
    return [BenchRow("planned-cutover drill, demo hospital, headless", elapsed, "s",
                     target=f"< {TARGET_SECONDS} s", met=elapsed < TARGET_SECONDS
                     and result.exit_status in (0, 1))]
