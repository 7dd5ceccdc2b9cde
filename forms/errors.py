"""The forms package's one error for a request it cannot honour (unknown unit, patient, kind,
paper, an unwritable PDF path): its message is the one line the user sees."""

from snapshots.errors import ToolkitError


class FormError(ToolkitError):
    reason = "form"
