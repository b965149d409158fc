"""The summary table's columns: finding the header row and reading one row into checked fields.

Pure functions over raw cells; nothing here touches the database. Every problem names the file,
line and column (``seed.txt:8:3: 编号: ...``) so that a person can go straight to the cell.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from tracking.models import Category
from tracking.names import split_units, squeeze
from tracking.table_reader import RawRow

# Canonical column name -> field. The canonical names are the seed's header, in its order.
COLUMNS: dict[str, str] = {
    "序号": "seq",
    "类别": "category",
    "编号": "number",
    "领衔代表": "lead_representative",
    "人数": "signer_count",
    "建议提案题目": "title",
    "办理类型": "handling_type",
    "主办单位": "lead_unit",
    "协办单位": "co_units",
    "跟踪落实事项": "commitment",
    "落实情况反馈": "feedback",
}
# Other names the same columns go by in tables that localities publish.
SYNONYMS: dict[str, str] = {
    "案由": "建议提案题目",
    "题目": "建议提案题目",
    "建议题目": "建议提案题目",
    "提案题目": "建议提案题目",
    "建议案由": "建议提案题目",
    "提案案由": "建议提案题目",
    "领衔人": "领衔代表",
    "领衔代表委员": "领衔代表",
    "提出人": "领衔代表",
    "建议号": "编号",
    "提案号": "编号",
    "承办类型": "办理类型",
    "会办单位": "协办单位",
    "落实事项": "跟踪落实事项",
    "落实情况": "落实情况反馈",
}
REQUIRED_FIELDS = ("category", "number", "title", "lead_unit", "commitment")
CATEGORY_ALIASES = {
    "人大建议": Category.NPC_SUGGESTION,
    "人大代表建议": Category.NPC_SUGGESTION,
    "代表建议": Category.NPC_SUGGESTION,
    "政协提案": Category.CPPCC_PROPOSAL,
    "政协委员提案": Category.CPPCC_PROPOSAL,
    "委员提案": Category.CPPCC_PROPOSAL,
}

_NUMBER_LIKE = re.compile(r"^(第)?[A-Za-z]{0,4}[-－]?\d+([-－]\d+)?(号)?$")
_SEPARATOR_CELL = re.compile(r"^[-—–=_＿－]*$")


@dataclass(frozen=True, slots=True)
class TableRow:
    """One checked data row: a follow-up item with its proposal and units."""

    line: int
    seq: int | None
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


@dataclass
class RowCheck:
    """What reading the rows found: the good rows, and each problem and repair by place."""

    rows: list[TableRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    invalid_lines: set[int] = field(default_factory=set)


def is_separator(row: RawRow) -> bool:
    return all(_SEPARATOR_CELL.match(cell) for cell in row.cells)


def canonical_column(header_cell: str) -> str | None:
    name = squeeze(header_cell)
    if name in COLUMNS:
        return name
    return SYNONYMS.get(name)


def find_header(rows: list[RawRow]) -> tuple[int, dict[str, int]] | None:
    """The index of the header row among ``rows`` and each field's column index, or None.

    The header is the first row naming every required column; extra and unknown columns are
    allowed and ignored.
    """
    for index, row in enumerate(rows):
        columns: dict[str, int] = {}
        for position, cell in enumerate(row.cells):
            name = canonical_column(cell)
            if name and COLUMNS[name] not in columns:
                columns[COLUMNS[name]] = position
        if all(required in columns for required in REQUIRED_FIELDS):
            return index, columns
    return None


def missing_header_message(path: Path) -> str:
    wanted = " ".join(COLUMNS)
    return (
        f"{path}: no header row found; expected a row naming at least "
        f"{', '.join(name for name, f in COLUMNS.items() if f in REQUIRED_FIELDS)} "
        f"(the full header is: {wanted})"
    )


def check_rows(
    path: Path, rows: list[RawRow], columns: dict[str, int], *, width: int | None = None
) -> RowCheck:
    """Read each data row into a TableRow, repairing what a person would and noting the rest.

    ``width``, for text tables, is the header's number of cells: a row with another number has
    lost or gained a cell, and every column after it would slide, so it is refused. (A
    spreadsheet row may end early: its trailing empty cells are simply not stored.)
    """
    result = RowCheck()
    for row in rows:
        if is_separator(row):
            continue
        if width is not None and len(row.cells) != width:
            result.problems.append(
                f"{path}:{row.line}: the row has {len(row.cells)} cells but the header has "
                f"{width}: a cell is missing or a tab too many, and the columns would slide"
            )
            result.invalid_lines.add(row.line)
            continue
        problems_before = len(result.problems)
        parsed = _check_row(path, row, columns, result)
        if parsed is not None and len(result.problems) == problems_before:
            result.rows.append(parsed)
        else:
            result.invalid_lines.add(row.line)
    _check_duplicates(path, result, columns)
    return result


def _check_row(
    path: Path, row: RawRow, columns: dict[str, int], result: RowCheck
) -> TableRow | None:
    def cell(name: str) -> str:
        position = columns.get(name)
        if position is None or position >= len(row.cells):
            return ""
        return row.cells[position].strip()

    def place(name: str) -> str:
        column = columns.get(name, -1) + 1
        header = next(title for title, f in COLUMNS.items() if f == name)
        return f"{path}:{row.line}:{column}: {header}"

    def problem(name: str, reason: str) -> None:
        result.problems.append(f"{place(name)}: {reason}")

    number, representative = cell("number"), cell("lead_representative")
    if _looks_like_name(number) and _NUMBER_LIKE.match(squeeze(representative)):
        result.warnings.append(
            f"{path}:{row.line}: 编号 and 领衔代表 were swapped ({number!r} / {representative!r}); "
            f"read as 编号 {representative!r}, 领衔代表 {number!r}"
        )
        number, representative = representative, number
    number = squeeze(number)

    for name in REQUIRED_FIELDS:
        if name != "number" and not cell(name):
            problem(name, "empty; this column is required")
    if not number:
        problem("number", "empty; this column is required")
    elif not _NUMBER_LIKE.match(number):
        problem("number", f"{number!r} is not a proposal number")

    raw_category = squeeze(cell("category"))
    category = CATEGORY_ALIASES.get(raw_category)
    if raw_category and category is None:
        problem("category", f"{raw_category!r} is neither 人大建议 nor 政协提案")

    # 市发展改革委 市卫生健康委 is two units; 市 民 政 局 or 沈阳 市民政局 is one name, spaced.
    parts = split_units(cell("lead_unit"))
    if len(parts) > 1 and all(len(part) >= 3 for part in parts):
        problem(
            "lead_unit",
            f"{cell('lead_unit')!r} names several units; an item has one lead unit "
            "(co-handling units go in 协办单位)",
        )

    seq = _optional_int(cell("seq"), "seq", problem)
    signer_count = _optional_int(cell("signer_count"), "signer_count", problem)

    if category is None or not number:
        return None
    return TableRow(
        line=row.line,
        seq=seq,
        category=str(category),
        number=number,
        lead_representative=representative,
        signer_count=signer_count,
        title=cell("title"),
        handling_type=squeeze(cell("handling_type")) or "主办",
        lead_unit=squeeze(cell("lead_unit")),
        co_units=split_units(cell("co_units")),
        commitment=cell("commitment"),
        feedback=cell("feedback"),
    )


def _optional_int(text: str, name: str, problem) -> int | None:  # type: ignore[no-untyped-def]
    if not text:
        return None
    try:
        value = int(squeeze(text))
    except ValueError:
        problem(name, f"{text!r} is not a whole number")
        return None
    if value < 0:
        problem(name, f"{value} is negative")
        return None
    return value


def _looks_like_name(text: str) -> bool:
    """A person's name: Chinese characters (perhaps padded with a space), no digits."""
    squeezed = squeeze(text)
    return bool(squeezed) and not any(ch.isdigit() for ch in squeezed)


def _check_duplicates(path: Path, result: RowCheck, columns: dict[str, int]) -> None:
    """The same proposal on two rows is two follow-up items, but the proposal must agree."""
    first: dict[tuple[str, str], TableRow] = {}
    keep: list[TableRow] = []
    for row in result.rows:
        key = (row.category, row.number)
        earlier = first.setdefault(key, row)
        if earlier is not row and (
            earlier.title != row.title or earlier.lead_unit != row.lead_unit
        ):
            column = columns["title"] + 1
            result.problems.append(
                f"{path}:{row.line}:{column}: 建议提案题目: {row.category} {row.number} is also on "
                f"line {earlier.line} with a different title or lead unit"
            )
            result.invalid_lines.add(row.line)
            continue
        if earlier is not row and earlier.commitment == row.commitment:
            column = columns["commitment"] + 1
            result.problems.append(
                f"{path}:{row.line}:{column}: 跟踪落实事项: the same item as line {earlier.line}"
            )
            result.invalid_lines.add(row.line)
            continue
        keep.append(row)
    result.rows = keep
