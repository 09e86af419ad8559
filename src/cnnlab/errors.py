"""The one exception type users see.

Every check on user input raises :class:`CnnlabError` with a single line that says what was
wrong, what was received and how to fix it; the CLI prints that line on stderr and exits 2.
"""


class CnnlabError(ValueError):
    """A problem with the user's input, explained in one line."""


class CnnlabWarning(UserWarning):
    """Something worth knowing that does not stop the work (the CLI prints it as one line)."""
