"""browse with `[audit] writer = "agent"`: while the agent's audit writer cannot be reached,
charts still open, every entry goes to the nurse's spool, and the screen says so in red
until the writer takes the spool over."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from downtime.tui.app import make_app
from downtime.tui.screens.census import CensusScreen
from downtime.tui.screens.chart import ChartScreen
from snapshots.audit.settings import AuditSettings
from snapshots.audit.writer import AuditAccess, AuditWriterService
from tests.tui_helpers import app_config, fake_kdf, make_site, settle, unlock

pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture
def short_dir():
    folder = Path(tempfile.mkdtemp(prefix="dtt-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_an_unreachable_writer_is_shown_in_red_and_the_spool_handed_over(tmp_path, short_dir):
    import asyncio

    site = make_site(tmp_path)
    ident = tmp_path / "ws.age"
    ident.write_text("placeholder: the fake KDF does not read it")
    spool = tmp_path / "spool.log"
    config = replace(app_config(site.store, ident, site.pub, site.audit),
                     audit=AuditSettings(writer="agent", socket_dir=short_dir / "run",
                                         spool=spool))
    writer = AuditWriterService(site.audit, tmp_path / "audit-key.pem",
                                AuditAccess(short_dir / "run"))

    async def go():
        app = make_app(config, clock=site.clock, passphrase_kdf=fake_kdf(site.keys.unit),
                       timers=False)
        said = []
        notify = app.notify
        app.notify = lambda message, **kw: (said.append((message, kw.get("severity"))),
                                            notify(message, **kw))
        async with app.run_test(size=(100, 24)) as pilot:
            await unlock(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1 and app.audit_warning_shown)
            assert "SMITH, John" in str(app.screen.query_one("#patient-header").render())
            red = [m for m, severity in said if severity == "error"]
            assert len(red) == 1 and red[0].startswith("AUDIT ENTRIES NOT AUTHENTICATED: the "
                                                       "audit writer cannot be reached")
            assert app.notice() == "AUDIT ENTRIES NOT AUTHENTICATED — tell IT"
            assert "AUDIT ENTRIES NOT AUTHENTICATED" in str(app.screen.query_one("#age")
                                                            .render())
            await pilot.press("escape")
            await settle(app, pilot, lambda: isinstance(app.screen, CensusScreen))
            writer.start()  # the agent is back
            await pilot.press("down", "enter")
            await settle(app, pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.loads == 1 and app.audit_warning_shown is None)
            assert app.notice() is None
            assert any("reachable again" in m for m, _ in said)
    try:
        asyncio.run(go())
    finally:
        writer.close()
    entries = [json.loads(x) for x in site.audit.read_text().splitlines()]
    assert [(e["action"], "spooled" in e) for e in entries] == [
        ("unlock", True), ("chart-open", True), ("chart-open", False)]
    assert all(e["key"] == writer.audit.signer.id for e in entries)
    assert spool.read_text() == ""
