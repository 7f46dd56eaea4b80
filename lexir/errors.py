"""User-facing errors.

Every error a user can cause (bad input, missing files, mismatched encoders) is a
`LexirError` with a message that says what was wrong and how to fix it. The CLI
prints these as one line; anything else is a bug and keeps its traceback.
"""


class LexirError(Exception):
    """An error caused by the user's input or environment, with an actionable message."""


class EncoderMismatchError(LexirError):
    """A query encoder whose spec differs from the one the index was built with."""


class IndexFormatError(LexirError):
    """A directory that is not a complete, readable lexir index."""
