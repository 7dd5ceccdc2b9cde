"""Unit staff lists: initials resolve to one person of the unit (or of every unit), shared
initials are asked rather than guessed, and a bad list is one line naming where."""

from __future__ import annotations

import pytest

from downtime.config import ConfigError, load_config
from reconcile.staff import StaffList, StaffListError


def test_initials_resolve_on_the_unit_and_shared_ones_are_not_guessed():
    staff = StaffList.from_table({
        "4W": [{"initials": "AB", "name": "Alice Brown", "role": "RN"},
               {"initials": "CD", "name": "Carl Dunn"}, {"initials": "C.D.", "name": "Cy Day"}],
        "*": [{"initials": "JS", "name": "Dr. Jane Smith", "practitioner_id": "prac-9"}]},
        "site.toml")
    assert staff.resolve("4W", "a.b.").name == "Alice Brown"
    assert staff.resolve("4W", "js").person("JS").practitioner_id == "prac-9"
    assert staff.resolve("5E", "AB") is None and staff.resolve("5E", "JS") is not None
    assert staff.resolve("4W", "CD") is None and len(staff.candidates("4W", "cd")) == 2
    assert staff.knows("4W", "alice  brown") and not staff.knows("5E", "Alice Brown")


def test_a_bad_staff_list_is_one_line(tmp_path):
    with pytest.raises(StaffListError, match=r"4W person 1 needs name"):
        StaffList.from_table({"4W": [{"initials": "AB"}]}, "x.toml")
    cfg = tmp_path / "site.toml"
    cfg.write_text('[reconcile.staff]\n4W = [{initials = "AB", name = "A B", pager = 1}]\n')
    with pytest.raises(ConfigError, match=r"site.toml: \[reconcile.staff\] 4W person 1: "
                                          r"unknown key\(s\) pager"):
        load_config(cfg)
