"""Laying out a job's forms with WeasyPrint and composing their pages into one PDF.

A printed page is three layers, each laid out on a page of the same size and drawn one over
the other into one PDF page:

- the form's body, between the page margins. Identical bodies are laid out once: the blank
  physician orders, progress note and vitals flowsheet are the same for every patient, so a
  unit packet lays each out once, not once per patient;
- the page header's patient (or unit) block, in the top margin: the same on every page of a
  patient's forms, so it is laid out once per patient, not once per page (it was a running
  element laid out again on every page: about a fifth of a packet's time);
- the stamp: what differs from form to form and page to page (QR code, form kind and id,
  footer, "Page x of y"), all of a job's stamps laid out in one document. It is laid out
  after the bodies, so each page's QR code can carry that page's number and the form's page
  count (forms.qr, DTF2): one small code a page, made as the stamps are.

Each form is still its own body document, so "Page x of y" counts that form's pages. Drawing
goes through WeasyPrint's own `Page.paint`, so the PDF is written once, fonts and images
shared by every page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from snapshots.collector import collector_paused
from snapshots.errors import ToolkitError

from .qr import QrPayload, qr_data_uri

if TYPE_CHECKING:
    from weasyprint import CSS
    from weasyprint.document import Document, Page
    from weasyprint.text.fonts import FontConfiguration

TEMPLATES = Path(__file__).parent / "templates"
PAGE_HEIGHT_MM = {"Letter": 279.4, "A4": 297.0}


class ComposeError(ToolkitError):
    """The layers of a job did not line up (a header or stamp ran over its one page)."""

    reason = "compose"


@dataclass(frozen=True)
class Stamp:
    """What one form prints on each of its pages besides its body and the patient header."""

    title: str  # the form's kind as printed ("Downtime MAR")
    form_id: str
    payload: QrPayload  # what the QR code says; each page's code adds its page number
    footer: str


@dataclass
class Layers:
    """One form's layers as HTML: its body document, its header block (shared by the forms of
    one patient, or of one unit, in a job) and its stamp."""

    body: str
    head: str
    stamp: Stamp


@cache
def _stylesheet() -> tuple[CSS, FontConfiguration]:
    # WeasyPrint is imported here, not at the top: it takes about half a second, and a
    # pre-rendered packet, the agent and the CLI's other commands never lay anything out.
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    return CSS(filename=str(TEMPLATES / "print.css"), font_config=fonts), fonts


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(["j2", "html"]),
                              undefined=jinja2.StrictUndefined)


_VOID = re.compile(r"<(meta|br|img)\b([^>]*?)/?>")


@cache
def _forms_html() -> type:
    """WeasyPrint's HTML document class with our user-agent stylesheet (templates/ua.css) in
    place of its full HTML5 one."""
    from weasyprint import CSS, HTML
    from weasyprint.html import UA_COUNTER_STYLE

    ua = CSS(filename=str(TEMPLATES / "ua.css"), counter_style=UA_COUNTER_STYLE)

    class FormsHTML(HTML):
        def _ua_stylesheets(self, forms: bool = False) -> list:
            return [ua]

    return FormsHTML


def _html(html: str):
    """A WeasyPrint HTML document from one of our forms' HTML. Our templates are well formed
    but for the void elements (meta, br, img) and &nbsp;, so they are made XML and parsed with
    the C parser of xml.etree: WeasyPrint's pure-Python HTML5 parser took about 4% of a
    packet's time. Anything the XML parser refuses goes through WeasyPrint's own parser."""
    import cssselect2
    from weasyprint.urls import URLFetcher

    forms_html = _forms_html()
    try:
        root = ElementTree.fromstring(_VOID.sub(r"<\1\2/>", html.replace(
            "<!doctype html>", "", 1).replace("&nbsp;", "&#160;")))
    except ElementTree.ParseError:
        return forms_html(string=html, base_url=str(TEMPLATES))
    # what HTML.__init__ sets after parsing (WeasyPrint 70, pinned in pyproject.toml)
    document = forms_html.__new__(forms_html)
    document.base_url = str(TEMPLATES)
    document.url_fetcher = URLFetcher()
    document.media_type = "print"
    document.wrapper_element = cssselect2.ElementWrapper.from_html_root(
        root, content_language=None)
    document.etree_element = document.wrapper_element.etree_element
    return document


class LayeredPage:
    """A page drawn from layers laid out on pages of the same size, the first at the bottom.
    It stands for WeasyPrint's `Page` when the PDF is written: the first layer's size, links
    and anchors, and a `paint` that paints every layer into the same PDF page.

    A layer drawn on many pages (a patient's header; the blank orders and note bodies, the
    same for every patient) is painted once into a PDF form XObject, shared by the document,
    and each page draws that: painting is about a quarter of a packet's time, and the PDF
    holds each such layer once. `shared` maps those layers to their XObject's name, filled as
    they are first painted (one dict for one PDF)."""

    def __init__(self, *layers: Page, shared: dict[int, str] | None = None,
                 repeated: frozenset[int] = frozenset()):
        base = layers[0]
        self.layers = layers
        self.shared = shared if shared is not None else {}
        self.repeated = repeated  # ids of the layers drawn on more than one page
        self.width, self.height, self.bleed = base.width, base.height, base.bleed
        self.links, self.anchors = base.links, base.anchors
        self.bookmarks, self.forms = base.bookmarks, base.forms

    def paint(self, stream, scale: float = 1) -> None:
        for layer in self.layers:
            if id(layer) not in self.repeated:
                layer.paint(stream, scale)
                continue
            if id(layer) not in self.shared:
                self.shared[id(layer)] = _painted_once(stream, layer, scale)
            stream.draw_x_object(self.shared[id(layer)])


def _painted_once(stream, layer: Page, scale: float) -> str:
    """Paint `layer` into a new form XObject of the document; return its name. A plain form
    (WeasyPrint's add_group makes a transparency group, which some printer pipelines flatten
    the slow way; black print on white needs none)."""
    group = stream.add_group(0, 0, layer.width * scale, layer.height * scale)
    del group.extra["Group"]
    layer.paint(group, scale)
    return group.id


def compose_pdf(forms: Sequence[Layers], paper: str,
                progress: Callable[[int], None] | None = None
                ) -> tuple[bytes, int, list[int]]:
    """Lay out the forms' layers and write one PDF of all their pages, in order. Returns the
    PDF, its page count and each form's page count. `progress(n)` is called after the n-th
    form's body is laid out (bodies are most of the time)."""
    with collector_paused():  # a tenth of a packet's time went to collecting as it went
        return _compose(forms, paper, progress)


def _compose(forms: Sequence[Layers], paper: str,
             progress: Callable[[int], None] | None) -> tuple[bytes, int, list[int]]:
    if not forms:
        raise ValueError("no forms to compose")
    css, fonts = _stylesheet()
    images: dict = {}  # QR codes, MAR grids and rulings, decoded once for the job

    def layout(html: str) -> Document:
        return _html(html).render(stylesheets=[css], font_config=fonts, cache=images)

    bodies: dict[str, Document] = {}
    for n, form in enumerate(forms, 1):
        if form.body not in bodies:
            bodies[form.body] = layout(form.body)
        if progress:
            progress(n)
    heads = list(dict.fromkeys(f.head for f in forms))
    head_pages = _one_page_each(layout(environment().get_template("heads.html.j2").render(
        paper=paper, heads=heads)), len(heads), "page header")
    counts = [len(bodies[f.body].pages) for f in forms]
    stamps = [(f.stamp, i, n, qr_data_uri(f.stamp.payload.on_page(i, n)))
              for f, n in zip(forms, counts, strict=True) for i in range(1, n + 1)]
    # a hair shorter than the paper, so that rounding never spills a stamp onto a second page
    stamp_pages = _one_page_each(layout(environment().get_template("stamps.html.j2").render(
        paper=paper, height_mm=PAGE_HEIGHT_MM.get(paper, 297.0) - 0.5, stamps=stamps)),
        len(stamps), "stamp")
    head_of = {h: head_pages[i] for i, h in enumerate(heads)}
    layers = [(body_page, head_of[form.head])
              for form in forms for body_page in bodies[form.body].pages]
    uses = Counter(id(layer) for pair in layers for layer in pair)
    repeated = frozenset(key for key, n in uses.items() if n > 1)
    shared: dict[int, str] = {}
    pages = [LayeredPage(body, head, stamp, shared=shared, repeated=repeated)
             for (body, head), stamp in zip(layers, stamp_pages, strict=True)]
    first = next(iter(bodies.values()))
    return first.copy(pages).write_pdf(), len(pages), counts


def _one_page_each(document: Document, expected: int, what: str) -> list[Page]:
    if len(document.pages) != expected:  # each is sized to one page: a bug, never data
        raise ComposeError(f"{expected} {what}s laid out on {len(document.pages)} pages")
    return document.pages
