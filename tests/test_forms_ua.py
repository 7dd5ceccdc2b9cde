"""The forms' own user-agent stylesheet (forms/templates/ua.css) lays out exactly as
WeasyPrint's full HTML5 one: same boxes at the same places, on every kind of form."""

from __future__ import annotations

import re

import pytest
from weasyprint import HTML

from forms import compose
from forms.render import KINDS, FormContext, plan
from snapshots import chart
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot

TEMPLATES = compose.TEMPLATES
# Elements with no user-agent rule at all in html5_ua.css (inline by default).
NO_UA_RULES = {"span"}


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path_factory.mktemp("ua"), keys), keys.trusted,
                         [keys.unit])
    ctx = FormContext(snap, "4W", "rn.kim", AS_OF)
    first = chart.census(snap.db, "4W")[0].patient_id
    made = []
    for kind in sorted(set(KINDS) - {"packet"}):
        patients = None if kind in ("census", "medlist", "registration") else [first]
        made += [step() for step in plan(ctx, kind, patients)]
    return made


def _boxes(document) -> list[tuple]:
    """Every box of every page: its type, place and size, rounded to a hundredth of a px."""
    out = []

    def walk(box, depth):
        out.append((depth, type(box).__name__, *(round(getattr(box, a, 0) or 0, 2) for a in (
            "position_x", "position_y", "width", "height"))))
        for child in getattr(box, "children", []):
            walk(child, depth + 1)

    for page in document.pages:
        walk(page._page_box, 0)
    return out


def test_every_element_the_templates_use_has_its_rules(forms):
    used = set()
    for template in TEMPLATES.glob("*.j2"):
        used |= set(re.findall(r"<([a-z][a-z0-9]*)\b", template.read_text()))
    ua = (TEMPLATES / "ua.css").read_text()
    selectors = " ".join(rule.split("{")[0] for rule in ua.split("}"))
    covered = set(re.findall(r"(?<![-\w.#])([a-z][a-z0-9]*)\b", re.sub(r"/\*.*?\*/", "",
                                                                      selectors, flags=re.S)))
    assert used - NO_UA_RULES <= covered, f"no rule in ua.css for {used - NO_UA_RULES - covered}"


def test_forms_lay_out_as_with_the_full_html5_stylesheet(forms):
    css, fonts = compose._stylesheet()
    for form in forms:
        for html in (form.layers.body, form.layers.head):
            ours, full = compose._html(html), compose._html(html)
            assert type(ours) is not HTML
            full.__class__ = HTML  # the same parsed document, WeasyPrint's own stylesheet
            laid_out = [d.render(stylesheets=[css], font_config=fonts) for d in (ours, full)]
            assert _boxes(laid_out[0]) == _boxes(laid_out[1]), \
                f"{form.record.kind} lays out otherwise"
