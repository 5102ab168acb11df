"""The error every user-facing failure of the predictor raises: one line, no traceback."""


class InputError(ValueError):
    """Bad input given by the user; the message is one line that names the
    file and record and, where it applies, the 1-based position."""
