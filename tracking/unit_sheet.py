"""The per-unit return sheet (落实情况填报表): an XLSX of the items a unit owes something on, with
two columns for the unit to fill in (落实情况 and 办理状态), sent with its digest.

The unit fills it in and sends it back (a reply to the mail, or an upload on its web page), and
:mod:`tracking.collect` records what it wrote. So that the returned file can be matched back,
each row carries the item's id in a hidden 事项编号 column, and a very hidden sheet names the unit
and the date the sheet was made for. Only the two columns to fill in are unlocked; the sheet is
protected without a password, against slips rather than against the unit (the returned file is
checked row by row anyway).

Both sides share the layout defined here.
"""

import io
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Protection, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.datavalidation import DataValidation
from sqlmodel import Session

from config.policy import Policy
from tracking.chase import Entry, collect_obligations
from tracking.collector import collector_paused
from tracking.models import Role
from tracking.obligations import LABELS
from tracking.styled_rows import StyledRowsSheet, add_styled_rows_sheet
from tracking.summary_writer import set_up_page, wrapped_lines
from tracking.workdays import WorkCalendar
from tracking.workflow import ROLE_LABELS

SHEET_NAME = "落实情况填报表"
IDENTITY_SHEET = "duban"
IDENTITY_MARK = "duban-unit-sheet"
FORMAT_VERSION = 1

STATUS_CHOICES = ("推进中", "已完成", "未能落实")
FINAL_STATUS = "已完成"  # the unit says the item is done: recorded as its final report
MAX_TEXT_CHARS = 3000

TEXT_HEADER, STATUS_HEADER, ID_HEADER = "落实情况", "办理状态", "事项编号"
# The columns, in order, with their widths (characters of the default font; a Chinese character
# counts about 2). The last one, the item's id, is hidden.
COLUMNS: tuple[tuple[str, float], ...] = (
    ("序号", 6),
    ("类别", 10),
    ("编号", 8),
    ("案由", 30),
    ("跟踪落实事项", 38),
    ("承办方式", 9),
    ("需办理", 16),
    ("办理时限", 15),
    (TEXT_HEADER, 60),
    (STATUS_HEADER, 12),
    (ID_HEADER, 10),
)
HEADERS = tuple(name for name, _ in COLUMNS)
TITLE_ROW, NOTE_ROW, HEADER_ROW = 1, 2, 3
TITLE_SUFFIX = "建议提案落实情况填报表"

_TEXT_COLUMN = HEADERS.index(TEXT_HEADER) + 1
_STATUS_COLUMN = HEADERS.index(STATUS_HEADER) + 1
_ID_COLUMN = HEADERS.index(ID_HEADER) + 1
_VISIBLE_COLUMNS = _ID_COLUMN - 1
_CENTRED = {"序号", "类别", "编号", "承办方式", "办理时限", STATUS_HEADER}
_NOTE = (
    "填写说明：请在“落实情况”栏填写各事项的办理落实情况（每格不超过{limit}字），在“办理状态”栏选择"
    "推进中、已完成或未能落实（选“已完成”即作为本单位的最终落实情况报送）。不需报送的事项可留空。"
    "请勿改动其他栏目，也不要增删行；填好后回复督办邮件发回本表，或在督办系统本单位页面上传。"
)
_MIN_DATA_LINES = 4  # room to write in, however short the item's own text
_LINE_HEIGHT = 14.5
_MAX_ROW_HEIGHT = 409
_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill(fill_type="solid", start_color="D9E1F2", end_color="D9E1F2")
_FILL_IN = PatternFill(fill_type="solid", start_color="FFF2CC", end_color="FFF2CC")
_HEADER_STYLE, _HEADER_FILL_IN_STYLE = "填报表-表头", "填报表-表头-填写"
# Text ("@") but for the numbers and the date, so that what is typed in stays as typed.
_NUMBER_FORMATS = {
    name: {"序号": "General", "办理时限": 'yyyy"年"m"月"d"日"', ID_HEADER: "General"}.get(name, "@")
    for name in HEADERS
}
_UNSAFE_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass(frozen=True)
class SheetItem:
    """One row of the sheet: an item and what the unit owes on it."""

    item_id: int
    category: str
    number: str
    title: str
    commitment: str
    role: str  # Role.LEAD or Role.CO
    owed: tuple[str, ...]  # what is to be done (报送落实进展…), in the digest's words
    due: date | None  # the earliest deadline among them


@dataclass(frozen=True)
class SheetIdentity:
    """What the very hidden sheet says: whose sheet it is, and as of which day."""

    unit_id: int
    unit_name: str
    as_of: date


def sheet_items(entries: Iterable[Entry]) -> list[SheetItem]:
    """A digest's entries as sheet rows: one per item, in the digest's order."""
    by_item: dict[int, SheetItem] = {}
    for entry in entries:
        earlier = by_item.get(entry.item_id)
        if earlier is None:
            by_item[entry.item_id] = SheetItem(
                item_id=entry.item_id,
                category=entry.category,
                number=entry.number,
                title=entry.title,
                commitment=entry.commitment,
                role=entry.role,
                owed=(entry.obligation_label,),
                due=entry.due,
            )
        else:
            by_item[entry.item_id] = _merged(earlier, entry.obligation_label, entry.due)
    return list(by_item.values())


def owed_items(
    session: Session,
    *,
    unit_id: int,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
) -> list[SheetItem]:
    """Every item ``unit_id`` owes something on as of ``as_of``, reminded or not yet (for a
    sheet made on request, e.g. from the unit's web page)."""
    by_item: dict[int, SheetItem] = {}
    for found in collect_obligations(
        session,
        as_of=as_of,
        policy=policy,
        calendar=calendar,
        interval_days=interval_days,
        unit_id=unit_id,
    ):
        item_id, label = found.item_id, LABELS[found.obligation]
        earlier = by_item.get(item_id)
        if earlier is None:
            by_item[item_id] = SheetItem(
                item_id=item_id,
                category=found.category,
                number=found.number,
                title=found.title,
                commitment=found.commitment,
                role=found.role,
                owed=(label,),
                due=found.deadline.due,
            )
        else:
            by_item[item_id] = _merged(earlier, label, found.deadline.due)
    return list(by_item.values())


def _merged(item: SheetItem, label: str, due: date | None) -> SheetItem:
    owed = item.owed if label in item.owed else (*item.owed, label)
    dues = [day for day in (item.due, due) if day is not None]
    return SheetItem(
        item_id=item.item_id,
        category=item.category,
        number=item.number,
        title=item.title,
        commitment=item.commitment,
        role=item.role,
        owed=owed,
        due=min(dues, default=None),
    )


def sheet_title(unit_name: str, as_of: date) -> str:
    """``市民政局 建议提案落实情况填报表（截至2022年6月15日）``."""
    return f"{unit_name} {TITLE_SUFFIX}（截至{as_of.year}年{as_of.month}月{as_of.day}日）"


def sheet_filename(unit_name: str, as_of: date) -> str:
    """``市民政局-落实情况填报表-20220615.xlsx``: what the unit sees in its mail."""
    safe = _UNSAFE_IN_FILE_NAMES.sub("_", unit_name).strip(" .") or "单位"
    return f"{safe}-{SHEET_NAME}-{as_of:%Y%m%d}.xlsx"


def unit_sheet_bytes(
    items: Iterable[SheetItem], *, unit_id: int, unit_name: str, as_of: date
) -> bytes:
    """The workbook as bytes (for a download)."""
    stream = io.BytesIO()
    with collector_paused():
        _workbook(tuple(items), SheetIdentity(unit_id, unit_name, as_of)).save(stream)
    return stream.getvalue()


def write_unit_sheet(
    path: Path, items: Iterable[SheetItem], *, unit_id: int, unit_name: str, as_of: date
) -> Path:
    """Write the workbook to ``path`` (its folder created), replacing it whole: a reader never
    sees half a file."""
    data = unit_sheet_bytes(items, unit_id=unit_id, unit_name=unit_name, as_of=as_of)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with temporary.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _workbook(items: tuple[SheetItem, ...], identity: SheetIdentity) -> Workbook:
    # Rows go to the file as they are appended (see tracking.styled_rows): what is written
    # with them comes first.
    workbook = Workbook(write_only=True)
    sheet = add_styled_rows_sheet(workbook, SHEET_NAME)
    column_styles = _register_styles(workbook)
    for column, (_, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.column_dimensions[get_column_letter(_ID_COLUMN)].hidden = True
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    last_row = HEADER_ROW + len(items)
    if items:
        _add_validations(sheet, HEADER_ROW + 1, last_row)
    _protect(sheet)
    _set_up_page(sheet, last_row)
    _write_banner(sheet, identity)
    _write_header(sheet)
    for number, item in enumerate(items, start=1):
        _append_item(sheet, number, item, column_styles)
    _write_identity(workbook, identity)
    return workbook


def _write_banner(sheet: StyledRowsSheet, identity: SheetIdentity) -> None:
    for row, text, font, height in (
        (TITLE_ROW, sheet_title(identity.unit_name, identity.as_of), Font(bold=True, size=14), 30),
        (NOTE_ROW, _NOTE.format(limit=MAX_TEXT_CHARS), Font(size=10, color="555555"), 44),
    ):
        sheet.merged_cells.add(
            CellRange(min_row=row, min_col=1, max_row=row, max_col=_VISIBLE_COLUMNS)
        )
        cell = _text(Cell(sheet), text)
        cell.font = font
        cell.alignment = Alignment(
            horizontal="center" if row == TITLE_ROW else "left", vertical="center", wrap_text=True
        )
        sheet.row_dimensions[row].height = height
        sheet.append([cell])


def _write_header(sheet: StyledRowsSheet) -> None:
    looks = {}
    for fill, name in ((_HEADER_FILL, _HEADER_STYLE), (_FILL_IN, _HEADER_FILL_IN_STYLE)):
        style = NamedStyle(
            name,
            font=Font(bold=True),
            fill=fill,
            border=_BORDER,
            alignment=Alignment(horizontal="center", vertical="center", wrap_text=True),
        )
        sheet.parent.add_named_style(style)
        looks[name] = style.as_tuple()
    cells = []
    for column, name in enumerate(HEADERS, start=1):
        fill_in = column in (_TEXT_COLUMN, _STATUS_COLUMN)
        look = looks[_HEADER_FILL_IN_STYLE if fill_in else _HEADER_STYLE]
        cells.append(Cell(sheet, value=name, style_array=look))
    sheet.append(cells)


def _register_styles(workbook: Workbook) -> tuple[StyleArray, ...]:
    """Register the data cells' looks as named styles; return each column's style indexes, in
    HEADERS order. Cells made with them need no border or alignment of their own: set per cell,
    openpyxl hashes both field by field to find them among the workbook's, most of a sheet's
    cost."""
    looks: dict[tuple[bool, bool, str], StyleArray] = {}
    column_styles = []
    for name in HEADERS:
        look = (name in (TEXT_HEADER, STATUS_HEADER), name in _CENTRED, _NUMBER_FORMATS[name])
        if look not in looks:
            looks[look] = _named_style(workbook, *look)
        column_styles.append(looks[look])
    return tuple(column_styles)


def _named_style(
    workbook: Workbook, fill_in: bool, centred: bool, number_format: str
) -> StyleArray:
    kind = {"@": "文本", "General": "数字"}.get(number_format, "日期")
    style = NamedStyle(
        f"填报表-{'填写-' if fill_in else ''}{'居中' if centred else '左对齐'}-{kind}",
        # The workbook's default font, which an unstyled cell shows (a NamedStyle's own default
        # is an empty font).
        font=DEFAULT_FONT,
        border=_BORDER,
        alignment=Alignment(
            horizontal="center" if centred else "left", vertical="top", wrap_text=True
        ),
        number_format=number_format,
    )
    if fill_in:  # the two columns the unit fills in
        style.fill = _FILL_IN
        style.protection = Protection(locked=False)
    workbook.add_named_style(style)
    return style.as_tuple()


def _append_item(
    sheet: StyledRowsSheet, seq: int, item: SheetItem, column_styles: tuple[StyleArray, ...]
) -> None:
    texts = {
        "类别": item.category,
        "编号": item.number,
        "案由": item.title,
        "跟踪落实事项": item.commitment,
        "承办方式": ROLE_LABELS.get(Role(item.role), item.role),
        "需办理": "；".join(item.owed),
    }
    lines = max(
        _MIN_DATA_LINES,
        *(wrapped_lines(str(texts.get(name, "")), width) for name, width in COLUMNS),
    )
    height = min(_MAX_ROW_HEIGHT, lines * _LINE_HEIGHT + 4)
    sheet.row_dimensions[HEADER_ROW + seq].height = height
    cells = []
    for name, style in zip(HEADERS, column_styles, strict=True):
        # Made with its style's indexes: setting ``cell.style`` by name looks the name up
        # among the workbook's styles for every cell.
        cell = Cell(sheet, style_array=style)
        if name == "序号":
            cell.value = seq
        elif name == "办理时限":
            cell.value = item.due
        elif name == ID_HEADER:
            cell.value = item.item_id
        elif name in texts:
            _text(cell, texts[name])
        # else: the two columns the unit fills in, empty, formatted as text so that "=…"
        # typed in stays text
        cells.append(cell)
    sheet.append(cells)


def _text(cell: Cell, text: str) -> Cell:
    """Put ``text`` in ``cell`` as text: a title starting with "=" is not a formula, and control
    characters XML cannot carry (pasted from Word) are dropped."""
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", text) or None
    if cell.value is not None:
        cell.data_type = "s"
    return cell


def _add_validations(sheet: StyledRowsSheet, first: int, last: int) -> None:
    status = DataValidation(
        type="list",
        formula1='"' + ",".join(STATUS_CHOICES) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="办理状态",
        error="请从下拉列表中选择：" + "、".join(STATUS_CHOICES),
        showInputMessage=True,
        promptTitle="办理状态",
        prompt="选择" + "、".join(STATUS_CHOICES) + "之一",
    )
    text = DataValidation(
        type="textLength",
        operator="lessThanOrEqual",
        formula1=str(MAX_TEXT_CHARS),
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="落实情况",
        error=f"落实情况每格不超过{MAX_TEXT_CHARS}字",
    )
    for validation, column in ((status, _STATUS_COLUMN), (text, _TEXT_COLUMN)):
        letter = get_column_letter(column)
        validation.add(f"{letter}{first}:{letter}{last}")
        sheet.data_validations.append(validation)


def _protect(sheet: StyledRowsSheet) -> None:
    """Only the cells to fill in can be edited; rows and columns can still be resized (long
    text needs taller rows). No password: it guards against slips, not against the unit."""
    protection = sheet.protection
    protection.sheet = True
    protection.formatRows = False  # False: allowed
    protection.formatColumns = False
    protection.formatCells = False


def _set_up_page(sheet: StyledRowsSheet, last_row: int) -> None:
    set_up_page(sheet, HEADER_ROW)
    sheet.print_area = f"A1:{get_column_letter(_VISIBLE_COLUMNS)}{last_row}"


def _write_identity(workbook: Workbook, identity: SheetIdentity) -> None:
    """The very hidden sheet (not listed by Excel's or WPS's "Unhide"): whose sheet this is."""
    sheet = add_styled_rows_sheet(workbook, IDENTITY_SHEET)
    sheet.sheet_state = "veryHidden"
    sheet.protection.sheet = True
    for key, value in (
        (IDENTITY_MARK, FORMAT_VERSION),
        ("unit_id", identity.unit_id),
        ("unit", identity.unit_name),
        ("as_of", identity.as_of.isoformat()),
    ):
        value_cell = (
            _text(Cell(sheet), value) if isinstance(value, str) else Cell(sheet, value=value)
        )
        sheet.append([Cell(sheet, value=key), value_cell])
