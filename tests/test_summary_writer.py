import math
import unicodedata
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Side

from tracking.summary_writer import (
    SUMMARY_HEADER,
    SummaryRow,
    _write_atomically,
    wrapped_lines,
    write_html,
    write_summary,
    write_tsv,
    write_xlsx,
)
from tracking.table_reader import read_table

TITLE = "市民政局2022年度跟踪办理建议提案落实情况汇总表"
FEEDBACK = '一是完成录入\t（见附表）；\n二是更新"标识"。<script>alert(1)</script>'

ROWS = (
    SummaryRow(
        seq=1,
        category="人大建议",
        number="730",
        lead_representative="张正义",
        signer_count=1,
        title="关于完善街路标识牌的建议",
        handling_type="主办",
        lead_unit="市民政局",
        co_units=("市发展改革委", "市卫生健康委", "市人力资源社会保障局"),
        commitment="完成全市街路牌电子化档案信息录入工作。",
        feedback=FEEDBACK,
    ),
    SummaryRow(
        seq=2,
        category="政协提案",
        number="0152",
        lead_representative="边 恕",
        signer_count=None,
        title="关于完善沈阳市失能老人照护体系的提案",
        handling_type="主办",
        lead_unit="市民政局",
        co_units=(),
        commitment="扩大购买服务覆盖范围。",
        feedback="",
    ),
)


def test_cells_are_the_published_columns_as_text() -> None:
    assert len(SUMMARY_HEADER) == 11
    assert ROWS[0].cells()[:9] == (
        "1",
        "人大建议",
        "730",
        "张正义",
        "1",
        "关于完善街路标识牌的建议",
        "主办",
        "市民政局",
        "市发展改革委 市卫生健康委 市人力资源社会保障局",
    )
    assert ROWS[1].cells()[4] == ""
    assert ROWS[1].cells()[8] == ""


def test_write_summary_writes_three_files_into_a_new_folder(tmp_path: Path) -> None:
    out_dir = tmp_path / "reports" / "2022"

    paths = write_summary(ROWS, out_dir, year=2022, title=TITLE)

    assert paths == {
        "xlsx": out_dir / "summary-2022.xlsx",
        "tsv": out_dir / "summary-2022.tsv",
        "html": out_dir / "summary-2022.html",
    }
    assert sorted(path.name for path in out_dir.iterdir()) == sorted(p.name for p in paths.values())


def test_xlsx_layout_and_values(tmp_path: Path) -> None:
    path = write_summary(ROWS, tmp_path, year=2022, title=TITLE)["xlsx"]

    workbook = load_workbook(path)
    sheet = workbook.active
    assert sheet.title == "2022年度"
    assert [str(merged) for merged in sheet.merged_cells.ranges] == ["A1:K1"]
    assert sheet["A1"].value == TITLE
    assert sheet["A1"].font.b
    assert sheet["A1"].alignment.horizontal == "center"
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    assert values[0] == SUMMARY_HEADER
    assert all(cell.font.b for cell in sheet[2])
    first, second = values[1], values[2]
    assert first == (1, *ROWS[0].cells()[1:4], 1, *ROWS[0].cells()[5:])
    assert isinstance(first[0], int) and isinstance(first[4], int)
    assert second[2] == "0152"
    assert sheet["C4"].number_format == "@"
    assert second[4] is None
    assert all(cell.alignment.wrap_text for cell in sheet[3])
    assert sheet["K3"].alignment.vertical == "top"
    assert sheet["K3"].border.left.style == "thin"
    widths = {letter: sheet.column_dimensions[letter].width for letter in "AEFJK"}
    assert widths["A"] < 10 and widths["E"] < 10
    assert min(widths["F"], widths["J"], widths["K"]) >= 30
    assert sheet.freeze_panes == "A3"
    assert sheet.print_title_rows == "$2:$2"
    assert sheet.page_setup.orientation == "landscape"
    assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4
    assert sheet.page_setup.fitToWidth == 1
    assert sheet.sheet_properties.pageSetUpPr.fitToPage


def test_tsv_has_the_published_layout_and_reads_back_unchanged(tmp_path: Path) -> None:
    path = write_summary(ROWS, tmp_path, year=2022, title=TITLE)["tsv"]

    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw
    assert raw.decode("utf-8").split("\n")[:3] == [TITLE, "", "\t".join(SUMMARY_HEADER)]
    table = read_table(path)
    assert [row.cells for row in table.rows] == [
        (TITLE,),
        SUMMARY_HEADER,
        ROWS[0].cells(),
        # Trailing empty cells stay: the TSV keeps every column.
        ROWS[1].cells(),
    ]
    # The feedback holds one line break, so the second row starts two lines after the first.
    assert [row.line for row in table.rows] == [1, 3, 4, 6]


def test_tsv_turns_carriage_returns_into_line_breaks(tmp_path: Path) -> None:
    row = SummaryRow(1, "人大建议", "1", "甲", 1, "题目", "主办", "市民政局", (), "a\rb", "c\r\nd")
    path = tmp_path / "summary.tsv"

    write_tsv([row], path, TITLE)

    assert read_table(path).rows[-1].cells[-2:] == ("a\nb", "c\nd")


def test_html_is_a_standalone_escaped_chinese_page(tmp_path: Path) -> None:
    path = write_summary(ROWS, tmp_path, year=2022, title=TITLE)["html"]

    page = path.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page
    assert '<meta charset="utf-8">' in page
    assert f"<h1>{TITLE}</h1>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert "<link" not in page and "src=" not in page
    assert "市发展改革委 市卫生健康委 市人力资源社会保障局" in page
    for name in SUMMARY_HEADER:
        assert f"<th>{name}</th>" in page


def test_html_template_can_be_overridden(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "summary.html").write_text(
        "<p>{{ title }}: {{ rows | length }} 件, 首件 {{ rows[0].feedback }}</p>", encoding="utf-8"
    )
    path = tmp_path / "summary.html"

    write_html(ROWS, path, TITLE, template_dir=templates)

    page = path.read_text(encoding="utf-8")
    assert page.startswith(f"<p>{TITLE}: 2 件, 首件 一是完成录入")
    assert "&lt;script&gt;" in page


def test_html_template_with_an_unknown_name_fails_and_writes_nothing(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "summary.html").write_text("{{ unit_name }}", encoding="utf-8")
    path = tmp_path / "summary.html"

    with pytest.raises(UndefinedError):
        write_html(ROWS, path, TITLE, template_dir=templates)

    assert list(tmp_path.iterdir()) == [templates]


def test_rerun_overwrites_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_summary(ROWS, tmp_path, year=2022, title=TITLE)

    paths = write_summary(ROWS[1:], tmp_path, year=2022, title="第二次")

    assert sorted(tmp_path.iterdir()) == sorted(paths.values())
    assert [row.cells[0] for row in read_table(paths["tsv"]).rows] == ["第二次", "序号", "2"]
    assert load_workbook(paths["xlsx"]).active.max_row == 3
    assert "第二次" in paths["html"].read_text(encoding="utf-8")


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "summary-2022.tsv"
    path.write_text("上次的汇总\n", encoding="utf-8")

    def write_half_then_fail(target: Path) -> None:
        target.write_text("写了一半", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _write_atomically(path, write_half_then_fail)

    assert path.read_text(encoding="utf-8") == "上次的汇总\n"
    assert list(tmp_path.iterdir()) == [path]


def test_text_that_looks_like_a_formula_stays_text_in_the_xlsx(tmp_path: Path) -> None:
    """A unit's report such as "=1+1" or "=HYPERLINK(...)" is shown, never computed."""
    row = SummaryRow(1, "人大建议", "1", "甲", 1, "题目", "主办", "市民政局", (), "=1+1", "=A1")
    path = tmp_path / "summary.xlsx"
    write_xlsx([row], path, "标题")
    sheet = load_workbook(path).active
    texts = [cell for cell in sheet[sheet.max_row] if cell.value in ("=1+1", "=A1")]
    assert len(texts) == 2 and {cell.data_type for cell in texts} == {"s"}


def test_every_cell_of_the_xlsx_has_the_published_look(tmp_path: Path) -> None:
    """Header and data cells get their styles by name; each one pinned here, empty cells too."""
    path = write_summary(ROWS, tmp_path, year=2022, title=TITLE)["xlsx"]
    sheet = load_workbook(path).active

    title = sheet["A1"]
    assert (title.font.b, title.font.sz) == (True, 16)
    assert (title.alignment.horizontal, title.alignment.vertical) == ("center", "center")
    assert title.border.left.style is None
    assert sheet.row_dimensions[1].height == 32
    for cell in sheet[2]:
        assert cell.font.b
        assert (cell.fill.fill_type, cell.fill.fgColor.rgb) == ("solid", "00D9E1F2")
        assert {side.style for side in _sides(cell)} == {"thin"}
        assert (cell.alignment.horizontal, cell.alignment.vertical) == ("center", "center")
        assert cell.alignment.wrap_text
    centred = {"A", "C", "E"}  # 序号, 编号, 人数
    for row in sheet.iter_rows(min_row=3):
        assert len(row) == len(SUMMARY_HEADER)
        for cell in row:
            assert {side.style for side in _sides(cell)} == {"thin"}, cell.coordinate
            assert {side.color.rgb for side in _sides(cell)} == {"00000000"}
            assert cell.alignment.wrap_text and cell.alignment.vertical == "top"
            expected = "center" if cell.column_letter in centred else "left"
            assert cell.alignment.horizontal == expected, cell.coordinate
            # The workbook's default font, as an unstyled cell has.
            assert (cell.font.name, cell.font.sz, cell.font.b) == ("Calibri", 11, False)
            assert cell.fill.fill_type is None
            assert cell.number_format == ("@" if cell.column_letter == "C" else "General")
    # Empty cells are there, bordered: 人数, 协办单位 and 落实情况反馈 of the second row.
    assert [sheet[ref].value for ref in ("E4", "I4", "K4")] == [None, None, None]
    # Row heights follow the busiest cell, a wide character counting two: three lines for the
    # first row's three co units (44 columns in a 22-wide one), two for the second row's title
    # (18 characters, 36 columns, in a 36-wide one less its padding).
    assert sheet.row_dimensions[3].height == 3 * 14.5 + 4
    assert sheet.row_dimensions[4].height == 2 * 14.5 + 4


def _sides(cell: Cell) -> tuple[Side, ...]:
    border = cell.border
    return (border.left, border.right, border.top, border.bottom)


def test_wrapped_lines_counts_wide_characters_twice() -> None:
    assert wrapped_lines("", 10) == 1
    assert wrapped_lines("a" * 17, 10) == 2  # 8.5 columns usable
    assert wrapped_lines("汉" * 4, 10) == 1 and wrapped_lines("汉" * 5, 10) == 2
    assert wrapped_lines("ＡＢ１２", 10) == 1 and wrapped_lines("ＡＢ１２Ｃ", 10) == 2  # fullwidth
    assert wrapped_lines("一\n二\n\n三", 10) == 4


def test_wrapped_lines_agrees_with_east_asian_width_on_every_code_point() -> None:
    """Each character counts as unicodedata says, wherever it falls in a paragraph."""

    def expected(paragraph: str, usable: float) -> int:
        width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in paragraph)
        return max(1, math.ceil(width / usable))

    code_points = [point for point in range(0x110000) if point != 0x0A]  # "\n" splits
    for start in range(0, len(code_points), 1000):
        paragraph = "".join(map(chr, code_points[start : start + 1000]))
        assert wrapped_lines(paragraph, 11.5) == expected(paragraph, 10), hex(start)
