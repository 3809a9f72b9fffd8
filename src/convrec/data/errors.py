"""Errors raised by the data layer: every one names the file, and the line and field when known."""

from __future__ import annotations

from pathlib import Path

SHOWN_CHARS = 80
"""At most this many characters of a bad value are quoted in an error line."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for an error line, cut to ``limit`` characters (a longer text says its
    full length), so that a huge bad field never floods the terminal."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" (of {len(value)} chars)" if isinstance(value, (str, bytes)) else ""
    return text[: limit - 3] + "..." + size


class DataError(ValueError):
    """Malformed or unusable input data.

    Parameters
    ----------
    message
        What is wrong, in words a user can act on.
    path
        The offending file (or directory), when known.
    line
        1-based line number in ``path`` (the header is line 1 for delimited text).
    field
        The column / JSON field at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f", line {self.line}"
        if self.field is not None:
            where += (", " if where else "") + f"field '{self.field}'"
        return f"{where}: {self.message}" if where else self.message


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A named dataset or a path that does not exist; the message says how to get it."""


class UnknownIdError(KeyError):
    """An external user or item id that the dataset does not contain."""

    def __init__(self, kind: str, external_id: object) -> None:
        self.kind = kind
        self.external_id = external_id
        super().__init__(f"unknown {kind} id {shown(external_id)}")

    def __str__(self) -> str:
        return str(self.args[0])
