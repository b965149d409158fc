"""Importing a published summary table, on the real 2022 table and broken copies of it.

The seed (config/demo/seed-2022.txt) has blank lines 1-2, its title on line 3, the header on
line 5, eleven rows on lines 6-9, 11-13, 15-17 and 19 (blank lines 10, 14 and 18 between them)
and a row of dashes on line 20. Rows 4-11 have 编号 and 领衔代表 swapped. Copies are made by
editing cells at (physical line, 1-based column), so the expected places are the file's own.
"""

import csv
import gc
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from tracking import importer
from tracking.db import transaction
from tracking.errors import InputError
from tracking.importer import ImportReport, check_table, import_table
from tracking.models import (
    Assignment,
    AssignmentStatus,
    Event,
    FollowUpItem,
    ItemStatus,
    ProgressUpdate,
    Proposal,
    Role,
    Unit,
    UpdateKind,
    UpdateSource,
)

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 11, 1, 9, 0, tzinfo=ZONE)
REPORTED_ON = date(2022, 10, 31)
YEAR = 2022
TABLES: tuple[type[SQLModel], ...] = (
    Proposal,
    FollowUpItem,
    Assignment,
    Unit,
    ProgressUpdate,
    Event,
)
SEED_NUMBERS = {"730", "152", "199", "217", "250", "271", "289", "321", "379", "445", "451"}
SEED_UNITS = {
    "市民政局",
    "市发展改革委",
    "市卫生健康委",
    "市人力资源社会保障局",
    "市教育局",
    "市工业和信息化局",
    "市财政局",
}
# Physical lines of rows 4-11, whose 编号 and 领衔代表 are swapped, and what they hold.
SWAPPED = {
    9: ("陈美霖", "217"),
    11: ("梁 瑜", "250"),
    12: ("彭铁岩", "271"),
    13: ("吴 际", "289"),
    15: ("徐玲", "321"),
    16: ("周齐艳", "379"),
    17: ("金山", "445"),
    19: ("郝毅松", "451"),
}
HEADER_LINE = 5
DASHES_LINE = 20
# Columns of the seed, 1-based.
SEQ, CATEGORY, NUMBER, REPRESENTATIVE, SIGNERS, TITLE = 1, 2, 3, 4, 5, 6
LEAD, CO, COMMITMENT, FEEDBACK = 8, 9, 10, 11


# --- making copies of the seed -------------------------------------------------------------


def seed_lines(seed: Path) -> list[list[str]]:
    """The seed's physical lines as lists of cells (a blank line is [""])."""
    return [line.split("\t") for line in seed.read_text(encoding="utf-8").split("\n")]


def cell(seed: Path, line: int, column: int) -> str:
    return seed_lines(seed)[line - 1][column - 1].strip()


def write_text(path: Path, lines: list[list[str]], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join("\t".join(cells) for cells in lines), encoding=encoding)
    return path


def edited(seed: Path, tmp_path: Path, changes: dict[tuple[int, int], str]) -> Path:
    """A copy of the seed with the cells at (line, column) replaced."""
    lines = seed_lines(seed)
    for (line, column), value in changes.items():
        lines[line - 1][column - 1] = value
    return write_text(tmp_path / "edited.txt", lines)


def without_columns(lines: list[list[str]], *columns: int) -> list[list[str]]:
    """Every line without the given 1-based columns (lines shorter than that keep their cells)."""
    drop = {column - 1 for column in columns}
    return [
        [value for index, value in enumerate(cells) if len(cells) == 1 or index not in drop]
        for cells in lines
    ]


def with_column(lines: list[list[str]], column: int, header: str, value: str) -> list[list[str]]:
    """Every row of the table with a new cell at ``column``: ``header`` in the header row."""
    result = []
    for number, cells in enumerate(lines, start=1):
        if len(cells) > 1:
            new = {HEADER_LINE: header, DASHES_LINE: "--"}.get(number, value)
            cells = [*cells[: column - 1], new, *cells[column - 1 :]]
        result.append(cells)
    return result


def as_csv(seed: Path, tmp_path: Path, encoding: str = "utf-8") -> Path:
    path = tmp_path / "seed.csv"
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(seed_lines(seed))
    return path


def as_xlsx(seed: Path, tmp_path: Path) -> Path:
    """The seed as a workbook, each line on the sheet row of the same number, numbers as numbers."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row, cells in enumerate(seed_lines(seed), start=1):
        for column, value in enumerate(cells, start=1):
            if value:
                sheet.cell(row=row, column=column, value=int(value) if value.isdigit() else value)
    path = tmp_path / "seed.xlsx"
    workbook.save(path)
    return path


def reencoded(encoding: str) -> Callable[[Path, Path], Path]:
    def write(seed: Path, tmp_path: Path) -> Path:
        return write_text(tmp_path / f"seed-{encoding}.txt", seed_lines(seed), encoding)

    return write


# --- reading the database ------------------------------------------------------------------


def run_import(engine: Engine, path: Path, **options: object) -> ImportReport:
    arguments: dict = {"year": YEAR, "reported_on": REPORTED_ON, "now": NOW, "actor": "test"}
    return import_table(engine, path, **(arguments | options))


def row_counts(engine: Engine) -> dict[str, int]:
    with transaction(engine) as session:
        return {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in TABLES
        }


def records(engine: Engine, year: int) -> dict[str, list[tuple]]:
    """What an import left for ``year``, by names and numbers rather than ids."""
    with transaction(engine) as session:
        units = {unit.id: unit.name for unit in session.exec(select(Unit))}
        proposals = {p.id: p for p in session.exec(select(Proposal).where(Proposal.year == year))}
        items = {
            item.id: item
            for item in session.exec(select(FollowUpItem))
            if item.proposal_id in proposals
        }

        def ref(item_id: int) -> tuple:
            proposal = proposals[items[item_id].proposal_id]
            return (proposal.category, proposal.number, items[item_id].ordinal)

        return {
            "proposals": sorted(
                (
                    p.category,
                    p.number,
                    p.lead_representative,
                    p.signer_count,
                    p.title,
                    p.handling_type,
                )
                for p in proposals.values()
            ),
            "items": sorted(
                (*ref(item.id), item.position, item.commitment, item.status, item.closed_on)
                for item in items.values()
            ),
            "assignments": sorted(
                (*ref(a.item_id), units[a.unit_id], a.role, a.status, a.closed_on)
                for a in session.exec(select(Assignment))
                if a.item_id in items
            ),
            "updates": sorted(
                (*ref(u.item_id), units[u.unit_id], u.kind, u.source, u.reported_on, u.text)
                for u in session.exec(select(ProgressUpdate))
                if u.item_id in items
            ),
        }


def proposal(engine: Engine, number: str) -> Proposal:
    with transaction(engine) as session:
        return session.exec(select(Proposal).where(Proposal.number == number)).one()


def item_units(engine: Engine, number: str) -> dict[str, str]:
    """The units assigned to the (only) item of proposal ``number``, with their role."""
    with transaction(engine) as session:
        rows = session.exec(
            select(Unit.name, Assignment.role)
            .join(Assignment, Assignment.unit_id == Unit.id)
            .join(FollowUpItem, FollowUpItem.id == Assignment.item_id)
            .join(Proposal, Proposal.id == FollowUpItem.proposal_id)
            .where(Proposal.number == number)
        )
        return dict(rows.all())


def events_after(engine: Engine, last_id: int) -> list[Event]:
    with transaction(engine) as session:
        return list(session.exec(select(Event).where(Event.id > last_id).order_by(Event.id)))


def last_event_id(engine: Engine) -> int:
    with transaction(engine) as session:
        return session.exec(select(func.max(Event.id))).one() or 0


def failed_import(engine: Engine, path: Path, **options: object) -> InputError:
    with pytest.raises(InputError) as caught:
        run_import(engine, path, **options)
    return caught.value


# --- reading the table ---------------------------------------------------------------------


def test_seed_imports_its_eleven_rows(engine: Engine, seed: Path) -> None:
    report = run_import(engine, seed)

    assert report.rows == 11
    assert report.skipped == []
    assert (report.proposals_created, report.items_created) == (11, 11)
    with transaction(engine) as session:
        stored = {(p.year, p.category, p.number) for p in session.exec(select(Proposal))}
        items = list(session.exec(select(FollowUpItem).order_by(FollowUpItem.position)))
    assert stored == {(YEAR, "人大建议", "730")} | {
        (YEAR, "政协提案", number) for number in SEED_NUMBERS - {"730"}
    }
    assert [item.position for item in items] == list(range(1, 12))
    assert items[0].commitment == cell(seed, 6, COMMITMENT)


def test_units_named_in_the_table_are_created(engine: Engine, seed: Path) -> None:
    report = run_import(engine, seed)

    assert report.units_created == 7
    with transaction(engine) as session:
        assert {unit.name for unit in session.exec(select(Unit))} == SEED_UNITS
        created = session.exec(select(Event).where(Event.action == "unit.create")).all()
    assert sorted(event.after["name"] for event in created) == sorted(SEED_UNITS)  # type: ignore[index]


@pytest.mark.parametrize(
    "make_copy",
    [
        reencoded("utf-8-sig"),
        reencoded("gb18030"),
        reencoded("utf-16"),
        as_csv,
        lambda seed, tmp_path: as_csv(seed, tmp_path, encoding="gb18030"),
        as_xlsx,
    ],
    ids=["utf-8-bom", "gb18030", "utf-16", "csv", "csv-gb18030", "xlsx"],
)
def test_every_format_and_encoding_gives_the_same_records(
    engine: Engine, seed: Path, tmp_path: Path, make_copy: Callable[[Path, Path], Path]
) -> None:
    copy = make_copy(seed, tmp_path)

    copy_report = run_import(engine, copy)
    seed_report = run_import(engine, seed, year=YEAR + 1)

    assert records(engine, YEAR) == records(engine, YEAR + 1)
    assert len(records(engine, YEAR)["proposals"]) == 11
    assert seed_report.units_created == 0  # the copy created the same seven
    assert copy_report.warnings == [
        warning.replace(str(seed), str(copy)) for warning in seed_report.warnings
    ]


def test_separator_rows_anywhere_are_skipped(engine: Engine, seed: Path, tmp_path: Path) -> None:
    lines = seed_lines(seed)
    dashes = lines[-1]
    lines.insert(HEADER_LINE, ["＿＿", "——", "==", *dashes[3:]])
    copy = write_text(tmp_path / "dashes-under-header.txt", lines)

    report = run_import(engine, copy)

    assert report.skipped == []
    assert report.rows == 11


def test_header_cells_with_inner_spaces_and_synonyms_are_recognised(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    lines = seed_lines(seed)
    lines[HEADER_LINE - 1] = [
        "序 号",
        "类　别",  # a full-width space
        "编 号",
        "领衔代表",
        "人数",
        "案 由",
        "办理类型",
        "主 办 单 位",
        "协办单位",
        "跟踪落实事项",
        "落实情况反馈",
    ]
    copy = write_text(tmp_path / "spaced-header.txt", lines)

    run_import(engine, copy)
    again = run_import(engine, seed)

    assert not again.changed
    assert proposal(engine, "152").title == cell(seed, 7, TITLE)


def test_missing_optional_columns_are_tolerated(engine: Engine, seed: Path, tmp_path: Path) -> None:
    copy = write_text(
        tmp_path / "short.txt", without_columns(seed_lines(seed), SEQ, SIGNERS, FEEDBACK)
    )

    report = run_import(engine, copy)

    assert report.rows == 11
    assert report.feedback_recorded == 0
    with transaction(engine) as session:
        proposals = session.exec(select(Proposal)).all()
        items = session.exec(select(FollowUpItem).order_by(FollowUpItem.position)).all()
    assert {p.signer_count for p in proposals} == {None}
    # Without 序号 an item's position is its place among the rows.
    assert [item.position for item in items] == list(range(1, 12))
    assert items[3].commitment == cell(seed, 9, COMMITMENT)
    assert row_counts(engine)["ProgressUpdate"] == 0


def test_extra_columns_are_ignored(engine: Engine, seed: Path, tmp_path: Path) -> None:
    lines = with_column(seed_lines(seed), CATEGORY + 1, "备注", "无")
    lines = with_column(lines, len(lines[HEADER_LINE - 1]) + 1, "联系人", "李四 13800000000")
    copy = write_text(tmp_path / "extra.txt", lines)

    run_import(engine, copy)
    again = run_import(engine, seed)

    assert not again.changed
    assert len(records(engine, YEAR)["items"]) == 11


# --- repairs -------------------------------------------------------------------------------


def test_swapped_number_and_representative_are_put_back_with_a_warning(
    engine: Engine, seed: Path
) -> None:
    report = run_import(engine, seed)

    assert report.warnings == [
        f"{seed}:{line}: 编号 and 领衔代表 were swapped ({name!r} / {number!r}); "
        f"read as 编号 {number!r}, 领衔代表 {name!r}"
        for line, (name, number) in SWAPPED.items()
    ]
    for name, number in SWAPPED.values():
        assert proposal(engine, number).lead_representative == name


def test_swapped_cells_read_from_the_file(seed: Path) -> None:
    # The constants above are the file's own cells, not a transcription that could drift.
    for line, (name, number) in SWAPPED.items():
        assert (cell(seed, line, NUMBER), cell(seed, line, REPRESENTATIVE)) == (name, number)


@pytest.mark.parametrize(
    ("number", "representative"),
    [("152", "边 恕"), ("199", "赵 海"), ("250", "梁 瑜"), ("289", "吴 际"), ("730", "张正义")],
)
def test_padded_names_are_stored_as_written(
    engine: Engine, seed: Path, number: str, representative: str
) -> None:
    run_import(engine, seed)

    assert proposal(engine, number).lead_representative == representative


def test_co_units_are_split_on_spaces(engine: Engine, seed: Path) -> None:
    run_import(engine, seed)

    assert item_units(engine, "730") == {
        "市民政局": Role.LEAD,
        "市发展改革委": Role.CO,
        "市卫生健康委": Role.CO,
        "市人力资源社会保障局": Role.CO,
    }
    assert item_units(engine, "250") == {"市民政局": Role.LEAD}


@pytest.mark.parametrize("separator", ["、", "，", ",", ";", "；", " ", "　", " 、 "])
def test_co_units_are_split_on_punctuation(
    engine: Engine, seed: Path, tmp_path: Path, separator: str
) -> None:
    co = separator.join(["市发展改革委", "市卫生健康委", "市人力资源社会保障局"])
    copy = edited(seed, tmp_path, {(6, CO): co})

    run_import(engine, copy)

    assert item_units(engine, "730") == {
        "市民政局": Role.LEAD,
        "市发展改革委": Role.CO,
        "市卫生健康委": Role.CO,
        "市人力资源社会保障局": Role.CO,
    }
    assert row_counts(engine)["Unit"] == 7


# --- re-importing --------------------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(engine: Engine, seed: Path) -> None:
    run_import(engine, seed)
    before = row_counts(engine)

    again = run_import(engine, seed)

    assert not again.changed
    assert again.rows == 11
    assert row_counts(engine) == before
    assert before["Event"] > 0


def test_corrected_title_updates_the_proposal_in_place(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    run_import(engine, seed)
    old = proposal(engine, "730")
    last = last_event_id(engine)
    counts = row_counts(engine)

    report = run_import(
        engine, edited(seed, tmp_path, {(6, TITLE): "关于完善全市街路标识牌的建议"})
    )

    assert report.changed
    assert (report.proposals_updated, report.proposals_created) == (1, 0)
    new = proposal(engine, "730")
    assert (new.id, new.title) == (old.id, "关于完善全市街路标识牌的建议")
    [event] = events_after(engine, last)
    assert (event.action, event.entity, event.entity_id) == ("proposal.update", "proposal", old.id)
    assert event.before == {"title": old.title}
    assert event.after == {"title": "关于完善全市街路标识牌的建议"}
    assert row_counts(engine) == counts | {"Event": counts["Event"] + 1}


def test_corrected_commitment_updates_the_item_in_place(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    run_import(engine, seed)
    old = cell(seed, 7, COMMITMENT)
    last = last_event_id(engine)
    counts = row_counts(engine)

    report = run_import(engine, edited(seed, tmp_path, {(7, COMMITMENT): "扩大购买服务覆盖范围。"}))

    assert (report.items_updated, report.items_created) == (1, 0)
    [event] = events_after(engine, last)
    assert (event.action, event.entity) == ("followupitem.update", "followupitem")
    assert event.before == {"commitment": old}
    assert event.after == {"commitment": "扩大购买服务覆盖范围。"}
    with transaction(engine) as session:
        item = session.get_one(FollowUpItem, event.entity_id)
        assert item.commitment == "扩大购买服务覆盖范围。"
        assert session.get_one(Proposal, item.proposal_id).number == "152"
    assert row_counts(engine) == counts | {"Event": counts["Event"] + 1}


def test_an_added_co_unit_is_assigned(engine: Engine, seed: Path, tmp_path: Path) -> None:
    run_import(engine, seed)
    last = last_event_id(engine)

    report = run_import(engine, edited(seed, tmp_path, {(11, CO): "市财政局"}))

    assert (report.assignments_changed, report.units_created) == (1, 0)
    assert item_units(engine, "250") == {"市民政局": Role.LEAD, "市财政局": Role.CO}
    [event] = events_after(engine, last)
    assert event.action == "assignment.create"
    assert event.before is None
    with transaction(engine) as session:
        finance = session.exec(select(Unit).where(Unit.name == "市财政局")).one()
    assert event.after is not None
    assert (event.after["unit_id"], event.after["role"]) == (finance.id, Role.CO)


def test_a_removed_co_unit_is_unassigned(engine: Engine, seed: Path, tmp_path: Path) -> None:
    run_import(engine, seed)
    last = last_event_id(engine)
    assignments = row_counts(engine)["Assignment"]

    report = run_import(engine, edited(seed, tmp_path, {(6, CO): "市发展改革委 市卫生健康委"}))

    assert report.assignments_changed == 1
    assert "市人力资源社会保障局" not in item_units(engine, "730")
    assert row_counts(engine)["Assignment"] == assignments - 1
    [event] = events_after(engine, last)
    assert event.action == "assignment.remove"
    assert event.after is None
    with transaction(engine) as session:
        hr = session.exec(select(Unit).where(Unit.name == "市人力资源社会保障局")).one()
    assert event.before is not None
    assert (event.before["unit_id"], event.before["role"]) == (hr.id, Role.CO)


def test_a_reimport_that_adds_rows_and_corrects_one_writes_only_the_difference(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    run_import(engine, seed, include_feedback=False)
    last = last_event_id(engine)
    title_152 = cell(seed, 7, TITLE)
    lines = seed_lines(seed)
    lines[DASHES_LINE - 1 : DASHES_LINE - 1] = [
        ["12", "政协提案", "999", "某 某", "2", "关于新提案的建议", "主办", "市新单位",
         "市财政局", "新事项一", ""],
        ["13", "政协提案", "152", "边 恕", "1", title_152, "主办", "市民政局", "",
         "152 的第二个事项", ""],
    ]  # fmt: skip
    lines[6 - 1][TITLE - 1] = "关于完善全市街路标识牌的建议"
    copy = write_text(tmp_path / "grown.txt", lines)

    report = run_import(engine, copy, include_feedback=False)

    assert (report.proposals_created, report.proposals_updated) == (1, 1)
    assert (report.items_created, report.items_updated) == (2, 0)
    assert (report.units_created, report.assignments_changed) == (1, 3)
    assert event_trail(engine, last) == [
        ("proposal.update", "730"),
        ("proposal.create", "999"),
        ("followupitem.create", "999"),
        ("unit.create", "市新单位"),
        ("assignment.create", ("999", "市财政局")),
        ("assignment.create", ("999", "市新单位")),
        ("followupitem.create", "152"),
        ("assignment.create", ("152", "市民政局")),
    ]
    stored = records(engine, YEAR)
    assert ("政协提案", "999", 1, 12, "新事项一", ItemStatus.FOLLOWING, None) in stored["items"]
    assert ("政协提案", "152", 2, 13, "152 的第二个事项", ItemStatus.FOLLOWING, None) in stored[
        "items"
    ]
    assert ("政协提案", "999", 1, "市新单位", Role.LEAD, AssignmentStatus.HANDLING, None) in stored[
        "assignments"
    ]
    assert proposal(engine, "730").title == "关于完善全市街路标识牌的建议"
    # And once more: nothing left to change, so nothing is written.
    counts = row_counts(engine)
    again = run_import(engine, copy, include_feedback=False)
    assert not again.changed
    assert row_counts(engine) == counts


def test_another_years_records_are_neither_matched_nor_changed(engine: Engine, seed: Path) -> None:
    run_import(engine, seed, year=YEAR - 1)  # resolved, with the same final reports
    earlier = records(engine, YEAR - 1)

    report = run_import(engine, seed)

    # A year of its own: new proposals and items, the same units, its own final reports.
    assert (report.proposals_created, report.items_created, report.units_created) == (11, 11, 0)
    assert report.feedback_recorded == 11
    assert records(engine, YEAR - 1) == earlier
    assert len(records(engine, YEAR)["updates"]) == 11
    assert not run_import(engine, seed).changed
    assert records(engine, YEAR - 1) == earlier


def test_imported_records_hold_what_their_models_constructor_gives(
    engine: Engine, seed: Path
) -> None:
    run_import(engine, seed, include_feedback=False)

    with transaction(engine) as session:
        for unit in session.exec(select(Unit)):
            assert unit.model_dump() == Unit(id=unit.id, name=unit.name).model_dump()
        for p in session.exec(select(Proposal)):
            made = Proposal(
                id=p.id,
                year=p.year,
                category=p.category,
                number=p.number,
                lead_representative=p.lead_representative,
                signer_count=p.signer_count,
                title=p.title,
                handling_type=p.handling_type,
            )
            assert p.model_dump() == made.model_dump()
        for item in session.exec(select(FollowUpItem)):
            made = FollowUpItem(
                id=item.id,
                proposal_id=item.proposal_id,
                ordinal=item.ordinal,
                position=item.position,
                commitment=item.commitment,
                status=ItemStatus.FOLLOWING,
                created_at=NOW,
            )
            assert item.model_dump() == made.model_dump()
        for a in session.exec(select(Assignment)):
            made = Assignment(
                id=a.id, item_id=a.item_id, unit_id=a.unit_id, role=a.role, status="handling"
            )
            assert a.model_dump() == made.model_dump()
        versions = {
            record.version
            for model in (Unit, FollowUpItem, Assignment)
            for record in session.exec(select(model))
        }
    assert versions == {1}


def test_a_corrected_reimport_bumps_the_version_of_what_it_changes(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    run_import(engine, seed, include_feedback=False)

    swapped = {(6, LEAD): "市卫生健康委", (6, CO): "市发展改革委 市民政局 市人力资源社会保障局"}
    copy = edited(seed, tmp_path, {(7, COMMITMENT): "扩大购买服务覆盖范围。", **swapped})
    report = run_import(engine, copy, include_feedback=False)

    with transaction(engine) as session:
        items = {
            number: version
            for number, version in session.exec(
                select(Proposal.number, FollowUpItem.version).join(
                    FollowUpItem, FollowUpItem.proposal_id == Proposal.id
                )
            )
        }
        roles = {
            (number, name): (role, version)
            for number, name, role, version in session.exec(
                select(Proposal.number, Unit.name, Assignment.role, Assignment.version)
                .join(FollowUpItem, FollowUpItem.proposal_id == Proposal.id)
                .join(Assignment, Assignment.item_id == FollowUpItem.id)
                .join(Unit, Unit.id == Assignment.unit_id)
            )
        }
    assert (report.items_updated, report.assignments_changed) == (1, 2)
    assert items == {number: 2 if number == "152" else 1 for number in SEED_NUMBERS}
    # On 730, 市卫生健康委 (a co unit) now leads and 市民政局 (the lead) co-handles.
    changed = {key: value for key, value in roles.items() if value[1] != 1}
    assert changed == {("730", "市卫生健康委"): (Role.LEAD, 2), ("730", "市民政局"): (Role.CO, 2)}


# --- the order of what is written ----------------------------------------------------------


def event_trail(engine: Engine, last_id: int = 0) -> list[tuple[str, object]]:
    """The events after ``last_id`` in id order, each as its action and what it is about, by
    number (proposal, item) and unit name rather than by id."""
    with transaction(engine) as session:
        units = {unit.id: unit.name for unit in session.exec(select(Unit))}
        numbers = {p.id: p.number for p in session.exec(select(Proposal))}
        items = {item.id: numbers[item.proposal_id] for item in session.exec(select(FollowUpItem))}
        assignments = {
            a.id: (items[a.item_id], units[a.unit_id]) for a in session.exec(select(Assignment))
        }
        events = session.exec(select(Event).where(Event.id > last_id).order_by(Event.id)).all()
    about = {"proposal": numbers, "followupitem": items, "unit": units, "assignment": assignments}
    return [(event.action, about[event.entity][event.entity_id]) for event in events]


def expected_trail(seed: Path, *, feedback: bool) -> list[tuple[str, object]]:
    """What importing the seed into an empty database records, row by row, in the order the
    changes happen: each row's records, then (with feedback) the lead unit's final report."""
    rows, _, _ = check_table(seed)
    trail: list[tuple[str, object]] = []
    seen: set[str] = set()
    for row in rows:
        names = list(dict.fromkeys([*row.co_units, row.lead_unit]))
        trail += [("proposal.create", row.number), ("followupitem.create", row.number)]
        trail += [("unit.create", name) for name in names if name not in seen]
        seen.update(names)
        trail += [("assignment.create", (row.number, name)) for name in names]
        if feedback:
            trail += [("update.final", row.number), ("item.status", row.number)]
            trail += [("assignment.status", (row.number, name)) for name in names]
    return trail


@pytest.mark.parametrize("chunk_rows", [importer.CHUNK_ROWS, 4, 1])
@pytest.mark.parametrize("feedback", [True, False], ids=["feedback", "no-feedback"])
def test_events_and_ids_follow_the_rows_whatever_the_chunk_size(
    engine: Engine, seed: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int, feedback: bool
) -> None:
    monkeypatch.setattr(importer, "CHUNK_ROWS", chunk_rows)

    report = run_import(engine, seed, include_feedback=feedback)

    assert event_trail(engine) == expected_trail(seed, feedback=feedback)
    assert report.feedback_recorded == (11 if feedback else 0)
    with transaction(engine) as session:
        by_id = session.exec(select(FollowUpItem.position).order_by(FollowUpItem.id)).all()
    assert by_id == list(range(1, 12))  # ids given in the table's order
    counts = row_counts(engine)
    assert not run_import(engine, seed, include_feedback=feedback).changed
    assert row_counts(engine) == counts


@pytest.mark.parametrize("chunk_rows", [importer.CHUNK_ROWS, 1])
def test_a_later_row_of_a_proposal_that_disagrees_updates_it_in_row_order(
    engine: Engine, seed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    # Made and changed in one chunk (not inserted yet), or changed after its chunk was written.
    monkeypatch.setattr(importer, "CHUNK_ROWS", chunk_rows)
    lines = seed_lines(seed)
    second = [*lines[7 - 1][: SIGNERS - 1], "2", *lines[7 - 1][SIGNERS:]]
    second[SEQ - 1], second[COMMITMENT - 1] = "12", "152 的第二个事项"
    lines.insert(DASHES_LINE - 1, second)

    report = run_import(engine, write_text(tmp_path / "two-rows.txt", lines))

    assert (report.proposals_created, report.proposals_updated) == (11, 1)
    assert proposal(engine, "152").signer_count == 2
    events = [e for e in events_after(engine, 0) if e.action.startswith("proposal.")]
    created = next(e for e in events if e.after and e.after["number"] == "152")
    [updated] = [e for e in events if e.action == "proposal.update"]
    assert created.after is not None and created.after["signer_count"] == 1
    assert (updated.entity_id, updated.before, updated.after) == (
        created.entity_id,
        {"signer_count": 1},
        {"signer_count": 2},
    )
    assert created.id < updated.id


def test_no_record_is_held_in_memory_while_rows_are_imported(
    engine: Engine, seed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK_ROWS", 4)
    alive: list[int] = []

    def count_records(done: int, total: int) -> None:
        kinds = (Proposal, FollowUpItem, Assignment, Unit, Event)
        alive.append(sum(isinstance(thing, kinds) for thing in gc.get_objects()))

    run_import(engine, seed, include_feedback=False, progress=count_records)

    assert alive == [0, 0, 0]  # after each chunk of 4, 4 and 3 rows


@pytest.mark.parametrize("feedback", [True, False], ids=["feedback", "no-feedback"])
def test_an_import_makes_no_reference_cycles(engine: Engine, seed: Path, feedback: bool) -> None:
    # The import pauses the cyclic garbage collector, which is free only while this holds:
    # whatever it leaves for the collector would pile up until the import ends.
    run_import(engine, seed, include_feedback=feedback, year=YEAR - 1)  # connect, warm caches
    gc.collect()

    run_import(engine, seed, include_feedback=feedback)

    assert gc.isenabled()
    assert gc.collect() == 0


def test_a_failed_import_leaves_the_garbage_collector_on(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    failed_import(engine, edited(seed, tmp_path, {(6, CATEGORY): "人大意见"}))

    assert gc.isenabled()


# --- the feedback column -------------------------------------------------------------------


def test_feedback_is_the_lead_units_final_report_and_closes_the_item(
    engine: Engine, seed: Path
) -> None:
    report = run_import(engine, seed)

    assert report.feedback_recorded == 11
    with transaction(engine) as session:
        lead = session.exec(select(Unit).where(Unit.name == "市民政局")).one()
        updates = session.exec(select(ProgressUpdate)).all()
        items = session.exec(select(FollowUpItem)).all()
        assignments = session.exec(select(Assignment)).all()
        first = session.exec(
            select(ProgressUpdate).join(FollowUpItem).join(Proposal).where(Proposal.number == "730")
        ).one()
    assert len(updates) == 11
    assert {(u.unit_id, u.kind, u.source, u.reported_on) for u in updates} == {
        (lead.id, UpdateKind.FINAL, UpdateSource.IMPORT, REPORTED_ON)
    }
    assert first.text == cell(seed, 6, FEEDBACK)
    # Imported under follow-up (跟踪落实), then resolved (已落实) by the lead's final feedback.
    assert {(item.status, item.closed_on) for item in items} == {(ItemStatus.RESOLVED, REPORTED_ON)}
    assert len(assignments) == 26
    assert {(a.status, a.closed_on) for a in assignments} == {
        (AssignmentStatus.CLOSED, REPORTED_ON)
    }


def test_reimporting_feedback_records_nothing_twice(engine: Engine, seed: Path) -> None:
    run_import(engine, seed)

    again = run_import(engine, seed, reported_on=date(2022, 12, 1))

    assert again.feedback_recorded == 0
    with transaction(engine) as session:
        dates = {u.reported_on for u in session.exec(select(ProgressUpdate))}
    assert row_counts(engine)["ProgressUpdate"] == 11
    assert dates == {REPORTED_ON}


def test_without_feedback_nothing_is_recorded_and_items_stay_open(
    engine: Engine, seed: Path
) -> None:
    report = run_import(engine, seed, include_feedback=False)

    assert report.feedback_recorded == 0
    assert row_counts(engine)["ProgressUpdate"] == 0
    with transaction(engine) as session:
        items = {(item.status, item.closed_on) for item in session.exec(select(FollowUpItem))}
        assignments = {(a.status, a.closed_on) for a in session.exec(select(Assignment))}
    # A published table lists items under follow-up: 跟踪落实, each unit 办理中.
    assert items == {(ItemStatus.FOLLOWING, None)}
    assert assignments == {(AssignmentStatus.HANDLING, None)}


# --- problems ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "column", "value", "reason"),
    [
        (6, CATEGORY, "人大意见", "类别: '人大意见' is neither 人大建议 nor 政协提案"),
        (13, SIGNERS, "三", "人数: '三' is not a whole number"),
        (19, LEAD, "", "主办单位: empty; this column is required"),
        (11, COMMITMENT, "", "跟踪落实事项: empty; this column is required"),
        (7, NUMBER, "#152?", "编号: '#152?' is not a proposal number"),
        (8, CATEGORY, "", "类别: empty; this column is required"),
    ],
    ids=["bad-category", "signer-count", "no-lead-unit", "no-commitment", "bad-number", "no-cat"],
)
def test_a_bad_cell_is_reported_by_file_line_and_column(
    engine: Engine, seed: Path, tmp_path: Path, line: int, column: int, value: str, reason: str
) -> None:
    copy = edited(seed, tmp_path, {(line, column): value})

    error = failed_import(engine, copy)

    expected = f"{copy}:{line}:{column}: {reason}"
    assert error.problems == [expected]
    assert str(error).splitlines() == [
        f"{copy}: 1 problem(s) found; nothing was imported "
        "(fix them, or pass --skip-invalid to import the valid rows)",
        f"  {expected}",
    ]
    assert set(row_counts(engine).values()) == {0}


def test_every_problem_is_listed_in_file_order(engine: Engine, seed: Path, tmp_path: Path) -> None:
    copy = edited(seed, tmp_path, {(19, SIGNERS): "x", (6, CATEGORY): "建议", (12, TITLE): ""})

    error = failed_import(engine, copy)

    assert error.problems == [
        f"{copy}:6:2: 类别: '建议' is neither 人大建议 nor 政协提案",
        f"{copy}:12:6: 建议提案题目: empty; this column is required",
        f"{copy}:19:5: 人数: 'x' is not a whole number",
    ]


def test_columns_are_counted_in_the_file_not_the_schema(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    lines = with_column(seed_lines(seed), 1, "备注", "")
    lines[16 - 1][CATEGORY] = "提案"  # 类别 is now the third column
    copy = write_text(tmp_path / "shifted.txt", lines)

    error = failed_import(engine, copy)

    assert error.problems == [f"{copy}:16:3: 类别: '提案' is neither 人大建议 nor 政协提案"]


def test_one_bad_row_means_nothing_is_written(engine: Engine, seed: Path, tmp_path: Path) -> None:
    run_import(engine, seed)
    counts = row_counts(engine)
    copy = edited(
        seed,
        tmp_path,
        {(6, TITLE): "改过的题目", (6, CO): "市财政局", (7, FEEDBACK): "新的反馈", (8, LEAD): ""},
    )

    failed_import(engine, copy)

    assert row_counts(engine) == counts
    assert proposal(engine, "730").title == cell(seed, 6, TITLE)
    assert "市财政局" not in item_units(engine, "730")


def test_skip_invalid_imports_the_valid_rows_and_lists_the_others(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    copy = edited(seed, tmp_path, {(6, CATEGORY): "人大意见", (13, SIGNERS): "三"})

    report = run_import(engine, copy, skip_invalid=True)

    assert report.skipped == [
        f"{copy}:6:2: 类别: '人大意见' is neither 人大建议 nor 政协提案",
        f"{copy}:13:5: 人数: '三' is not a whole number",
    ]
    assert report.rows == 9
    with transaction(engine) as session:
        numbers = {p.number for p in session.exec(select(Proposal))}
    assert numbers == SEED_NUMBERS - {"730", "289"}


def test_a_table_without_a_header_row_is_refused(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    lines = seed_lines(seed)
    del lines[HEADER_LINE - 1]
    copy = write_text(tmp_path / "headless.txt", lines)

    error = failed_import(engine, copy)

    assert str(error).startswith(f"{copy}: no header row found; expected a row naming at least ")
    for name in ("类别", "编号", "建议提案题目", "主办单位", "跟踪落实事项"):
        assert name in str(error)
    assert set(row_counts(engine).values()) == {0}


def test_an_undecodable_file_is_refused_at_its_line(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    data = seed.read_bytes()
    lines = data.split(b"\n")
    lines[8 - 1] = lines[8 - 1].replace("养老".encode(), b"\xff\xfe", 1)
    copy = tmp_path / "damaged.txt"
    copy.write_bytes(b"\n".join(lines))

    error = failed_import(engine, copy)

    assert str(error) == f"{copy}:8: cannot decode as UTF-8 or GB18030"
    assert set(row_counts(engine).values()) == {0}


def test_a_row_with_a_cell_missing_is_refused_rather_than_slid(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    lines = seed_lines(seed)
    row = next(index for index, cells in enumerate(lines) if cells[:1] == ["1"])
    del lines[row][7]  # the 主办单位 cell: every column after it would slide left
    before = row_counts(engine)

    error = failed_import(engine, write_text(tmp_path / "slid.txt", lines))

    assert error.problems == [
        f"{tmp_path / 'slid.txt'}:{row + 1}: the row has 10 cells but the header has 11: "
        "a cell is missing or a tab too many, and the columns would slide"
    ]
    assert row_counts(engine) == before


def test_a_lead_unit_cell_naming_several_units_is_refused(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    lines = seed_lines(seed)
    row = next(index for index, cells in enumerate(lines) if cells[:1] == ["1"])
    lines[row][7] = "市民政局 市卫生健康委"

    error = failed_import(engine, write_text(tmp_path / "two.txt", lines))

    assert error.problems == [
        f"{tmp_path / 'two.txt'}:{row + 1}:8: 主办单位: '市民政局 市卫生健康委' names several "
        "units; an item has one lead unit (co-handling units go in 协办单位)"
    ]
