"""Every CSV we write goes through here, so that no cell becomes a formula in a spreadsheet.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a
formula by Excel or LibreOffice (CSV injection: ``=HYPERLINK(...)`` in a device name sent by a vendor, or
typed into a comment). Such a cell is written with a single quote in front, as OWASP recommends; the
spreadsheet shows the text as typed. Numbers are written as numbers: a temperature of -18.5 stays -18.5
(only ``str`` cells are touched, so rows must carry numbers as ``int``/``float``, never as text).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The cell as written: text that a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


class SafeCsvWriter:
    """``csv.writer`` with every text cell passed through ``safe_cell``.

    The csv module quotes a cell holding a line break only if that character is in its line terminator,
    so with ``lineterminator="\n"`` a cell holding "\r" would be written bare and split the row when
    read back. Rows are therefore made with "\r\n" (every cell holding either character is quoted) and
    written with the terminator asked for.
    """

    def __init__(self, stream, lineterminator: str = "\r\n", **options):
        self._stream = stream
        self._terminator = lineterminator
        self._line = io.StringIO()
        self._writer = csv.writer(self._line, lineterminator="\r\n", **options)

    def writerow(self, row: Iterable[Any]):
        self._writer.writerow(safe_row(row))
        line = self._line.getvalue()[:-2] + self._terminator
        self._line.seek(0)
        self._line.truncate()
        return self._stream.write(line)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class _Echo:
    """A file that hands back what is written: lets ``writerow`` return each line for streaming."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[Any]], header: Iterable[str] | None = None):
    """The CSV text line by line, for a ``StreamingHttpResponse``."""
    writer = SafeCsvWriter(_Echo())
    if header is not None:
        yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)
