"""The MAR grid: each due time written whole inside its box, and where due times come from."""

from __future__ import annotations

import pytest

from forms import margrid


@pytest.mark.parametrize("label", ["0000", "0930", "2359", "1800"])
def test_a_due_time_fits_inside_its_box(label):
    """At 24 px of the regular bold, "0000" ran over both sides of its box and read as
    "000" on paper."""
    font = margrid._time_font()
    left, _, right, _ = font.getbbox(label, anchor="mt")
    centre = margrid.CELL / 2
    inside = (3 + margrid.BOX_LINE, margrid.CELL - 3 - margrid.BOX_LINE)
    assert centre + left >= inside[0] and centre + right <= inside[1], (left, right, inside)
    assert font.size >= 18  # still readable: about 1.5 mm tall on paper


def test_the_grid_draws_a_box_at_each_due_hour():
    slots = ((0, 0), (9, 30))
    assert margrid.grid_image(slots).startswith("data:image/png;base64,")
    assert margrid.schedule((), "BID", None) == (((9, 0), (21, 0)), "default times for BID")
    assert margrid.schedule(("21:00", "09:30"), "BID", None) == (((9, 30), (21, 0)), "")
    assert margrid.schedule((), None, None) == ((), "times per order")
