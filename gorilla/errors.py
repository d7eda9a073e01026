"""User-facing errors: the CLI prints them as one line and exits with status 2."""

from __future__ import annotations

from pathlib import Path


class GorillaError(Exception):
    """An error caused by input or environment, not by a bug: shown without a traceback."""


class InputError(GorillaError):
    """Bad input data, located as precisely as we can: `file:line: field: message`."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.message = str(path), line, field, message
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class Cancelled(Exception):
    """The caller withdrew the request (a server's client disconnected): work stopped early, nothing to show.
    Not a GorillaError: nobody is left to read a message, and the server must not count it as bad input."""
