"""The one place a worker's failure reaches the screen.

Blocking work runs in thread workers started with `in_thread` (Textual's `@work` with
`exit_on_error=False`): a failure does not end the app with Textual's crash report but
arrives as a `Worker.StateChanged` message at the screen that started the worker, whose
`WorkerErrors` handler turns it into one line (`error_text`) and hands it to the screen's
`worker_failed`: a notification unless the screen shows it its own way (the print dialog in
its status line, unlock on its form).

Only the toolkit's own errors (snapshots.errors.ToolkitError) are quoted: they say what and
where, and name files, never patient data. Anything else is a bug, named by its kind only:
its message could quote what it was given (a passphrase, a patient's name).
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.worker import Worker, WorkerState

from snapshots.errors import ToolkitError


def in_thread(*, group: str, exclusive: bool = True, description: str | None = None) -> Any:
    """@work(thread=True) whose failure goes to the screen's `worker_failed`. Textual names a
    worker after its arguments unless given a `description`: give one where an argument is a
    passphrase."""
    return work(thread=True, exclusive=exclusive, group=group, description=description,
                exit_on_error=False)


def error_text(error: BaseException | None) -> str:
    """What the user is told of a worker's failure, in one line."""
    if isinstance(error, ToolkitError):
        return str(error)
    return f"unexpected {type(error).__name__} (a fault of the program, not of the data). " \
        "Tell IT."


class WorkerErrors:
    """For the app and every screen: route the failures of its own workers (Textual sends a
    worker's state changes to the node that started it, and no further)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.worker_failed(event.worker, error_text(error), error)

    def worker_failed(self, worker: Worker, text: str, error: BaseException | None) -> None:
        self.app.notify(text, severity="error", timeout=10)  # type: ignore[attr-defined]
