"""A patient's chart: a header that never scrolls, then tabs. Read-only."""

from __future__ import annotations

from collections import OrderedDict

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Static, TabbedContent, TabPane

from snapshots import chart
from snapshots.clinical_terms import dose_text, short_name, unit_text, vital_rank, with_unit

from ..errors import WorkerErrors, in_thread
from ..formatting import flag_text, masked, short, sparkline, when
from ..messages import BreakGlass, OpenPrint
from ..session import ChartData, read_chart
from ..widgets import DataAgeBar, KeysBar, PatientHeader, PlainTable

FILL_REST_AFTER = 0.05  # seconds after the chart's first repaint
DISCLAIMER_SHORT = "A reminder, not a pharmacy system: 5 drug classes and each allergy's own drug."
MED_COLUMN = 38  # the medication column at 80 columns; wider screens give it the rest,
MED_COLUMN_MAX = 64  # up to this: past it the times would sit far from the order they are of
MED_OTHERS = 12 + 12 + 7 + 4 * 2  # the other columns of the orders table and every padding
# units left out of the summary's one line of vital signs: what "HR 77" and "BP 135/92" are in
COMPACT_UNITS = ("/min", "mmHg")
TABS = [("summary", "1 Summary"), ("meds", "2 Medications"), ("obs", "3 Vitals & labs"),
        ("problems", "4 Problems"), ("notes", "5 Notes"), ("docs", "6 Documents")]


class ChartScreen(WorkerErrors, Screen):
    BINDINGS = [
        Binding("escape", "back", "Census", show=True),
        *[Binding(str(i + 1), f"tab('{key}')", show=False) for i, (key, _) in enumerate(TABS)],
        Binding("b", "break_glass", "Break glass", show=True),
        Binding("p", "print", "Print", show=True),
        Binding("ctrl+l", "app.lock", "Lock", show=True),
        Binding("ctrl+q", "app.quit", "Quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.patient_id = ""
        self.data: ChartData | None = None
        self.loads = 0  # completed loads of this patient (tests and benchmarks wait on it)
        self._styled_with: object = None  # the stylesheet rules this screen was styled with
        self._note_shown: tuple = ()
        self._unfilled: set[str] = set()  # tabs still showing an older patient or state
        self._med_shown_width = MED_COLUMN  # the medication column's width now

    def open(self, patient_id: str) -> None:
        """Show another patient: one screen is reused, so opening a chart mounts nothing.
        A mounted screen logs and reads the chart in a worker and pushes itself when it is
        filled (every part of it, so nothing of the previous patient is ever seen)."""
        self.patient_id = patient_id
        self.data = None
        self.loads = 0
        if self.is_mounted:
            if self.is_current:  # on screen (not so from the census): say it is changing
                self.query_one("#patient-header", PatientHeader).update("loading…")
            self.load(audit=True)

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles every widget of a screen each time it is pushed: ~20 ms of a chart
        # open, for a screen that is reused and styled the same way each time. Class changes
        # are restyled when they happen, on stage or off, so only a changed stylesheet (a new
        # theme) calls for it again. (Runs before Screen's own handler, which reads the flag.)
        rules = self.app.stylesheet.rules
        if rules is self._styled_with:
            event.refresh_styles = False
        self._styled_with = rules

    def compose(self) -> ComposeResult:
        yield PatientHeader("loading…", id="patient-header")
        with TabbedContent(id="tabs"):
            with TabPane(TABS[0][1], id="summary"):
                yield VerticalScroll(Static("", id="summary-text"))
            with TabPane(TABS[1][1], id="meds"):
                yield Static("", id="meds-alerts")
                yield PlainTable(id="meds-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="meds-why")
            with TabPane(TABS[2][1], id="obs"):
                yield PlainTable(id="vitals-table", cursor_type="row")
                yield PlainTable(id="labs-table", cursor_type="row", zebra_stripes=True)
            with TabPane(TABS[3][1], id="problems"):
                yield PlainTable(id="problems-table", cursor_type="row", zebra_stripes=True)
            with TabPane(TABS[4][1], id="notes"):
                yield PlainTable(id="notes-table", cursor_type="row")
                yield VerticalScroll(Static("", id="note-text"), id="note-scroll")
            with TabPane(TABS[5][1], id="docs"):
                yield PlainTable(id="docs-table", cursor_type="row", zebra_stripes=True)
        yield DataAgeBar(id="age")
        yield KeysBar("Esc census · 1-6 tabs · b break glass · p print · ^L lock")

    def on_mount(self) -> None:
        self._columns()
        self.watch(self.query_one("#tabs ContentSwitcher", ContentSwitcher), "current",
                   self._tab_shown, init=False)
        self.load(audit=bool(self.patient_id))  # mounted to open a chart, not prewarmed

    def _columns(self) -> None:
        def cols(table_id: str, *columns: tuple[str, int]) -> None:
            table = self.query_one(table_id, DataTable)
            for label, width in columns:
                table.add_column(label, width=width)

        self._med_columns()
        cols("#vitals-table", ("Vital sign", 13), ("Latest", 12), ("Flag", 4), ("When", 12),
             ("Trend", 12), ("Ref", 12))
        cols("#labs-table", ("Lab", 16), ("Latest", 14), ("Flag", 4), ("Trend", 12), ("Ref", 9),
             ("When", 12))
        cols("#problems-table", ("Problem", 44), ("Status", 10), ("Onset", 12))
        cols("#notes-table", ("Written", 12), ("Title", 28), ("Author", 18), ("", 6))
        cols("#docs-table", ("Written", 12), ("Document", 30), ("Type", 16), ("Size", 8))

    def med_width(self) -> int:
        """The medication column: 38 at 80 columns, the rest of a wider screen (less the
        scroll bar), so a long order is shown whole where there is room."""
        return max(MED_COLUMN, min(MED_COLUMN_MAX, (self.size.width or 80) - MED_OTHERS - 4))

    def _med_columns(self) -> None:
        table = self.query_one("#meds-table", DataTable)
        table.clear(columns=True)
        self._med_shown_width = self.med_width()
        for label, width in (("Medication / dose · route · frequency", self._med_shown_width),
                             ("Last given", 12), ("Next due", 12), ("Status", 7)):
            table.add_column(label, width=width)

    def on_resize(self, event: events.Resize) -> None:
        if self.med_width() != self._med_shown_width:
            self._med_columns()
            if self.data is not None:
                self._meds(self.data, self.app.clock())

    # --- loading ------------------------------------------------------------------------------

    @in_thread(group="chart")
    def load(self, audit: bool = False) -> None:
        """Read the chart (and first log `chart-open`, unless this is a reload of the one on
        screen) off the event loop: the audit log is fsynced, the snapshot queried."""
        app = self.app
        session, patient = app.session, self.patient_id
        if session is None or not patient:
            return
        # logged while the chart is read (the fsync waits on the disk, not on the CPU)
        logged = app.audit_soon("chart-open", patient_id=patient) if audit else None
        try:
            data = read_chart(session.db_for(patient), patient, app.clock())
        finally:
            if logged is not None:
                logged.result()  # nothing is shown that is not in the log
        app.call_from_thread(self.show, data)

    def show(self, data: ChartData) -> None:
        if data.header.patient_id != self.patient_id or self.app.session is None \
                or not self.is_mounted:
            return  # a load for the previous patient (or before a lock) finished late
        self.data = data
        opening = self not in self.app.screen_stack
        if opening:
            self.query_one("#tabs", TabbedContent).active = "summary"  # a chart opens there
        self.query_one("#patient-header", PatientHeader).show(data.header)
        self.render_tabs()
        self.refresh_age()
        self.loads += 1
        if opening:
            # filled off stage, then shown: one screen switch, no "loading…" in between
            self.app.push_screen(self)

    @property
    def unlocked(self) -> bool:
        session = self.app.session
        return bool(session and self.patient_id in session.broken_glass)

    def render_tabs(self) -> None:
        """Fill the summary and the tab on screen now, the other tabs 50 ms after the chart is
        painted: an open waits only for what it shows (filling and measuring the hidden
        tables was a third of it). A tab still holding the previous patient's rows is filled
        the instant it is made visible, whichever way (see _tab_shown), before any repaint."""
        data = self.data
        if data is None:
            return
        self._summary(data, self.app.clock())
        self._unfilled = set(FILLERS)
        self._fill(self.query_one("#tabs", TabbedContent).active)
        # counted from the repaint, not from now: on a busy machine the repaint can take
        # longer than the delay, and the fill would hold it up
        self.call_after_refresh(lambda: self.set_timer(FILL_REST_AFTER,
                                                       lambda: self._fill_rest(data)))

    def shown_tab(self) -> str | None:
        """The tab on screen, once it shows this chart's data (benchmarks wait on it)."""
        tab = self.query_one("#tabs", TabbedContent).active
        return tab if self.data is not None and tab not in self._unfilled else None

    def _tab_shown(self, tab: str | None) -> None:
        """The ContentSwitcher shows another tab (keys 1-6, the tab bar, a click): called
        synchronously as it changes, so stale rows never reach the screen."""
        if tab:
            self._fill(tab)

    def _fill(self, tab: str) -> None:
        if tab in self._unfilled and self.data is not None:
            fill = FILLERS[tab]
            fill(self, self.data, self.app.clock())
            self._unfilled -= {t for t, f in FILLERS.items() if f is fill}

    def _fill_rest(self, data: ChartData) -> None:
        if data is self.data and self.is_mounted:  # not replaced by another patient since
            for tab in list(self._unfilled):
                self._fill(tab)

    def _summary(self, d: ChartData, now) -> None:
        h = d.header
        t = Text()
        t.append("Admitted ", style="bold")
        t.append(f"{when(h.admitted_at, now)}   ")
        t.append("Attending ", style="bold")
        t.append(f"{h.attending or '—'}   ")
        t.append("Unit ", style="bold")
        t.append(f"{h.unit or '—'}\n")
        if h.other_mrns:
            t.append("Other MRNs ", style="bold")
            t.append(", ".join(h.other_mrns) + "\n")
        if h.fall_risk:
            t.append("Fall risk ", style="bold")
            t.append(f"{h.fall_risk}\n", style="bold yellow")
        t.append(self._allergy_section(d))
        active = [m for m in d.meds if m.status == "active" and not m.prn]
        due = sorted((m for m in active if m.next_due), key=lambda m: m.next_due)
        t.append("\nMedications ", style="bold underline")
        t.append(f" {len(active)} scheduled, {sum(m.prn for m in d.meds)} PRN, "
                 f"{sum(m.status == 'on-hold' for m in d.meds)} on hold\n")
        for m in due[:4]:
            t.append(f"  next {when(m.next_due, now):>12}  ")
            t.append(masked(m.restricted, short(m.medication, 50), self.unlocked))
            t.append("\n")
        latest = vital_groups(d.vitals)
        if latest:
            t.append("\nLatest vitals\n", style="bold underline")
            parts = []
            for name, obs in latest.items():
                o = obs[0]
                if o.restricted and not self.unlocked:
                    continue
                unit = unit_text(o.unit)
                value = o.value if unit in COMPACT_UNITS else with_unit(o.value, o.unit)
                # a value and its unit are never wrapped apart ("Weight 73.7 / kg")
                parts.append(Text.assemble(f"{name} {value}".replace(" ", "\u00a0"),
                                           (f" {o.flag}" if o.flag and o.flag != "N" else "",
                                            "bold red")))
            t.append("  ")
            t.append(Text("  ·  ").join(parts))
            t.append("\n")
        t.append(self._labs_section(d, now))
        probs = [p for p in d.problems if p["clinical_status"] == "active"]
        if probs:
            t.append("\nActive problems\n", style="bold underline")
            for p in probs[:6]:
                t.append("  • ")
                t.append(masked(bool(p["restricted"]), p["display"] or "?", self.unlocked))
                t.append("\n")
        # first lines, never below the fold: what is hidden, what may conflict, what is missing
        top = Text()
        hidden = self.restricted_count()
        if hidden and not self.unlocked:
            top.append(f"{hidden} restricted record(s) hidden — press b to break glass\n",
                       style="bold magenta")
        top.append(self._conflict_lines(d))
        for n in h.not_loaded:  # allergies: in the banner and the allergy section
            if n.resource_type != "AllergyIntolerance":
                top.append(f"⚠ {n.text}\n", style="bold white on dark_red")
        self.query_one("#summary-text", Static).update(top + t)

    def _conflict_lines(self, d: ChartData, limit: int = 4, full: bool = False) -> Text:
        """The allergy-order conflicts, one line each on the Summary (the Medications tab has
        them all, with what matched and why)."""
        t = Text()
        for c in d.check.conflicts[:limit]:
            what = c.masked_text() if c.restricted and not self.unlocked else c.short
            t.append("⚠ ALLERGY–ORDER: ", style="bold white on red")
            t.append(f"{what}\n", style="bold")
        if len(d.check.conflicts) > limit:
            t.append(f"  … {len(d.check.conflicts) - limit} more: "
                     f"{'the ⚠ALG orders below' if full else '2 Medications'}\n", style="bold")
        elif d.check.conflicts and not full:
            t.append("  what matched and why: 2 Medications\n", style="dim")
        return t

    @on(DataTable.RowHighlighted, "#meds-table")
    def _med_moved(self, event: DataTable.RowHighlighted) -> None:
        self.show_why(str(event.row_key.value) if event.row_key.value else None)

    def show_why(self, order_id: str | None) -> None:
        """Under the orders: for the one the cursor is on, what the allergy check matched and
        why (every conflict of it), or nothing."""
        d = self.data
        target = self.query_one("#meds-why", Static)
        found = [c for c in d.check.conflicts if c.order_id == order_id] if d else []
        if not found or (found[0].restricted and not self.unlocked):
            target.update("")
            return
        t = Text()
        for c in found:
            t.append("⚠ ", style="bold white on red")
            t.append(f"{c.substance}: {c.why} ({c.how})\n", style="bold")
        target.update(t)

    def _allergy_section(self, d: ChartData) -> Text:
        """Every allergy with its reaction and criticality, a warning where the record could
        not all be read; the no-known statements as recorded, and what they leave open."""
        a, t = d.header.allergy, Text()
        if a.kind == "unknown" and not a.not_loaded:
            return t
        t.append("\nAllergies\n", style="bold underline")
        for item in a.allergies:
            extra = ", ".join(x for x in (item.reaction, item.severity, item.criticality and
                                          f"criticality {item.criticality}") if x)
            t.append(f"  • {item.substance}", style="bold red")
            t.append(f"  {extra}\n" if extra else "\n")
            if item.warning:
                t.append(f"    ⚠ {item.warning}\n", style="bold black on yellow")
        if a.no_known_text:
            t.append(f"  {a.no_known_text} (recorded)", style="bold")
            t.append(f" — {a.open_text}\n" if a.open_text else "\n")
        if a.not_loaded:
            t.append(f"  ⚠ {a.not_loaded_text}\n", style="bold white on dark_red")
        return t

    def _labs_section(self, d: ChartData, now) -> Text:
        """The latest result of each test, flagged if abnormal; an earlier abnormal result of
        a test that has normalised is trend ("earlier 3.3 L"), not a current finding."""
        results = chart.latest_results(d.labs)
        t = Text()
        if not results:
            return t
        t.append("\nLabs — latest of each test\n", style="bold underline")
        for r in sorted(results, key=lambda r: not r.abnormal):
            o = r.latest
            if o.restricted and not self.unlocked:
                continue
            t.append(f"  {short_name(o.code, o.display)} {with_unit(o.value, o.unit)}")
            if r.abnormal:
                t.append(f" {o.flag}", style="bold red")
            t.append(f"  ({when(o.effective_at, now)})")
            e = r.changed_from
            if e is not None and (not e.restricted or self.unlocked):
                t.append(f"  earlier {with_unit(e.value, e.unit)} {e.flag} "
                         f"({when(e.effective_at, now)})",
                         style="dim")
            t.append("\n")
        return t

    def restricted_count(self) -> int:
        d = self.data
        if d is None:
            return 0
        return (sum(o.restricted for o in d.vitals + d.labs) +
                sum(m.restricted for m in d.meds) +
                sum(bool(r["restricted"]) for r in d.problems + d.procedures + d.notes))

    def _meds(self, d: ChartData, now) -> None:
        alerts = self._conflict_lines(d, limit=4, full=True)
        if not d.check.conflicts:
            alerts.append(d.check.summary + "\n", style="bold" if d.check.unplaced or
                          d.check.state == "no-allergy-information" else "")
        alerts.append(DISCLAIMER_SHORT, style="dim")
        for n in d.header.not_loaded:
            if n.resource_type == "MedicationRequest":
                alerts.append(f"\n⚠ {n.text}", style="bold white on dark_red")
        self.query_one("#meds-alerts", Static).update(alerts)
        self.query_one("#meds-why", Static).update("")
        conflicting = {c.order_id for c in d.check.conflicts}
        table = self.query_one("#meds-table", DataTable)
        table.clear()
        if not d.meds:
            table.add_row(Text("No active medication orders", style="italic"), "", "", "")
        for m in d.meds:
            if m.restricted and not self.unlocked:  # the due time stays: a dose is still due
                cell = masked(True, "", False)
                if m.id in conflicting:
                    cell = Text.assemble(("⚠ALG ", "bold white on red"), cell)
                table.add_row(cell, when(m.last_given, now),
                              "as needed" if m.prn else when(m.next_due, now), "", key=m.id,
                              height=2)
                continue
            what = " · ".join(x for x in (dose_text(m.dose or m.rate), m.route,
                                          m.frequency_text) if x)
            if m.status == "on-hold":
                status = Text("ON HOLD", style="bold black on yellow")
            elif m.prn:
                status = Text("PRN", style="bold cyan")
            else:
                status = Text("IV" if m.iv else "sched")
            width = self._med_shown_width
            name = Text(short(m.medication, width),
                        style="dim" if m.status == "on-hold" else
                        ("bold magenta" if m.restricted else "bold"))
            if m.id in conflicting:
                name = Text.assemble(("⚠ALG ", "bold white on red"),
                                     short(m.medication, width - 5))
            name.append("\n" + short(what + (f" — for {m.prn_reason}" if m.prn and
                                             m.prn_reason else ""), width))
            table.add_row(name, when(m.last_given, now),
                          "as needed" if m.prn else when(m.next_due, now), status, key=m.id,
                          height=2)

    def _obs(self, d: ChartData, now) -> None:
        vitals = self.query_one("#vitals-table", DataTable)
        vitals.clear()
        groups = vital_groups(d.vitals)
        for name, obs in groups.items():
            last = obs[0]
            if last.restricted and not self.unlocked:
                vitals.add_row(name, masked(True, "", False), "", "", "", "")
                continue
            trend = self._trend(obs)
            vitals.add_row(name, with_unit(last.value, last.unit),
                           flag_text(last.flag), when(last.effective_at, now), trend,
                           last.reference or "")
        if not groups:
            vitals.add_row(Text("No vital signs in the snapshot", style="italic"),
                           "", "", "", "", "")
        labs = self.query_one("#labs-table", DataTable)
        labs.clear()
        tests: OrderedDict[str, list[chart.Observation]] = OrderedDict()
        for o in d.labs:  # newest first: one row per test, its latest result and its trend
            tests.setdefault(o.code or o.display, []).append(o)
        for results in tests.values():
            last = results[0]
            if last.restricted and not self.unlocked:
                labs.add_row(short(short_name(last.code, last.display), 16),
                             masked(True, "", False), "", "", "", "")
                continue
            labs.add_row(short(short_name(last.code, last.display), 16),
                         masked(last.restricted, with_unit(last.value, last.unit),
                                self.unlocked),
                         flag_text(last.flag), self._trend(results), last.reference or "",
                         when(last.effective_at, now))
        if not d.labs:
            labs.add_row(Text("No lab results in the snapshot", style="italic"),
                         "", "", "", "", "")

    def _trend(self, newest_first: list[chart.Observation]) -> str:
        """Up to 12 values, oldest first; restricted values stay out until break-glass."""
        return sparkline([o.value_num for o in reversed(newest_first[:12])
                          if o.value_num is not None and (self.unlocked or not o.restricted)])

    def _problems(self, d: ChartData, now) -> None:
        table = self.query_one("#problems-table", DataTable)
        table.clear()
        for p in d.problems:
            table.add_row(masked(bool(p["restricted"]), p["display"] or "?", self.unlocked),
                          p["clinical_status"] or "", (p["onset"] or "")[:10])
        for p in d.procedures:
            table.add_row(masked(bool(p["restricted"]), f"Procedure: {p['display'] or '?'}",
                                 self.unlocked), p["status"] or "",
                          (p["performed_at"] or "")[:10])
        if not d.problems and not d.procedures:
            table.add_row(Text("No problems recorded", style="italic"), "", "")

    def _notes(self, d: ChartData, now) -> None:
        notes = self.query_one("#notes-table", DataTable)
        docs = self.query_one("#docs-table", DataTable)
        notes.clear()
        docs.clear()
        for n in d.notes:
            title = masked(bool(n["restricted"]), n["title"] or n["kind"] or "Note",
                           self.unlocked)
            if n["has_text"]:
                notes.add_row(when(n["written_at"], now), title, short(n["author"], 18),
                              "R" if n["restricted"] else "", key=n["id"])
            else:
                docs.add_row(when(n["written_at"], now), title, n["content_type"] or "",
                             f"{(n['size'] or 0) // 1024} kB", key=n["id"])
        if not notes.row_count:
            notes.add_row("", Text("No notes in the snapshot", style="italic"), "", "")
        if not docs.row_count:
            docs.add_row("", Text("No documents in the snapshot", style="italic"), "", "")
        self.show_note()

    @on(DataTable.RowHighlighted, "#notes-table")
    def _note_moved(self, event: DataTable.RowHighlighted) -> None:
        self.show_note(str(event.row_key.value) if event.row_key.value else None)

    def show_note(self, note_id: str | None = None) -> None:
        target = self.query_one("#note-text", Static)
        d = self.data
        if d is None:
            return
        rows = [n for n in d.notes if n["has_text"]]
        row = next((n for n in rows if n["id"] == note_id), rows[0] if rows else None)
        # filling the notes table highlights its first row, which asks for the note shown
        # already: a second update would lay the whole screen out again
        shown = (d, row["id"] if row else None, self.unlocked)
        if len(self._note_shown) == 3 and self._note_shown[0] is d \
                and self._note_shown[1:] == shown[1:]:
            return
        self._note_shown = shown
        if row is None:
            target.update("")
            return
        if row["restricted"] and not self.unlocked:
            target.update(Text("This note is restricted. Press b to break glass (you will be "
                               "asked for a reason, and it is logged).", style="magenta"))
            return
        session = self.app.session
        if session is None or session.snapshot_for(self.patient_id) is None:
            return  # locked (or switched away) while this event was on its way
        text, _ = chart.note_content(session.db_for(self.patient_id), row["id"])
        head = Text(f"{row['title']} — {row['author'] or 'unknown author'}, "
                    f"{when(row['written_at'], self.app.clock())}\n", style="bold")
        target.update(head + Text(text or ""))

    def refresh_age(self) -> None:
        session = self.app.session
        self.query_one("#age", DataAgeBar).show(self.app.data_age(),
                                                 session.label if session else "",
                                                 session.user if session else "",
                                                 self.app.notice())

    # --- actions ------------------------------------------------------------------------------

    def action_tab(self, key: str) -> None:
        self.query_one("#tabs", TabbedContent).active = key

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_break_glass(self) -> None:
        if self.unlocked:
            self.app.notify("Restricted records are already shown for this patient.")
            return
        if not self.restricted_count():
            self.app.notify("This patient has no restricted records.")
            return
        from .break_glass import BreakGlassScreen

        def done(reason: str | None) -> None:
            if reason:  # the app logs it, then has this screen show the records
                self.post_message(BreakGlass(self.patient_id, reason))

        self.app.push_screen(BreakGlassScreen(self.data.header.name if self.data else ""),
                             done)

    def action_print(self) -> None:
        self.post_message(OpenPrint(self.patient_id))


# what fills each tab other than the summary (notes and documents come from one list)
FILLERS = {"meds": ChartScreen._meds, "obs": ChartScreen._obs,
           "problems": ChartScreen._problems, "notes": ChartScreen._notes,
           "docs": ChartScreen._notes}


def vital_groups(vitals: list[chart.Observation]) -> OrderedDict[str, list[chart.Observation]]:
    """The vital signs (newest first, blood pressures paired) by short name, in the order
    they are read out (BP, HR, RR, Temp, SpO2 ...), each newest first."""
    groups: dict[str, list[chart.Observation]] = {}
    for o in vitals:
        groups.setdefault(short_name(o.code, o.display), []).append(o)
    return OrderedDict(sorted(groups.items(), key=lambda kv: vital_rank(kv[0])))
