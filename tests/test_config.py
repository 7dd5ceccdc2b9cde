"""The settings tree: one parse of the TOML, paths resolved against the config's folder (from
wherever a command runs), every table typed and checked before anything is done."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.config import Config, ConfigError, load_config
from forms.registry import printed_forms, read_registry
from snapshots.keys import create_identity, load_identity
from tests.factory import print_site

PASS = "config-test-pass"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site" / "downtime.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_every_path_is_resolved_against_the_config_folder(tmp_path, monkeypatch):
    config_file = write(tmp_path, '[paths]\nstore = "store"\nidentity = "keys/ws.age"\n'
                                  'packet_socket_dir = "/run/downtime"\n'
                                  '[recipients]\nescrow = ["keys/escrow.age.pub"]\n')
    monkeypatch.chdir(tmp_path)  # not the config's folder
    config = load_config(config_file)
    site = config_file.parent.resolve()
    assert config.paths.store == site / "store"
    assert config.paths.identity == site / "keys" / "ws.age"
    assert config.paths.packet_socket_dir == Path("/run/downtime")
    assert config.recipients.escrow == (site / "keys" / "escrow.age.pub",)
    assert config.paths.inbox is None and config.path("inbox", required=False) is None


def test_the_tables_are_typed(tmp_path):
    config = load_config(write(tmp_path, '[thresholds]\nstale_minutes = 45\n'
                                         '[print]\nprinter = "4W-nurses"\npaper = "A4"\n'
                                         '[build]\nvitals_hours = 24\n'))
    assert config.thresholds.stale_minutes == 45 and config.thresholds.idle_lock_minutes == 5
    assert (config.print.printer, config.print.paper) == ("4W-nurses", "A4")
    assert config.build.vitals_hours == 24 and config.build.labs_days == 7
    assert Config().print.paper == "Letter" and Config().paths.store is None


def test_the_audit_table(tmp_path):
    assert Config().audit.writer == "local"  # single-user unless the site says otherwise
    config = load_config(write(tmp_path, '[paths]\naudit_log = "/var/lib/downtime/a/audit.log"\n'
                                         '[audit]\nwriter = "agent"\nsocket_dir = "/run/dta"\n'
                                         'group = "nurses"\nanchors = "share/anchors"\n'
                                         'anchor_seconds = 2.5\nspool = "spool.log"\n'))
    site = tmp_path.resolve() / "site"
    audit = config.audit
    assert (audit.writer, audit.group, audit.anchor_seconds) == ("agent", "nurses", 2.5)
    assert audit.socket_dir == Path("/run/dta") and audit.anchors == site / "share" / "anchors"
    assert audit.spool == site / "spool.log"
    assert audit.key_path(config.paths.audit_log) == Path("/var/lib/downtime/a/audit-key.pem")
    keyed = load_config(write(tmp_path, '[audit]\nkey = "k/audit.pem"\n'))
    assert keyed.audit.key_path(Path("/x/audit.log")) == site / "k" / "audit.pem"


@pytest.mark.parametrize("text,says", [
    ('[print]\npaper = "A5"\n', '[print] paper must be "Letter" or "A4"'),
    ('[print]\nprinter = 3\n', "[print] printer must be the name of a CUPS queue"),
    ('[print]\npapre = "A4"\n', "unknown key(s) in [print]: papre"),
    ('[recipients]\nescorw = ["age1x"]\n', "unknown key(s) in [recipients]: escorw"),
    ('[build]\nvitals_hours = "x"\n', "[build] vitals_hours"),
    ('[audit]\nwriter = "remote"\n', '[audit] writer must be "local" or "agent"'),
    ('[audit]\nwriter = "agent"\n', '[audit] writer = "agent" needs paths.audit_log'),
    ('[audit]\ngroup = "nurses"\n', "[audit] group needs [audit] socket_dir"),
    ('[audit]\ngroup = ""\nsocket_dir = "s"\n', "[audit] group must be the name of an OS"),
    ('[audit]\nkey = 5\n', "[audit] key must be a path"),
    ('[audit]\nanchor_seconds = true\n', "[audit] anchor_seconds must be a number"),
    ('[audit]\nanchor_seconds = 0\n', "[audit] anchor_seconds must be a number"),
    ('[audit]\nanchors_dir = "x"\n', "unknown key(s) in [audit]: anchors_dir"),
    ('[paths]\npacket_socket_dir = "run"\n[print]\npacket_group = "a"\n'
     '[audit]\nsocket_dir = "run"\n', "[audit] socket_dir is paths.packet_socket_dir"),
])
def test_a_bad_table_is_refused_when_loaded_naming_file_and_key(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and says in str(err.value)
    # and every command that reads the config says so in one line, before doing anything
    result = CliRunner().invoke(cli, ["--config", str(path), "keys", "list"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert says in result.output and result.output.count("\n") == 1
    # a monitoring check that cannot run answers UNKNOWN (3), not a failure of what it checks
    for check in (["agent", "status"], ["builder", "status"]):
        result = CliRunner().invoke(cli, ["--config", str(path), *check])
        assert result.exit_code == 3 and says in result.output, check


def test_a_config_error_is_json_for_json_commands(tmp_path):
    path = write(tmp_path, '[print]\npaper = "A5"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "snapshot", "info", "x",
                                      "--json"], obj={"json_errors": True})
    import json

    body = json.loads(result.output)
    assert result.exit_code == 1 and body["ok"] is False and body["reason"] == "config"


def test_build_settings_take_as_of_from_the_flag_then_the_config_then_now(tmp_path):
    fixed = load_config(write(tmp_path, '[build]\nas_of = "2026-03-01T08:00:00Z"\n'))
    assert fixed.build_settings().as_of == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert fixed.build_settings("2026-04-01T00:00:00Z").as_of == datetime(2026, 4, 1,
                                                                         tzinfo=UTC)
    before = datetime.now(UTC).replace(microsecond=0)
    assert Config().build_settings().as_of >= before


def test_flags_override_the_config_without_changing_it(tmp_path):
    config = load_config(write(tmp_path, '[paths]\nstore = "store"\n'))
    other = config.with_paths(store=tmp_path / "elsewhere", identity=None)
    assert other.paths.store == tmp_path / "elsewhere" and other.paths.identity is None
    assert config.paths.store == (tmp_path / "site" / "store").resolve()
    assert config.with_thresholds(idle_lock_minutes=2).thresholds.idle_lock_minutes == 2


@pytest.fixture(scope="module")
def pub_path_site(tmp_path_factory):
    """A workstation whose escrow recipient is a relative path to its .pub file, as
    docs/configuration.md allows."""
    site = print_site(tmp_path_factory.mktemp("pubsite"), PASS)
    config = site / "downtime.toml"
    text = config.read_text()
    escrow = (site / "keys" / "escrow.age.pub").read_text().strip()
    config.write_text(text.replace(f'"{escrow}"', '"keys/escrow.age.pub"'))
    return site


def test_print_from_another_folder_reads_a_relative_escrow_path(pub_path_site, tmp_path,
                                                                monkeypatch):
    """The bug: `downtime print` read [recipients] paths against the current folder, so a
    site whose escrow recipient is a path could print only from the config's own folder."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "census.pdf"
    result = CliRunner().invoke(cli, ["--config", str(pub_path_site / "downtime.toml"),
                                      "print", "census", "--unit", "4W", "--pdf", str(out)],
                                env={"DOWNTIME_PASSPHRASE": PASS})
    assert result.exit_code == 0, result.output
    escrow = load_identity(pub_path_site / "keys" / "escrow.age", PASS)
    assert printed_forms(read_registry(pub_path_site / "registry", [escrow.secret]))
    out.unlink()


def test_browse_from_another_folder_reads_a_relative_escrow_path(pub_path_site, tmp_path,
                                                                 monkeypatch):
    from downtime.tui.app import make_app

    monkeypatch.chdir(tmp_path)
    app = make_app(load_config(pub_path_site / "downtime.toml"), timers=False)
    escrow = (pub_path_site / "keys" / "escrow.age.pub").read_text().strip()
    assert app.workstation.registry_recipients == [escrow]


def test_a_recipient_file_that_cannot_be_read_names_the_table_entry(tmp_path):
    create_identity(tmp_path / "site" / "keys", "escrow", PASS)
    config = load_config(write(tmp_path, '[recipients]\nescrow = ["keys/escrow.age.pub"]\n'
                                         'pharmacy = ["keys/nobody.age.pub"]\n'))
    assert len(config.recipients.escrow_keys()) == 1
    with pytest.raises(ConfigError, match=r"\[recipients\] pharmacy: .*nobody.age.pub"):
        config.recipients.resolve()


def test_config_after_the_command_works_and_wins(tmp_path):
    """`downtime snapshot verify FILE --config X`, as most people type it."""
    good = write(tmp_path, '[paths]\nstore = "store"\n')
    other = tmp_path / "other.toml"
    other.write_text('[paths]\nstore = "elsewhere"\n')
    for args in (["--config", str(other), "builder", "status", "--config", str(good)],
                 ["builder", "status", "--config", str(good)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 3 and str(good.parent / "store") in result.output, args
    missing = tmp_path / "none.toml"
    result = CliRunner().invoke(cli, ["--config", str(missing), "builder", "status",
                                      "--config", str(good)])
    assert result.exit_code == 3 and "no builder status" in result.output  # the good one won
    bad = CliRunner().invoke(cli, ["keys", "list", "--config", str(missing)])
    assert bad.exit_code == 1 and f"{missing}: cannot read config" in bad.output
