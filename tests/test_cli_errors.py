"""The one place the command line reports an error (downtime/cli/errors.py): a ToolkitError
is one line (or JSON) with its own exit status; an OSError names its file; a bug is named by
its kind and where, never by its message."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from downtime.cli import cli, main
from snapshots.errors import IoError, ToolkitError, oserror_text


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["downtime", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


def test_a_bug_is_named_by_kind_and_line_never_by_its_message(monkeypatch, capsys, tmp_path):
    def broken(path):
        raise RuntimeError("SMITH, John, MRN0000101: unexpected shape")

    monkeypatch.setattr("downtime.cli.snapshot.read_manifest", broken)
    monkeypatch.delenv("DOWNTIME_DEBUG", raising=False)
    code, out, err = run_main(monkeypatch, capsys, "snapshot", "info", str(tmp_path / "f"))
    assert code == 70 and out == ""
    assert err.count("\n") == 1 and "internal error (RuntimeError at snapshot.py:" in err
    assert "SMITH" not in err and "MRN" not in err and "Traceback" not in err


def test_debug_lets_the_traceback_through(monkeypatch):
    def broken(path):
        raise RuntimeError("for the developer")

    monkeypatch.setattr("downtime.cli.snapshot.read_manifest", broken)
    monkeypatch.setenv("DOWNTIME_DEBUG", "1")
    monkeypatch.setattr(sys, "argv", ["downtime", "snapshot", "info", "x"])
    with pytest.raises(RuntimeError, match="for the developer"):
        main()


def test_a_toolkit_error_is_one_line_with_its_own_exit_status(monkeypatch):
    def refused(path):
        raise ToolkitError(f"{path}: refused for a test", reason="test-reason", exit_status=3)

    monkeypatch.setattr("downtime.cli.snapshot.read_manifest", refused)
    result = CliRunner().invoke(cli, ["snapshot", "info", "some.dtsnap"])
    assert result.exit_code == 3 and result.output == "Error: some.dtsnap: refused for a test\n"
    result = CliRunner().invoke(cli, ["snapshot", "info", "some.dtsnap", "--json"])
    assert result.exit_code == 3
    assert json.loads(result.output) == {"ok": False, "reason": "test-reason", "message":
                                         "some.dtsnap: refused for a test",
                                         "file": "some.dtsnap"}


def test_an_oserror_is_one_line_naming_its_file(monkeypatch, tmp_path):
    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("downtime.cli.snapshot.read_manifest", unreadable)
    result = CliRunner().invoke(cli, ["snapshot", "info", str(tmp_path / "s.dtsnap")])
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 's.dtsnap'}: Permission denied\n"


def test_oserror_text_is_the_one_way_an_oserror_is_told(tmp_path):
    error = FileNotFoundError(2, "No such file or directory", str(tmp_path / "a"))
    assert oserror_text(error) == f"{tmp_path / 'a'}: No such file or directory"
    assert oserror_text(error, "cannot read") == \
        f"{tmp_path / 'a'}: cannot read (No such file or directory)"
    assert oserror_text(OSError(28, "No space left on device"), "cannot write", "/store") == \
        "/store: cannot write (No space left on device)"
    assert str(IoError.from_oserror(OSError(5, "Input/output error"))) == "Input/output error"


def test_every_error_class_of_the_toolkit_has_the_one_base():
    """What a command can raise on purpose is a ToolkitError, so errors.py catches it all."""
    import importlib
    import inspect
    import pkgutil

    found = []
    for package in ("snapshots", "forms", "downtime"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.startswith("downtime.tui"):
                continue  # Textual's widgets define no errors of ours
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if inspect.isclass(value) and issubclass(value, Exception) and \
                        value.__module__ == module.__name__ and not name.startswith("_"):
                    found.append(value)
    control_flow = {"OutsideWindow"}  # raised and caught inside one module, never a user's
    strays = [c.__qualname__ for c in found if not issubclass(c, ToolkitError)
              and c.__name__ not in control_flow]
    assert len(found) > 15 and strays == []
