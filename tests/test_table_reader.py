from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from tracking.errors import InputError
from tracking.table_reader import RawRow, read_table

# The real published table: title on line 3, header on line 5, eleven rows in four blocks
# separated by blank lines, and a row of dashes on the last line (20, no final newline).
SEED = Path("/work/shared/seeds/000_0725dad29747b4de.txt")
needs_seed = pytest.mark.skipif(not SEED.exists(), reason=f"{SEED} is not available")

SEED_TITLE = "市民政局2022年度跟踪办理建议提案落实情况汇总表"
SEED_HEADER = (
    "序号",
    "类别",
    "编号",
    "领衔代表",
    "人数",
    "建议提案题目",
    "办理类型",
    "主办单位",
    "协办单位",
    "跟踪落实事项",
    "落实情况反馈",
)
SEED_LINES = (3, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 19, 20)


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@needs_seed
def test_seed_rows_keep_their_physical_line_numbers() -> None:
    table = read_table(SEED)

    assert table.path == SEED
    assert table.encoding == "utf-8"
    assert tuple(row.line for row in table.rows) == SEED_LINES
    assert table.rows[0] == RawRow(line=3, cells=(SEED_TITLE,))
    assert table.rows[1] == RawRow(line=5, cells=SEED_HEADER)
    first = table.rows[2]
    assert first.line == 6
    assert first.cells[:9] == (
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
    assert first.cells[9] == "完成全市街路牌电子化档案信息录入工作。"
    # After the blank line 10, row 5 is on line 11; names keep their inner space.
    assert table.rows[6].line == 11
    assert table.rows[6].cells[:4] == ("5", "政协提案", "梁 瑜", "250")
    assert table.rows[-1].cells[0] == "----"
    assert all(len(row.cells) == 11 for row in table.rows[1:])


@needs_seed
def test_seed_rows_match_the_lines_they_name() -> None:
    physical = SEED.read_text(encoding="utf-8").split("\n")

    for row in read_table(SEED).rows:
        assert row.cells == tuple(cell.strip() for cell in physical[row.line - 1].split("\t"))


@needs_seed
@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030"), ("utf-16", "utf-16")],
)
def test_seed_reads_the_same_in_other_encodings(
    tmp_path: Path, encoding: str, reported: str
) -> None:
    text = SEED.read_text(encoding="utf-8")
    path = write(tmp_path, "seed.txt", text.encode(encoding))

    table = read_table(path)

    assert table.encoding == reported
    assert table.rows == read_table(SEED).rows


@needs_seed
def test_windows_line_endings_keep_line_numbers(tmp_path: Path) -> None:
    text = SEED.read_text(encoding="utf-8").replace("\n", "\r\n")
    path = write(tmp_path, "seed.tsv", text.encode("gb18030"))

    assert read_table(path).rows == read_table(SEED).rows


def test_csv_cell_spanning_lines_reports_the_line_its_record_starts_on(tmp_path: Path) -> None:
    content = (
        "序号,建议提案题目,落实情况反馈\r\n"
        "\r\n"
        '1,关于完善街路标识牌的建议,"一是完成录入，\r\n二是更新标识；\r\n三是""回头看""。"\r\n'
        "2,关于提升社区养老服务品质的提案,已落实\r\n"
    )
    path = write(tmp_path, "rows.csv", content.encode("utf-8"))

    rows = read_table(path).rows

    assert [row.line for row in rows] == [1, 3, 6]
    assert rows[1].cells[2] == '一是完成录入，\r\n二是更新标识；\r\n三是"回头看"。'
    assert rows[2].cells == ("2", "关于提升社区养老服务品质的提案", "已落实")


def test_text_without_tabs_but_with_commas_is_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.txt", "序号,类别\n1,人大建议\n".encode())

    assert [row.cells for row in read_table(path).rows] == [("序号", "类别"), ("1", "人大建议")]


def test_text_with_tabs_keeps_commas_in_cells(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.txt", "题目\t反馈\n关于A,B的建议\t已办,待查\n".encode())

    assert read_table(path).rows[1].cells == ("关于A,B的建议", "已办,待查")


def test_cells_lose_surrounding_spaces_including_full_width_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.tsv", " 1 \t\u3000张 三\u3000\t\t \n".encode())

    assert read_table(path).rows == (RawRow(line=1, cells=("1", "张 三", "", "")),)


def test_xlsx_first_sheet_with_numbers_as_text_and_sheet_row_numbers(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([SEED_TITLE])
    sheet.append([])
    sheet.append(["序号", "编号", "领衔代表", "人数", "反馈日期", "备注"])
    sheet.append([1, 730, "\u3000张正义 ", 1, datetime(2022, 6, 30), None])
    sheet.append([2.0, 152.0, "边 恕", None, datetime(2022, 7, 1, 9, 30), 2.88])
    sheet["A7"] = "3"
    workbook.create_sheet("其他").append(["不应读取"])
    path = tmp_path / "seed.xlsx"
    workbook.save(path)

    table = read_table(path)

    assert table.encoding is None
    assert table.rows == (
        RawRow(line=1, cells=(SEED_TITLE,)),
        RawRow(line=3, cells=("序号", "编号", "领衔代表", "人数", "反馈日期", "备注")),
        # A row ends at its last cell present in the file, so trailing empty cells may be missing.
        RawRow(line=4, cells=("1", "730", "张正义", "1", "2022-06-30")),
        RawRow(line=5, cells=("2", "152", "边 恕", "", "2022-07-01 09:30:00", "2.88")),
        RawRow(line=7, cells=("3",)),
    )


def test_undecodable_text_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.txt", "序号\t类别\n".encode() + b"1\t\x81\xff\n")

    with pytest.raises(InputError) as raised:
        read_table(path)

    assert str(raised.value) == f"{path}:2: cannot decode as UTF-8 or GB18030"


def test_file_that_is_not_xlsx(tmp_path: Path) -> None:
    path = write(tmp_path, "seed.xlsx", "序号\t类别\n".encode())

    with pytest.raises(InputError) as raised:
        read_table(path)

    assert str(raised.value).startswith(f"{path}: not a valid XLSX file")


@pytest.mark.parametrize("name", ["missing.txt", "missing.xlsx"])
def test_missing_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name

    with pytest.raises(InputError) as raised:
        read_table(path)

    assert str(raised.value) == f"{path}: file not found"


def test_old_binary_xls_is_refused_with_advice(tmp_path: Path) -> None:
    path = write(tmp_path, "seed.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")

    with pytest.raises(InputError, match=r"save it as \.xlsx"):
        read_table(path)


def test_quote_never_closed_is_an_error_not_a_swallowed_file(tmp_path: Path) -> None:
    content = '序号\t反馈\n1\t"已落实\n2\t已落实\n3\t已落实\n'
    path = write(tmp_path, "rows.tsv", content.encode())

    with pytest.raises(InputError) as raised:
        read_table(path)

    assert str(raised.value).startswith(f"{path}:2: a quote")


def test_last_line_without_newline_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.tsv", '序号\t反馈\n\n1\t"两行\n反馈"'.encode())

    assert read_table(path).rows == (
        RawRow(line=1, cells=("序号", "反馈")),
        RawRow(line=3, cells=("1", "两行\n反馈")),
    )


def test_lines_end_only_at_line_breaks_whatever_the_convention(tmp_path: Path) -> None:
    # Old Mac \r, Windows \r\n and Unix \n in one file; a form feed and U+2028 inside cells are
    # characters of the cell, not line breaks (str.splitlines would count them as lines).
    content = "序号\t反馈\r1\t第一\x0c页\r\n\r2\t甲\u2028乙\n3\t丙"
    path = write(tmp_path, "rows.tsv", content.encode())

    assert read_table(path).rows == (
        RawRow(line=1, cells=("序号", "反馈")),
        RawRow(line=2, cells=("1", "第一\x0c页")),
        RawRow(line=4, cells=("2", "甲\u2028乙")),
        RawRow(line=5, cells=("3", "丙")),
    )


def test_undecodable_byte_after_a_byte_order_mark_is_placed_on_its_own_line(
    tmp_path: Path,
) -> None:
    # Right after a line break: counted from the start of the file, not from past the mark.
    content = "\ufeff序号\t反馈\n".encode() + b"\x80\t\n" + "2\t已落实\n".encode()
    path = write(tmp_path, "rows.tsv", content)

    with pytest.raises(InputError) as raised:
        read_table(path)

    assert str(raised.value) == f"{path}:2: cannot decode as UTF-8"
