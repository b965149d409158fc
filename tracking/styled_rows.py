"""Worksheets written row by row from cells made with their style: openpyxl's write-only mode,
which sends each row to the file as it comes instead of keeping every cell until the save (a
50,000-row summary table is 550,000 cells, some 250 MB kept).

A row is a list of cells made with ``Cell(sheet, style_array=…)``, the indexes of a style
registered once per workbook. Everything written with the rows (column widths, frozen panes,
a row's height) is set before they are appended; merged ranges, validations and page setup may
come at any time before the save.
"""

from collections.abc import Iterable, Iterator

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet


class StyledRowsSheet(WriteOnlyWorksheet):
    """A write-only worksheet whose rows are lists of cells, written as they are.

    openpyxl's own write-only sheet first tries to store each cell of a row as a value, which
    for a cell fails with an error message formatted from it before the cell is taken as it
    is: a fifth of the time of writing a table. This replaces that one step (a private method
    of openpyxl's, hence the version cap in pyproject.toml; the tests read every cell's look
    back)."""

    def _values_to_row(self, values: Iterable[Cell], row_idx: int) -> Iterator[Cell]:
        for column, cell in enumerate(values, start=1):
            cell.row, cell.column = row_idx, column
            yield cell


def add_styled_rows_sheet(workbook: Workbook, title: str) -> StyledRowsSheet:
    """A new last sheet of ``workbook``, which must be made with ``write_only=True``."""
    if not workbook.write_only:
        raise ValueError("a sheet of styled rows belongs to a write-only workbook")
    sheet = StyledRowsSheet(parent=workbook, title=title)
    workbook._add_sheet(sheet)
    return sheet
