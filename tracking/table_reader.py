"""Reading a table file (XLSX, CSV, tab-separated text) into raw cells.

This module knows nothing of what the columns mean: the importer finds the header and maps
columns. What it guarantees is that every row carries the line (or sheet row) the user will
see in their editor, so that a problem can be reported as ``file:line``.
"""

import csv
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

from tracking.errors import InputError

# What spreadsheet programs save on Chinese Windows is GBK; GB18030 is its superset.
_FALLBACK_ENCODING = "gb18030"
_DISPLAY_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-8": "UTF-8", "gb18030": "GB18030"}

# Fed to the CSV parser after the last line: if it ends up inside a cell, a quote opened
# somewhere was never closed and the parser swallowed the rest of the file into that cell.
_END_SENTINEL = "\x00duban:end-of-file\x00"

# A line with its end, split only at \n, \r\n and \r (as io.StringIO(newline="") would; str.
# splitlines would also split at form feeds and U+2028, miscounting lines), or a last line
# without one. Never empty, so that every match is a line.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# The same in bytes: in UTF-8 and GB18030 the bytes of \r and \n are never part of another
# character, so a file in either can be cut into lines before it is decoded.
_LINE_BYTES = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class RawRow:
    """One non-blank row: ``line`` is the physical line (or sheet row) where it starts.

    ``cells`` are as many as the file holds: a row may stop before the header's last column
    (an XLSX row ends at its last stored cell) or run past it with empty cells.
    """

    line: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    path: Path
    rows: tuple[RawRow, ...]
    encoding: str | None  # None for XLSX, which has no text encoding of its own


def read_table(path: Path) -> Table:
    """Read ``path`` by its suffix: ``.xlsx`` as a workbook (first sheet), anything else as text.

    Text is tab-separated unless no line has a tab and some line has a comma (or the suffix is
    ``.csv``). Rows whose cells are all empty are left out; the others keep their true line.
    """
    suffix = path.suffix.lower()
    if suffix in {".xls", ".et"}:
        raise InputError(f"{path}: old binary spreadsheet format; save it as .xlsx and try again")
    if suffix == ".xlsx":
        return Table(path=path, rows=tuple(_non_blank(_xlsx_rows(path))), encoding=None)
    text = _decode(path, _read_bytes(path))
    delimiter = "," if suffix == ".csv" or (not text.has("\t") and text.has(",")) else "\t"
    return Table(
        path=path,
        rows=tuple(_non_blank(_text_rows(path, text.lines(), delimiter))),
        encoding=text.encoding,
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise _unreadable(path, error) from error


def _unreadable(path: Path, error: OSError) -> InputError:
    if isinstance(error, FileNotFoundError):
        return InputError(f"{path}: file not found")
    return InputError(f"{path}: cannot read the file ({error.strerror or error})")


@dataclass(frozen=True)
class _Text:
    """A text file and its encoding, decoded a line at a time as it is read.

    Decoding a whole file at once holds its bytes, the decoder's working copy (four bytes a
    character) and the text together: several times the file. UTF-16 (rare, and its code units
    may hold the bytes of \r and \n) is still decoded whole.
    """

    content: bytes | str
    encoding: str  # as detected: utf-8-sig, utf-16, utf-8 or gb18030
    start: int = 0  # where the text begins, past a UTF-8 byte-order mark

    def lines(self) -> Iterator[str]:
        if isinstance(self.content, str):
            return (match.group() for match in _LINE.finditer(self.content))
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        matches = _LINE_BYTES.finditer(self.content, self.start)
        return (match.group().decode(codec) for match in matches)

    def has(self, character: str) -> bool:
        """Whether the text holds ``character`` (an ASCII one)."""
        if isinstance(self.content, str):
            return character in self.content
        return character.encode() in self.content


def _decode(path: Path, data: bytes) -> _Text:
    """``data`` as text, in the first encoding that decodes all of it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text (*.txt)" export: tab-separated UTF-16 with a byte-order mark.
        try:
            return _Text(data.decode("utf-16"), "utf-16")
        except UnicodeDecodeError as error:
            raise _undecodable(path, data, ["utf-16"], error) from error
    if data.startswith(_UTF8_BOM):
        candidates = [_Text(data, "utf-8-sig", start=len(_UTF8_BOM))]
    else:
        candidates = [_Text(data, "utf-8"), _Text(data, _FALLBACK_ENCODING)]
    failures: list[UnicodeDecodeError] = []
    for text in candidates:
        failure = _first_failure(data, text)
        if failure is None:
            return text
        failures.append(failure)
    # The encoding that got furthest is most likely the file's real one, so its failure
    # points at the damaged spot rather than at the first non-ASCII character.
    furthest = max(failures, key=lambda error: error.start)
    raise _undecodable(path, data, [text.encoding for text in candidates], furthest) from furthest


def _first_failure(data: bytes, text: _Text) -> UnicodeDecodeError | None:
    """Where ``data`` first fails to decode as ``text.encoding`` (``start`` counted from the
    beginning of ``data``), or None; line by line, so that no more than a line is held."""
    codec = "utf-8" if text.encoding == "utf-8-sig" else text.encoding
    for match in _LINE_BYTES.finditer(data, text.start):
        try:
            match.group().decode(codec)
        except UnicodeDecodeError as error:
            start, end = match.start() + error.start, match.start() + error.end
            return UnicodeDecodeError(error.encoding, data, start, end, error.reason)
    return None


def _undecodable(
    path: Path, data: bytes, encodings: list[str], error: UnicodeDecodeError
) -> InputError:
    line = data.count(b"\n", 0, error.start) + 1
    names = " or ".join(_DISPLAY_NAMES[encoding] for encoding in encodings)
    return InputError(f"{path}:{line}: cannot decode as {names}")


def _text_rows(path: Path, text_lines: Iterable[str], delimiter: str) -> Iterator[RawRow]:
    # Line breaks inside quoted cells are left to the parser.
    lines = itertools.chain(text_lines, [_END_SENTINEL])
    reader = csv.reader(lines, dialect="excel", delimiter=delimiter)
    consumed = 0  # physical lines read by the parser before the current record
    try:
        for record in reader:
            start, consumed = consumed + 1, reader.line_num
            if record and _END_SENTINEL in record[-1]:
                if record == [_END_SENTINEL]:
                    return
                raise InputError(
                    f'{path}:{start}: a quote (") opened in this row is never closed, '
                    "so the rest of the file would be read as one cell"
                )
            yield RawRow(line=start, cells=tuple(_clean(cell) for cell in record))
    except csv.Error as error:
        raise InputError(f"{path}:{reader.line_num}: {error}") from error


def _xlsx_rows(path: Path) -> list[RawRow]:
    try:
        stream = path.open("rb")
    except OSError as error:
        raise _unreadable(path, error) from error
    with stream:
        try:
            return _first_sheet_rows(path, stream)
        except InputError:
            raise
        except Exception as error:
            # openpyxl reports a damaged or foreign file through many unrelated exception
            # types (BadZipFile, KeyError, XML parse errors...); to the user they all mean this.
            raise InputError(f"{path}: not a valid XLSX file ({error})") from error


def _first_sheet_rows(path: Path, stream: BinaryIO) -> list[RawRow]:
    # Imported here: openpyxl takes 0.15 s to import, and most tables arrive as text.
    from openpyxl import load_workbook

    workbook = load_workbook(stream, read_only=True, data_only=True)
    try:
        if not workbook.worksheets:
            raise InputError(f"{path}: the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        # Some generators write a wrong <dimension> (e.g. "A1"); read-only mode trusts it
        # and would silently return only the first cell.
        sheet.reset_dimensions()
        # Rows missing from the file come back as empty tuples, so the count is the row number.
        return [
            RawRow(line=number, cells=tuple(_cell_text(value) for value in values))
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    """An XLSX cell value as the text the user sees: 730.0 is "730", an empty cell is ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return _clean(str(value))


def _clean(cell: str) -> str:
    # str.strip also removes the full-width space U+3000 that Chinese typing leaves behind.
    return cell.strip()


def _non_blank(rows: Iterable[RawRow]) -> Iterator[RawRow]:
    return (row for row in rows if any(row.cells))
