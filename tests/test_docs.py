"""The documentation stays in step with the code it describes."""

from __future__ import annotations

from pathlib import Path

from snapshots.schema import TABLES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_canonical_schema_doc_lists_every_table_and_column():
    text = (DOCS / "canonical-schema.md").read_text()
    for table, columns in TABLES.items():
        section = text.split(f"## `{table}`", 1)
        assert len(section) == 2, f"docs/canonical-schema.md lacks table {table}"
        body = section[1].split("\n## ", 1)[0]
        for column in columns:
            assert f"| `{column}` |" in body, f"{table}.{column} undocumented"


ROOT = DOCS.parent
# where a user is told to type `downtime ...`: every command and option named must exist
COMMAND_DOCS = ["README.md", "docs/agent.md", "docs/audit-log.md", "docs/demo-hospital.md",
                "docs/builder.md", "docs/sandbox.md",
                "docs/security-model.md", "packaging/README.md", "docs/conflicts.md"]


def _documented_commands() -> list[tuple[str, list[str]]]:
    """`downtime ...` in backticks, and every `downtime` (or `.../downtime`) program in a
    fenced code block, with the words after it."""
    import re

    found = []
    for name in COMMAND_DOCS:
        text = (ROOT / name).read_text()
        for match in re.finditer(r"`downtime ([^`]+)`", text):
            found.append((name, match.group(1).split()))
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL):
            for line in block.replace("\\\n", " ").splitlines():
                words = line.split("#", 1)[0].split()
                at = [i for i, w in enumerate(words)  # the program, not a user or a folder
                      if (w == "downtime" or w.endswith("/bin/downtime")) and
                      not (i and words[i - 1].startswith("-"))]
                if at:
                    found.append((name, words[at[0] + 1:]))
    return found


def _resolve(words: list[str]):
    """The click command the words name, and the options given to it."""
    import re

    import click

    from downtime.cli import cli

    command, options, previous = cli, [], ""
    for word in (w.strip("[]()") for w in words):  # `[--json]`, `(--printer Q`: options
        if word.startswith("-"):
            options.append(word.split("=")[0])
        elif isinstance(command, click.Group) and command.get_command(None, word):
            command = command.get_command(None, word)
        elif isinstance(command, click.Group) and re.fullmatch(r"[a-z][a-z-]+", word) and \
                not previous.startswith("-"):
            raise AssertionError(f"no command {word!r} in `downtime {' '.join(words)}`")
        previous = word
    return command, options


def test_every_documented_command_and_option_exists():
    from downtime.cli import cli

    checked = 0
    for doc, words in _documented_commands():
        command, options = _resolve(words)
        known = {o for p in command.params for o in getattr(p, "opts", [])} | {"--help", "-h"}
        known |= {o for p in cli.params for o in p.opts}  # --config before the command
        unknown = [o for o in options if o.startswith("--") and o not in known]
        assert not unknown, f"{doc}: `downtime {' '.join(words)}`: no option {unknown}"
        checked += command is not cli
    assert checked >= 20  # the scan found the commands (and so can fail)
