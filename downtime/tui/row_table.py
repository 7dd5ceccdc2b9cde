"""A read-only table that draws only the rows on screen, each row's line built once.

Why not DataTable for the census: after any change (and a filter keystroke changes it all)
DataTable re-renders every visible cell through Rich (~140 cells a keystroke) and measures
every added row, which was most of a keystroke's time at 5,000 inpatients; and listing a
whole house meant filling it in chunks. Here a row is turned into one line the first time it
is drawn and that line is kept, keyed by the row itself (rows are frozen dataclasses: a row
whose data changed is a different key, so a newer snapshot can never show an old line), and
only the lines on screen are drawn, so a list of 5,000 costs what a list of 20 does.

It looks like the DataTable it replaces: a bold header line that never scrolls, zebra
stripes, a row cursor; its cursor colours the text like DataTable's does (cell backgrounds
such as the red ALG marker stay).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Row = TypeVar("Row", bound=Hashable)
Cell = str | Text
PADDING = 1  # blank cells each side of a column, as DataTable's cell_padding
CACHE_LIMIT = 20_000  # lines kept; more than three variants of a 5,000-patient house


class RowTable(ScrollView, Generic[Row], can_focus=False):
    COMPONENT_CLASSES = {"row-table--header", "row-table--cursor", "row-table--even-row"}
    # DataTable's own colours, so the screen looks as it did
    DEFAULT_CSS = """
    RowTable {
        background: $surface;
        color: $foreground;
        & > .row-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .row-table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .row-table--even-row { background: $surface-darken-1 40%; }
        & > .row-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class Selected(Message):
        """A click on the cursor row (Enter belongs to the screen)."""

        def __init__(self, table: RowTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(self, columns: Sequence[tuple[str, int]],
                 cells: Callable[[Row, Sequence[int]], Sequence[Cell]], *,
                 padding: tuple[int, int] = (PADDING, PADDING), id: str | None = None) -> None:
        """`cells(row, widths)` gives a row's cells for columns of those widths (a cell may
        choose a shorter wording to fit); `padding`: blanks left and right of each column."""
        super().__init__(id=id)
        self._cells = cells
        self._padding = padding
        self.rows: Sequence[Row] = ()
        self.cursor_row = 0
        self._lines: dict[tuple[Hashable, str, int], Strip] = {}
        self.set_columns(columns)

    def set_columns(self, columns: Sequence[tuple[str, int]]) -> None:
        """Other columns (labels and widths): every line is built again."""
        self.columns = list(columns)
        self._widths = [width for _, width in self.columns]
        self._content_width = sum(width + sum(self._padding) for width in self._widths)
        self._lines.clear()
        if self.rows:
            self.virtual_size = Size(self._content_width, len(self.rows) + 1)
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def get_row_at(self, index: int) -> list[Cell]:
        return list(self._cells(self.rows[index], self._widths))

    def set_rows(self, rows: Sequence[Row], cursor: int = 0) -> None:
        """Show `rows` (kept, not copied) with the cursor on row `cursor`."""
        self.rows = rows
        self.cursor_row = max(0, min(cursor, len(rows) - 1))
        self.virtual_size = Size(self._content_width, len(rows) + 1)  # + the header
        if len(self._lines) > CACHE_LIMIT:
            self._lines.clear()
        self._scroll_to_cursor()
        self.refresh()

    def move_cursor(self, row: int) -> None:
        if not self.rows:
            return
        self.cursor_row = max(0, min(row, len(self.rows) - 1))
        self._scroll_to_cursor()
        self.refresh()

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)  # less the header
        top = round(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self._scroll_to_cursor()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()  # the lines carry the old colours
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = round(self.scroll_offset.y) + offset.y - 1
        if index >= len(self.rows):
            return
        if index == self.cursor_row:
            self.post_message(self.Selected(self, index))
        else:
            self.move_cursor(index)

    # --- drawing ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._line("header", None, "header", width)
        index = round(self.scroll_offset.y) + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        variant = "cursor" if index == self.cursor_row else ("even" if index % 2 == 0
                                                             else "odd")
        return self._line(row, row, variant, width)

    def _line(self, key: Hashable, row: Row | None, variant: str, width: int) -> Strip:
        cache_key = (key, variant, width)
        line = self._lines.get(cache_key)
        if line is None:
            cells = [label for label, _ in self.columns] if row is None else \
                self._cells(row, self._widths)
            line = self._lines[cache_key] = self._build(cells, variant, width)
        return line

    def _build(self, cells: Sequence[Cell], variant: str, width: int) -> Strip:
        base = self.rich_style
        if variant == "header":
            base += self.get_component_rich_style("row-table--header")
        elif variant == "even":
            base += self.get_component_rich_style("row-table--even-row")
        console = self.app.console
        left, right = (Segment(" " * n) for n in self._padding)
        segments: list[Segment] = []
        for cell, (_, col_width) in zip(cells, self.columns, strict=False):
            text = Text(cell) if isinstance(cell, str) else cell.copy()
            text.truncate(col_width, overflow="ellipsis", pad=True)
            # Text.render leaves the text's own style (e.g. ALG's red) to its caller
            own = console.get_style(text.style, default=Style.null())
            segments += [left, *Segment.apply_style(text.render(console), own), right]
        if variant == "cursor":
            # as DataTable: the cursor's colours under the cells, its text colour over them
            cursor = self.get_component_rich_style("row-table--cursor")
            base += cursor
            segments = list(Segment.apply_style(segments, base, Style(color=cursor.color)))
        else:
            segments = list(Segment.apply_style(segments, base))
        return Strip(segments).extend_cell_length(width, base).crop(0, width)
