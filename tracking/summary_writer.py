"""Writing the year's summary table (汇总表) as XLSX, tab-separated text and HTML.

The columns and their order are those of the table units publish (see ``SUMMARY_HEADER``), so
the output can be sent on as it is. Every file is written to a temporary sibling and moved
into place, so an interrupted run leaves the previous file or the new one, never half of one.
"""

import csv
import math
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from unicodedata import east_asian_width

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
)
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

from tracking.collector import collector_paused
from tracking.styled_rows import StyledRowsSheet, add_styled_rows_sheet

SUMMARY_HEADER: tuple[str, ...] = (
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

# Excel column widths (in characters of the default font; a Chinese character counts about 2).
_COLUMN_WIDTHS = (6, 10, 8, 10, 6, 36, 9, 14, 22, 44, 64)
_SEQ_COLUMN, _NUMBER_COLUMN, _SIGNERS_COLUMN = 1, 3, 5
_TITLE_ROW, _HEADER_ROW = 1, 2
_LINE_HEIGHT = 14.5  # points per line of the default 11 pt font
_MAX_ROW_HEIGHT = 409  # Excel's limit

_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)

# The cells' styles, registered once per workbook as named styles (Excel lists them among its
# cell styles); a cell takes its style's indexes into the workbook's fonts, borders… A border
# and an alignment set on each cell instead had openpyxl hash both, field by field, to find them
# among the workbook's: half the time of writing the table.
_HEADER_STYLE = "汇总表-表头"
_CENTRED_STYLE = "汇总表-居中"
_TEXT_STYLE = "汇总表-编号"  # centred, and text: "0730" is not 730
_LEFT_STYLE = "汇总表-正文"
# In SUMMARY_HEADER order: 序号, 编号 and 人数 centred, the other columns left-aligned.
_COLUMN_STYLES = (
    *(_CENTRED_STYLE, _LEFT_STYLE, _TEXT_STYLE, _LEFT_STYLE, _CENTRED_STYLE),
    *[_LEFT_STYLE] * 6,
)


@dataclass(frozen=True)
class SummaryRow:
    seq: int
    category: str
    number: str
    lead_representative: str
    signer_count: int | None
    title: str
    handling_type: str
    lead_unit: str
    co_units: tuple[str, ...]
    commitment: str
    feedback: str

    def cells(self) -> tuple[str, ...]:
        """The row as text in ``SUMMARY_HEADER`` order; co-units space-separated as published."""
        return (
            str(self.seq),
            self.category,
            self.number,
            self.lead_representative,
            "" if self.signer_count is None else str(self.signer_count),
            self.title,
            self.handling_type,
            self.lead_unit,
            " ".join(self.co_units),
            self.commitment,
            self.feedback,
        )


def write_summary(
    rows: Iterable[SummaryRow],
    out_dir: Path,
    *,
    year: int,
    title: str,
    template_dir: Path | None = None,
) -> dict[str, Path]:
    """Write ``summary-{year}.xlsx``, ``.tsv`` and ``.html`` into ``out_dir``, creating it."""
    rows = tuple(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"summary-{year}.{kind}" for kind in ("xlsx", "tsv", "html")}
    write_xlsx(rows, paths["xlsx"], title, sheet_title=f"{year}年度")
    write_tsv(rows, paths["tsv"], title)
    write_html(rows, paths["html"], title, template_dir=template_dir)
    return paths


def write_tsv(rows: Iterable[SummaryRow], path: Path, title: str) -> None:
    """The published layout: title line, blank line, header, one line per row; UTF-8, ``\\n``."""

    def write(target: Path) -> None:
        with target.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream, dialect="excel", delimiter="\t", lineterminator="\n")
            writer.writerow([title])
            writer.writerow([])
            writer.writerow(SUMMARY_HEADER)
            writer.writerows([_unify_line_breaks(cell) for cell in row.cells()] for row in rows)

    _write_atomically(path, write)


def _unify_line_breaks(cell: str) -> str:
    # With "\n" as the line terminator the csv writer quotes cells holding "\n" but not a lone
    # "\r", which a reader would then take for the end of the record.
    return cell.replace("\r\n", "\n").replace("\r", "\n")


def write_xlsx(
    rows: Iterable[SummaryRow], path: Path, title: str, *, sheet_title: str = "汇总表"
) -> None:
    """A workbook laid out like the published table, ready to print on landscape A4."""
    with collector_paused():
        _write_workbook(tuple(rows), path, title, sheet_title)


def _write_workbook(
    data_rows: tuple[SummaryRow, ...], path: Path, title: str, sheet_title: str
) -> None:
    # Rows go to the file as they are appended (see tracking.styled_rows): what is written
    # with them comes first.
    workbook = Workbook(write_only=True)
    styles = _add_styles(workbook)
    sheet = add_styled_rows_sheet(workbook, sheet_title)
    for column, width in enumerate(_COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    last_column = get_column_letter(len(SUMMARY_HEADER))
    sheet.freeze_panes = f"A{_HEADER_ROW + 1}"
    sheet.auto_filter.ref = f"A{_HEADER_ROW}:{last_column}{_HEADER_ROW + len(data_rows)}"
    set_up_page(sheet, _HEADER_ROW)
    _write_title(sheet, title)
    _write_header(sheet, styles[_HEADER_STYLE])
    column_styles = tuple(styles[name] for name in _COLUMN_STYLES)
    for number, row in enumerate(data_rows, start=_HEADER_ROW + 1):
        _append_row(sheet, number, row, column_styles)
    _write_atomically(path, workbook.save)


def _add_styles(workbook: Workbook) -> dict[str, StyleArray]:
    """Register the named styles; return each one's indexes (into the workbook's fonts,
    borders…) by name."""
    styles = [
        NamedStyle(
            _HEADER_STYLE,
            font=Font(bold=True),
            fill=PatternFill(fill_type="solid", start_color="D9E1F2", end_color="D9E1F2"),
            border=_BORDER,
            alignment=Alignment(horizontal="center", vertical="center", wrap_text=True),
        )
    ]
    for name, horizontal, number_format in (
        (_CENTRED_STYLE, "center", None),
        (_TEXT_STYLE, "center", "@"),
        (_LEFT_STYLE, "left", None),
    ):
        data_style = NamedStyle(
            name,
            # The workbook's default font, which an unstyled cell shows (a NamedStyle's own
            # default is an empty font).
            font=DEFAULT_FONT,
            border=_BORDER,
            alignment=Alignment(horizontal=horizontal, vertical="top", wrap_text=True),
            number_format=number_format,
        )
        styles.append(data_style)
    for style in styles:
        workbook.add_named_style(style)
    return {style.name: style.as_tuple() for style in styles}


def _write_title(sheet: StyledRowsSheet, title: str) -> None:
    sheet.merged_cells.add(
        CellRange(min_row=_TITLE_ROW, min_col=1, max_row=_TITLE_ROW, max_col=len(SUMMARY_HEADER))
    )
    cell = Cell(sheet, value=title)
    cell.font = Font(bold=True, size=16)
    cell.alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[_TITLE_ROW].height = 32
    sheet.append([cell])


def _write_header(sheet: StyledRowsSheet, style: StyleArray) -> None:
    sheet.append([Cell(sheet, value=name, style_array=style) for name in SUMMARY_HEADER])


def _append_row(
    sheet: StyledRowsSheet, number: int, row: SummaryRow, column_styles: tuple[StyleArray, ...]
) -> None:
    # Text pasted from Word can hold control characters (e.g. \x0b) that XML cannot carry and
    # openpyxl refuses; they have no visible meaning, so they are dropped.
    values: list[str | int | None] = [ILLEGAL_CHARACTERS_RE.sub("", cell) for cell in row.cells()]
    # Numbers stay numbers so that sorting and sums work; 编号 stays text ("0730" is not 730).
    values[_SEQ_COLUMN - 1] = row.seq
    values[_SIGNERS_COLUMN - 1] = row.signer_count
    # Excel and WPS do not grow a row to fit wrapped text in a file they did not lay out
    # themselves, so the height is set from the text: lines needed in the busiest cell.
    lines = max(
        wrapped_lines(str(value or ""), width)
        for value, width in zip(values, _COLUMN_WIDTHS, strict=True)
    )
    sheet.row_dimensions[number].height = min(_MAX_ROW_HEIGHT, lines * _LINE_HEIGHT + 4)
    cells = []
    for value, style in zip(values, column_styles, strict=True):
        # Made with its style's indexes: setting ``cell.style`` by name would look the name up
        # among the workbook's styles for every cell.
        # An absent value is an empty cell, not a zero-length string, as if typed in Excel.
        cell = Cell(sheet, value=None if value == "" else value, style_array=style)
        if isinstance(value, str) and value.startswith("="):
            # openpyxl takes "=..." for a formula; what a unit wrote is text, never computed.
            cell.data_type = "s"
        cells.append(cell)
    sheet.append(cells)


def wrapped_lines(text: str, column_width: float) -> int:
    """How many lines ``text`` takes in a column ``column_width`` characters wide."""
    usable = max(1.0, column_width - 1.5)  # cell padding
    lines = 0
    for paragraph in text.split("\n"):
        # A wide (Chinese) character takes two columns: count them once more.
        width = len(paragraph) + len(paragraph.translate(_WIDE_ONLY))
        lines += max(1, math.ceil(width / usable))
    return lines


class _WideOnlyTable(dict[int, int | None]):
    """A ``str.translate`` table that keeps East Asian wide and fullwidth characters and drops
    the rest. It learns each character the first time it meets it: translating in C beats
    asking ``east_asian_width`` per character, and a table of every code point (or a regular
    expression of their ranges, which is slower still) takes a noticeable time to build."""

    def __missing__(self, code: int) -> int | None:
        kept = self[code] = code if east_asian_width(chr(code)) in "WF" else None
        return kept


_WIDE_ONLY = _WideOnlyTable()


def set_up_page(sheet: Worksheet | WriteOnlyWorksheet, header_row: int) -> None:
    """Landscape A4, all columns on the page width, the header row repeated on every page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    # Fit all columns on the page width; as many pages down as the rows need.
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6


def write_html(
    rows: Iterable[SummaryRow], path: Path, title: str, *, template_dir: Path | None = None
) -> None:
    """A standalone printable page from ``summary.html``; ``template_dir`` may override it."""
    loaders: list[BaseLoader] = [PackageLoader("tracking", "templates")]
    if template_dir is not None:
        loaders.insert(0, FileSystemLoader(template_dir))
    environment = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    page = environment.get_template("summary.html").render(
        title=title, header=SUMMARY_HEADER, rows=list(rows)
    )

    def write(target: Path) -> None:
        target.write_text(page, encoding="utf-8", newline="")

    _write_atomically(path, write)


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Have ``write`` fill a temporary sibling of ``path``, then move it over ``path``."""
    # A fresh name rather than tempfile.mkstemp: mkstemp creates the file mode 0600, and the
    # summary would keep that mode after the move instead of the usual umask-based one.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        write(temporary)
        # Flush to disk before the move, or a power cut could leave the new name on empty data.
        with temporary.open("r+b") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
