"""The one error type the command line turns into a clean message and exit 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a file, a key in it, and what is wrong.

    The CLI prints ``str(err)`` on one line and exits with status 2.
    """

    def __init__(self, source: str, key: str | None, message: str) -> None:
        self.source = str(source)
        self.key = key
        self.message = message
        where = f"{self.source}: {key}" if key else self.source
        super().__init__(f"{where}: {message}")


class BoundViolation(AssertionError):
    """A measured error above a bound that should hold: a bug, with what reproduces it."""
