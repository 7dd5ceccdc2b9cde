"""What a screen asks of the app: messages up (the app decides what happens: which screen,
what is logged), attributes down (screens read `app.session` and `app.workstation`)."""

from __future__ import annotations

from textual.message import Message

from .session import Session


class Unlocked(Message):
    """The unlock screen opened a session."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session


class OpenChart(Message):
    def __init__(self, patient_id: str) -> None:
        super().__init__()
        self.patient_id = patient_id


class OpenPrint(Message):
    """The print dialog for one patient, or (patient_id None) for a unit."""

    def __init__(self, patient_id: str | None, unit: str | None = None) -> None:
        super().__init__()
        self.patient_id = patient_id
        self.unit = unit


class BreakGlass(Message):
    """Someone gave a reason to see a patient's restricted records."""

    def __init__(self, patient_id: str, reason: str) -> None:
        super().__init__()
        self.patient_id = patient_id
        self.reason = reason
