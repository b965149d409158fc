"""Recording a returned 落实情况填报表: what a unit wrote in its sheet becomes its reports.

A returned sheet counts as a reply. :func:`collect_sheet` finds whose sheet it is (the very
hidden sheet that :mod:`tracking.unit_sheet` writes, else the title row, else the unit the caller
names; a sheet of one unit given as another's is refused), matches each row to the unit's item by
the hidden 事项编号 cross-checked with 编号 (by 编号 and 类别 when a unit retyped the sheet
without it), and records each filled-in 落实情况 as a progress report, or as the unit's final
report when 办理状态 says 已完成, with the status as the unit's claim.

All or nothing: every problem is listed as ``FILE:ROW:COLUMN: 列名: reason`` and nothing is
recorded unless every row is good. A row already recorded (same item, unit, text and kind) is
left alone, so collecting the same file twice records nothing the second time.

The file is untrusted: only XLSX is read, its size and rows are capped, and formulas are never
evaluated; a cell holding a formula is refused (text that merely starts with "=" is kept as text).
"""

import io
import re
import zipfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlmodel import Session, select

from tracking.audit import record_event
from tracking.errors import InputError
from tracking.models import (
    Assignment,
    AssignmentStatus,
    FollowUpItem,
    ProgressUpdate,
    Proposal,
    Unit,
    UpdateKind,
    UpdateSource,
)
from tracking.names import squeeze
from tracking.table_schema import CATEGORY_ALIASES
from tracking.unit_sheet import (
    FINAL_STATUS,
    FORMAT_VERSION,
    ID_HEADER,
    IDENTITY_MARK,
    IDENTITY_SHEET,
    MAX_TEXT_CHARS,
    SHEET_NAME,
    STATUS_CHOICES,
    STATUS_HEADER,
    TEXT_HEADER,
    TITLE_SUFFIX,
    SheetIdentity,
)
from tracking.units import UnitDirectory
from tracking.updates import record_update
from tracking.workflow import is_open

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # a zip bomb stops here
MAX_ZIP_ENTRIES = 1000
MAX_DATA_ROWS = 2000  # a unit owes tens of items, not thousands
MAX_HEADER_SEARCH = 20  # the header is within the first rows
MAX_COLUMNS = 40

# Column name -> field. Our sheet's names first; then what a unit retyping it may write.
_HEADER_FIELDS = {
    ID_HEADER: "item_id",
    "事项ID": "item_id",
    "编号": "number",
    "建议号": "number",
    "提案号": "number",
    "建议提案编号": "number",
    "类别": "category",
    "跟踪落实事项": "commitment",
    "落实事项": "commitment",
    TEXT_HEADER: "text",
    "落实情况反馈": "text",
    "办理落实情况": "text",
    STATUS_HEADER: "status",
    "状态": "status",
}
_COLUMN_NAMES = {
    "item_id": ID_HEADER,
    "number": "编号",
    "category": "类别",
    "commitment": "跟踪落实事项",
    "text": TEXT_HEADER,
    "status": STATUS_HEADER,
}
_TITLE = re.compile(rf"^(?P<unit>.+?)\s*{TITLE_SUFFIX}")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class SheetCell:
    text: str
    column: int  # 1-based, as the spreadsheet program counts
    formula: bool = False
    error: bool = False


@dataclass(frozen=True)
class SheetRow:
    line: int  # the sheet's row number
    cells: dict[str, SheetCell]  # by field; only the columns the sheet has


@dataclass(frozen=True)
class ReturnedSheet:
    """A returned workbook, read but not yet matched: no database needed."""

    name: str
    identity: SheetIdentity | None
    title_unit: str | None  # the unit named in the title row, when there is no identity
    columns: dict[str, int]  # field -> 1-based column
    rows: tuple[SheetRow, ...]


@dataclass(frozen=True)
class CollectedRow:
    """A row recorded (or, before the writes, to record) as the unit's report."""

    line: int
    item_id: int
    category: str
    number: str
    kind: UpdateKind
    claim: str | None  # the 办理状态 the unit chose, if any
    update_id: int | None = None  # the ProgressUpdate written


@dataclass
class CollectReport:
    name: str
    unit_id: int
    unit_name: str
    sheet_as_of: date | None
    rows: int = 0  # data rows read (non-blank)
    unchanged: int = 0  # rows already recorded before
    empty: int = 0  # rows with nothing filled in
    recorded: list[CollectedRow] = field(default_factory=list)

    @property
    def finals(self) -> int:
        return sum(row.kind == UpdateKind.FINAL for row in self.recorded)

    def summary(self) -> str:
        """``3 rows recorded, 1 unchanged, 2 empty``."""
        return f"{len(self.recorded)} rows recorded, {self.unchanged} unchanged, {self.empty} empty"


def collect_sheet(
    session: Session,
    source: Path | bytes,
    *,
    name: str,
    unit: Unit | None,
    reported_on: date,
    now: datetime,
    actor: str,
    source_label: str = "xlsx",
) -> CollectReport:
    """Record what a unit wrote in its returned sheet, as its reports dated ``reported_on``.

    ``source`` is the file or its bytes (an upload); ``name`` is how problems name it. ``unit``
    is whose sheet it must be (a unit's web page), or None to take it from the sheet; given, the
    problems never name another unit's item (its id is "no such item"). Raises
    InputError listing every problem, having recorded nothing; the caller's transaction holds
    the writes, so a rollback undoes them all (a dry run).
    """
    sheet = read_returned_sheet(source, name=name)
    # A unit's own upload (its web page) learns nothing of other units' items: one of theirs is
    # answered like an id that does not exist.
    private = unit is not None
    unit = _sheet_unit(session, sheet, unit)
    report = CollectReport(
        name=name,
        unit_id=unit.id,  # type: ignore[arg-type]
        unit_name=unit.name,
        sheet_as_of=sheet.identity.as_of if sheet.identity else None,
    )
    as_of = sheet.identity.as_of if sheet.identity else reported_on
    planned = _plan(session, sheet, unit, report, year=as_of.year, private=private)
    for row, target, text in planned:
        update = record_update(
            session,
            item=target,
            unit=unit,
            text=text,
            kind=row.kind,
            reported_on=reported_on,
            source=UpdateSource.SPREADSHEET,
            reported_by=actor,
            now=now,
        )
        update.claim = row.claim
        session.add(update)
        session.flush()
        report.recorded.append(replace(row, update_id=update.id))
    if report.recorded:
        record_event(
            session,
            at=now,
            actor=actor,
            action="sheet.collect",
            entity="unit",
            entity_id=unit.id,
            after={
                "file": name,
                "source": source_label,
                "sheet_as_of": report.sheet_as_of.isoformat() if report.sheet_as_of else None,
                "reported_on": reported_on.isoformat(),
                "recorded": len(report.recorded),
                "unchanged": report.unchanged,
                "empty": report.empty,
            },
        )
    return report


# --- reading the workbook ---------------------------------------------------------------------


def read_returned_sheet(source: Path | bytes, *, name: str) -> ReturnedSheet:
    """Read a returned workbook's rows, identity and header; refuse what is not a sane XLSX."""
    data = _read_source(source, name)
    _check_container(data, name)
    try:
        workbook = load_workbook(
            io.BytesIO(data), read_only=True, data_only=False, keep_links=False
        )
    except Exception as error:
        # openpyxl reports a damaged file through many unrelated exception types.
        raise InputError(
            f"{name}: 不是有效的 XLSX 工作簿，无法读取（not a valid XLSX workbook: {error}）"
        ) from error
    try:
        identity = _identity(workbook, name)
        sheet = _data_sheet(workbook, name)
        return _read_rows(sheet, name, identity)
    except InputError:
        raise
    except Exception as error:
        raise InputError(
            f"{name}: 工作簿已损坏，无法读取（the workbook is damaged: {error}）"
        ) from error
    finally:
        workbook.close()


def _read_source(source: Path | bytes, name: str) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        try:
            size = source.stat().st_size
            if size > MAX_FILE_BYTES:
                raise InputError(_too_big(name, size))
            data = source.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{name}: 文件不存在（file not found）") from None
        except OSError as error:
            raise InputError(
                f"{name}: 无法读取文件（cannot read the file: {error.strerror or error}）"
            ) from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(_too_big(name, len(data)))
    if not data:
        raise InputError(f"{name}: 文件是空的（the file is empty）")
    return data


def _too_big(name: str, size: int) -> str:
    return (
        f"{name}: 文件过大（{size / 1024 / 1024:.1f} MB，上限 {MAX_FILE_BYTES // 1024 // 1024} MB）"
        "，不像是落实情况填报表（the file is too large for a return sheet）"
    )


def _check_container(data: bytes, name: str) -> None:
    """An XLSX is a zip holding xl/workbook.xml; anything else is refused with a reason a
    person can act on, before openpyxl sees it."""
    if data.startswith(_OLE_MAGIC):
        raise InputError(
            f"{name}: 这是旧版 Excel 97-2003（.xls）格式或设置了打开密码的工作簿，"
            "请用 Excel 或 WPS 另存为不设密码的 .xlsx 后重新提交（an old .xls or "
            "password-protected workbook: "
            "save it as .xlsx without a password）"
        )
    if not data.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{name}: 不是 XLSX 工作簿，请提交系统发出的《{SHEET_NAME}》（.xlsx）"
            "（not an XLSX workbook）"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            names = {entry.filename for entry in entries}
    except (zipfile.BadZipFile, ValueError) as error:
        raise InputError(
            f"{name}: 文件已损坏，无法读取（a damaged XLSX/ZIP file: {error}）"
        ) from None
    if "xl/workbook.xml" not in names:
        kind = "OpenDocument（.ods）表格" if "content.xml" in names else "ZIP 压缩包或其他文档"
        raise InputError(
            f"{name}: 这是{kind}，不是 XLSX 工作簿；请另存为 .xlsx 后重新提交"
            "（not an XLSX workbook）"
        )
    if len(entries) > MAX_ZIP_ENTRIES or sum(e.file_size for e in entries) > MAX_UNPACKED_BYTES:
        raise InputError(
            f"{name}: 工作簿解压后过大，不像是落实情况填报表（the workbook unpacks too large）"
        )


def _identity(workbook: Any, name: str) -> SheetIdentity | None:
    if IDENTITY_SHEET not in workbook.sheetnames:
        return None
    values: dict[str, Any] = {}
    for row in workbook[IDENTITY_SHEET].iter_rows(max_row=10, max_col=2, values_only=True):
        if row and row[0] is not None:
            values[str(row[0])] = row[1] if len(row) > 1 else None
    if IDENTITY_MARK not in values:
        return None  # a sheet that happens to be called so, not ours
    try:
        if int(values[IDENTITY_MARK]) != FORMAT_VERSION:
            raise ValueError(f"format {values[IDENTITY_MARK]}")
        return SheetIdentity(
            unit_id=int(values["unit_id"]),
            unit_name=str(values["unit"]),
            as_of=date.fromisoformat(str(values["as_of"])),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(
            f"{name}: 表格的单位标识已损坏，请使用系统发出的原表重新填写"
            f"（the sheet's identification is damaged: {error}）"
        ) from None


def _data_sheet(workbook: Any, name: str) -> Any:
    if SHEET_NAME in workbook.sheetnames:
        return workbook[SHEET_NAME]
    for sheet in workbook.worksheets:
        if sheet.title != IDENTITY_SHEET and sheet.sheet_state == "visible":
            return sheet
    raise InputError(f"{name}: 工作簿中没有工作表（the workbook has no worksheet）")


def _read_rows(sheet: Any, name: str, identity: SheetIdentity | None) -> ReturnedSheet:
    rows = _cells(sheet)
    header_line, columns, title_unit = None, {}, None
    above: list[str] = []
    for line, cells in rows:
        if line > MAX_HEADER_SEARCH:
            break
        found = {
            _HEADER_FIELDS[squeeze(cell.text)]: cell.column
            for cell in reversed(cells)  # the first column of a name wins
            if not cell.formula and squeeze(cell.text) in _HEADER_FIELDS
        }
        if "number" in found and "text" in found:
            header_line, columns = line, found
            break
        above.extend(cell.text for cell in cells)
    if header_line is None:
        raise InputError(
            f"{name}: 找不到表头：需要一行含有“编号”和“{TEXT_HEADER}”两栏，请使用系统发出的"
            f"《{SHEET_NAME}》（no header row naming 编号 and {TEXT_HEADER}）"
        )
    for text in above:
        match = _TITLE.match(text.strip())
        if match:
            title_unit = match.group("unit").strip()
            break
    by_column = {column: field_name for field_name, column in columns.items()}
    data: list[SheetRow] = []
    for line, cells in rows:
        if line <= header_line:
            continue
        picked = {by_column[cell.column]: cell for cell in cells if cell.column in by_column}
        if not any(cell.text or cell.formula or cell.error for cell in picked.values()):
            continue
        if len(data) == MAX_DATA_ROWS:
            raise InputError(
                f"{name}:{line}: 行数过多：一张填报表最多 {MAX_DATA_ROWS} 行"
                f"（more than {MAX_DATA_ROWS} rows）"
            )
        data.append(SheetRow(line=line, cells=picked))
    return ReturnedSheet(
        name=name,
        identity=identity,
        title_unit=title_unit,
        columns=columns,
        rows=tuple(data),
    )


def _cells(sheet: Any) -> list[tuple[int, list[SheetCell]]]:
    """The non-blank rows' cells with their line numbers, up to the row cap.

    Read with formulas as formulas (``data_only=False``): a formula cell is flagged, never
    evaluated, and its cached result is not used either."""
    # A wrong <dimension> (some generators write "A1") would cut read-only rows short.
    sheet.reset_dimensions()
    last = MAX_HEADER_SEARCH + MAX_DATA_ROWS + 1
    rows = []
    for line, values in enumerate(
        sheet.iter_rows(min_row=1, max_row=last, max_col=MAX_COLUMNS), start=1
    ):
        cells = [
            SheetCell(
                text=_cell_text(cell.value) if cell.data_type not in ("f", "e") else "",
                column=column,
                formula=cell.data_type == "f",
                error=cell.data_type == "e",
            )
            for column, cell in enumerate(values, start=1)
            if cell.value is not None
        ]
        if cells:
            rows.append((line, cells))
    return rows


def _cell_text(value: object) -> str:
    """A cell as the text the user sees: 730.0 is "730"; line breaks as "\\n"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text.strip()


# --- whose sheet, and which items -------------------------------------------------------------


def _sheet_unit(session: Session, sheet: ReturnedSheet, given: Unit | None) -> Unit:
    named: Unit | None = None
    if sheet.identity is not None:
        named = session.get(Unit, sheet.identity.unit_id)
        if named is None or squeeze(named.name) != squeeze(sheet.identity.unit_name):
            # The id may be another database's (a sheet made elsewhere): trust the name then.
            named = UnitDirectory(session).find(sheet.identity.unit_name) or named
        if named is None:
            raise InputError(
                f"{sheet.name}: 表中标明的单位“{sheet.identity.unit_name}”在督办系统中不存在"
                f"（the sheet names a unit not on record: {sheet.identity.unit_name}）"
            )
    elif sheet.title_unit:
        named = UnitDirectory(session).find(sheet.title_unit)
    if given is not None and named is not None and named.id != given.id:
        raise InputError(
            f"{sheet.name}: 这是{named.name}的填报表，不能作为{given.name}的报送提交"
            f"（this sheet is {named.name}'s, not {given.name}'s）"
        )
    unit = given or named
    if unit is None:
        who = (
            f"表头写的“{sheet.title_unit}”不是已登记的单位"
            if sheet.title_unit
            else "表中没有单位标识"
        )
        raise InputError(
            f"{sheet.name}: 无法确定填报单位：{who}；请指定单位"
            "（e.g. duban collect --unit 市民政局）"
            "（cannot tell which unit the sheet is from）"
        )
    return unit


@dataclass(frozen=True)
class _Owned:
    assignment: Assignment
    item: FollowUpItem
    proposal: Proposal


def _plan(
    session: Session,
    sheet: ReturnedSheet,
    unit: Unit,
    report: CollectReport,
    *,
    year: int,
    private: bool = False,
) -> list[tuple[CollectedRow, FollowUpItem, str]]:
    """Check every row; the rows to record, or InputError listing every problem."""
    owned = {
        item.id: _Owned(assignment, item, proposal)
        for assignment, item, proposal in session.exec(
            select(Assignment, FollowUpItem, Proposal)
            .join(FollowUpItem, Assignment.item_id == FollowUpItem.id)
            .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
            .where(Assignment.unit_id == unit.id)
        )
    }
    recorded = {
        (update.item_id, update.text.strip(), update.kind)
        for update in session.exec(select(ProgressUpdate).where(ProgressUpdate.unit_id == unit.id))
    }
    problems: list[str] = []
    planned: list[tuple[CollectedRow, FollowUpItem, str]] = []
    seen: dict[int, int] = {}

    for row in sheet.rows:
        report.rows += 1

        def problem(field_name: str, reason: str, row: SheetRow = row) -> None:
            if field_name not in sheet.columns:  # e.g. no 办理状态 column: the row's text
                field_name = "text"
            column = sheet.columns[field_name]
            problems.append(
                f"{sheet.name}:{row.line}:{column}: {_COLUMN_NAMES[field_name]}: {reason}"
            )

        unreadable = False
        for field_name, cell in row.cells.items():
            if cell.formula:
                problem(
                    field_name,
                    "单元格是公式；系统不计算公式，请直接填写文字（可复制后“粘贴为数值”）",
                )
                unreadable = True
            elif cell.error:
                problem(field_name, "单元格是错误值（如 #N/A），请直接填写文字")
                unreadable = True
        if unreadable:
            continue
        text = _value(row, "text")
        status = squeeze(_value(row, "status"))
        if not text and not status:
            report.empty += 1
            continue
        if not text:
            problem("text", f"为空，但办理状态填了“{status}”；请填写落实情况，或清空办理状态")
            continue
        bad = False
        if status and status not in STATUS_CHOICES:
            problem("status", f"“{status}”不是可选的办理状态（{'、'.join(STATUS_CHOICES)}）")
            bad = True
        if len(text) > MAX_TEXT_CHARS:
            problem("text", f"共{len(text)}字，超过{MAX_TEXT_CHARS}字的上限，请精简")
            bad = True
        target = _match(session, row, owned, unit, problem, year=year, private=private)
        if target is None or bad:
            continue
        item, proposal, assignment = target.item, target.proposal, target.assignment
        where = "item_id" if _value(row, "item_id") else "number"
        if item.id in seen:
            problem(
                where, f"与第{seen[item.id]}行是同一事项（{_label(proposal)}）；每个事项只填一行"
            )  # type: ignore[index]
            continue
        seen[item.id] = row.line  # type: ignore[index]
        kind = UpdateKind.FINAL if status == FINAL_STATUS else UpdateKind.PROGRESS
        if (item.id, text, kind) in recorded:
            report.unchanged += 1
            continue
        if assignment.status == AssignmentStatus.RETURNED:
            problem(where, f"{_label(proposal)}已由{unit.name}退回，等待重新交办，不能报送")
            continue
        if assignment.status == AssignmentStatus.REASSIGNED:
            problem(where, f"{_label(proposal)}已调整给其他单位承办，{unit.name}不必再报送")
            continue
        if not is_open(item) and kind != UpdateKind.FINAL:
            problem(
                "status",
                f"{_label(proposal)}已于{item.closed_on}落实（已落实），不再接收进展；"
                f"如需更正最终落实情况，请选“{FINAL_STATUS}”",
            )
            continue
        planned.append(
            (
                CollectedRow(
                    line=row.line,
                    item_id=item.id,  # type: ignore[arg-type]
                    category=proposal.category,
                    number=proposal.number,
                    kind=kind,
                    claim=status or None,
                ),
                item,
                text,
            )
        )
    if problems:
        raise InputError(
            f"{sheet.name}: 发现{len(problems)}处问题，未记录任何内容；请改正后重新提交"
            f"（{len(problems)} problem(s) found; nothing was recorded）",
            problems,
        )
    return planned


def _value(row: SheetRow, field_name: str) -> str:
    cell = row.cells.get(field_name)
    return cell.text if cell is not None else ""


def _label(proposal: Proposal) -> str:
    return f"{proposal.category}第{proposal.number}号"


def _match(
    session: Session,
    row: SheetRow,
    owned: dict[int | None, _Owned],
    unit: Unit,
    problem: Any,
    *,
    year: int,
    private: bool = False,
) -> _Owned | None:
    """The unit's item a row is about: by the hidden id, checked against 编号 and 类别; else by
    编号 (and 类别, and 跟踪落实事项 when several items share a number). ``private``: an id of
    another unit's item is reported as no item at all (nothing of it is named)."""
    raw_category = squeeze(_value(row, "category"))
    category = CATEGORY_ALIASES.get(raw_category) if raw_category else None
    if raw_category and category is None:
        problem("category", f"“{raw_category}”既不是人大建议也不是政协提案")
        return None
    number = squeeze(_value(row, "number"))
    raw_id = squeeze(_value(row, "item_id"))
    if raw_id:
        try:
            item_id = int(raw_id)
        except ValueError:
            problem("item_id", f"“{raw_id}”不是事项编号（应为数字）；请勿改动该列")
            return None
        found = owned.get(item_id)
        if found is None:
            # A number past the column's range is no item (and SQLite could not even look it up).
            known = not private and 0 < item_id < 2**31
            other = session.get(FollowUpItem, item_id) if known else None
            if other is None:
                problem("item_id", f"没有事项编号为{item_id}的事项")
            else:
                proposal = session.get(Proposal, other.proposal_id)
                problem(
                    "item_id",
                    f"事项{item_id}（{_label(proposal) if proposal else ''}）"
                    f"不是{unit.name}承办的事项",
                )
            return None
        if number and not _same_number(number, found.proposal.number):
            problem(
                "number",
                f"编号“{number}”与事项编号{item_id}对应的{_label(found.proposal)}不符；"
                "请勿改动编号，也不要在行间复制粘贴",
            )
            return None
        if category is not None and category != found.proposal.category:
            problem(
                "category",
                f"类别“{raw_category}”与事项编号{item_id}对应的{_label(found.proposal)}不符",
            )
            return None
        return found
    if not number:
        problem("number", "为空，无法确定是哪一个事项")
        return None
    candidates = [
        found
        for found in owned.values()
        if _same_number(number, found.proposal.number)
        and (category is None or found.proposal.category == category)
    ]
    if len(candidates) > 1:
        commitment = squeeze(_value(row, "commitment"))
        if commitment:
            candidates = [c for c in candidates if squeeze(c.item.commitment) == commitment]
    if len(candidates) > 1:
        this_year = [c for c in candidates if c.proposal.year == year]
        candidates = this_year or candidates
    if len(candidates) == 1:
        return candidates[0]
    what = f"{category or ''}编号{number}"
    if not candidates:
        problem("number", f"{what}不是{unit.name}承办的建议提案")
    else:
        problem(
            "number",
            f"{what}对应{unit.name}的{len(candidates)}个事项，无法区分；请使用系统发出的原表"
            "（保留“事项编号”列），或写明类别和跟踪落实事项",
        )
    return None


def _same_number(written: str, recorded: str) -> bool:
    """ "0730" retyped as a number reads 730; "第730号" is 730 too."""

    def bare(number: str) -> str:
        return number.removeprefix("第").removesuffix("号")

    written, recorded = bare(written), bare(recorded)
    if written == recorded:
        return True
    return written.isdigit() and recorded.isdigit() and int(written) == int(recorded)
