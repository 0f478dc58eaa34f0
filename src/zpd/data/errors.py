"""Exceptions of the offline data tools (``zpd.data``).

What it is: the error types ``zpd.data`` raises for bad input. Every one subclasses ``ValueError``
(the house rule for bad input) so callers can catch them like any bad argument, and every message
says what is wrong and what to do. What it is not: the core's error hierarchy (``zpd.core.errors``);
the data layer does not depend on it so that it can be used without the core.
"""

from __future__ import annotations


class DataError(ValueError):
    """Bad input to an offline data tool: a setting, a file, a model directory or a row."""


class RowError(DataError):
    """A row of a dataset file is malformed; the message names the file and the row.

    Attributes:
        path: the dataset file.
        row: 0-based position of the record in the dataset (the id a trainer would use).
        line: 1-based line number for JSONL files, else ``None``.
        reason: a short machine-readable reason (``"bad_json"``, ``"missing_field"``, ...).
    """

    def __init__(self, message: str, *, path: str, row: int, line: int | None, reason: str):
        super().__init__(message)
        self.path = path
        self.row = row
        self.line = line
        self.reason = reason


class ResumeError(DataError):
    """An output file exists but was written with different settings; it is left untouched."""
