"""The studio's request errors: a :class:`~cnnlab.errors.CnnlabError` with an HTTP status."""

from __future__ import annotations

from cnnlab.errors import CnnlabError


class StudioError(CnnlabError):
    """A request the studio refuses, explained in one line, answered with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
