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
