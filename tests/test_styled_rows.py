from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, NamedStyle, Side

from tracking.styled_rows import add_styled_rows_sheet


def test_rows_of_styled_cells_are_written_with_their_styles_empty_cells_too(
    tmp_path: Path,
) -> None:
    workbook = Workbook(write_only=True)
    thin = Side(style="thin")
    boxed = NamedStyle(
        "boxed", border=Border(left=thin, right=thin), alignment=Alignment(wrap_text=True)
    )
    workbook.add_named_style(boxed)
    sheet = add_styled_rows_sheet(workbook, "表")
    sheet.row_dimensions[2].height = 40  # before the row: it is written with it
    for values in (("序号", "内容", "备注"), (1, "=不是公式", None)):
        row = [Cell(sheet, value=value, style_array=boxed.as_tuple()) for value in values]
        row[1].data_type = "s"
        sheet.append(row)
    workbook.save(tmp_path / "t.xlsx")

    read = load_workbook(tmp_path / "t.xlsx")["表"]
    assert [[cell.value for cell in row] for row in read.iter_rows()] == [
        ["序号", "内容", "备注"],
        [1, "=不是公式", None],
    ]
    assert all(cell.border.left.style == "thin" for row in read.iter_rows() for cell in row)
    assert read["C2"].alignment.wrap_text  # the empty cell is there, styled
    assert read.row_dimensions[2].height == 40


def test_a_sheet_of_styled_rows_needs_a_write_only_workbook() -> None:
    with pytest.raises(ValueError, match="write-only"):
        add_styled_rows_sheet(Workbook(), "表")
