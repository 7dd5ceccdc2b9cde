"""The forms package's one error for a request it cannot honour (unknown unit, patient, kind,
paper, an unwritable PDF path): its message is the one line the user sees."""


class FormError(Exception):
    pass
