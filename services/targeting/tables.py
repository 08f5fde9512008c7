"""Reading the spreadsheets the program office works in: CSV and XLSX, one header row, then data rows.

Rows come back as dicts of strings keyed by lower-cased header, numbered as a person sees them in the
sheet (the header is row 1), so a per-row report points at the right line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from openpyxl import load_workbook

from shared.errors import InvalidInput

MAX_ROWS = 20_000


class UnreadableTable(InvalidInput):
    """The upload is not a table we can read (wrong format, no header, too many rows)."""


def read_table(content: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    name = filename.lower()
    if name.endswith(".xlsx"):
        rows = _xlsx_rows(content)
    elif name.endswith(".csv") or name.endswith(".txt"):
        rows = _csv_rows(content)
    else:
        raise UnreadableTable(f"{filename!r} is neither a .csv nor an .xlsx file.")
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        raise UnreadableTable(f"{filename!r} is empty: a header row is needed.") from None
    table: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(rows, start=2):
        if not any(v.strip() for v in values):
            continue  # blank lines between blocks are common in hand-kept sheets
        if len(table) >= MAX_ROWS:
            raise UnreadableTable(f"{filename!r} has more than {MAX_ROWS:,} rows; split it.")
        table.append((number, {h: v.strip() for h, v in zip(header, values, strict=False) if h}))
    return table


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:  # one column, or not a table: read it plainly; the columns check says what is wrong
        dialect = csv.excel
    yield from csv.reader(io.StringIO(text), dialect)


def _xlsx_rows(content: bytes) -> Iterator[list[str]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        raise UnreadableTable(f"The spreadsheet cannot be opened: {exc}") from exc
    sheet = book.worksheets[0]
    for row in sheet.iter_rows(values_only=True):
        yield ["" if v is None else _cell_text(v) for v in row]
    book.close()


def _cell_text(value: object) -> str:
    # Spreadsheets turn "1200" into 1200.0; counts must come back as they were typed.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
