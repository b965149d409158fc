"""Compiling 落实情况反馈 and the year's summary table, as plain functions (no Prefect).

The key test is the round trip: the real 2022 table goes in through the importer and comes back
out of ``summary_rows`` + ``write_summary`` cell for cell, with only the swapped 编号/领衔代表 put
right. The expected rows come from a parse of the seed written here, not from the importer.
"""

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from tracking.compile import summary_rows, summary_title
from tracking.db import transaction
from tracking.errors import InputError
from tracking.feedback import NO_FEEDBACK, compile_feedback_text
from tracking.importer import check_table, import_table
from tracking.items import ItemRef, NewItem, assign_item, find_item, find_unit, set_final_text
from tracking.models import (
    Assignment,
    AssignmentStatus,
    Event,
    FollowUpItem,
    ItemStatus,
    ProgressUpdate,
    Unit,
    UpdateKind,
    UpdateSource,
)
from tracking.summary_writer import SUMMARY_HEADER, write_summary
from tracking.table_reader import read_table
from tracking.updates import record_update

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 11, 2, 9, 30, tzinfo=ZONE)
TITLE = "市民政局2022年度跟踪办理建议提案落实情况汇总表"
LEAD = "市民政局"
HEALTH = "市卫生健康委"
REFORM = "市发展改革委"


# --- the seed, read independently of the importer ---------------------------------------------


def seed_lines(seed: Path) -> list[str]:
    return seed.read_text(encoding="utf-8").split("\n")


def expected_rows(seed: Path) -> list[list[str]]:
    """The seed's data rows as published, with 编号 and 领衔代表 swapped back where needed."""
    rows = []
    for line in seed_lines(seed):
        cells = line.split("\t")
        if len(cells) == 1 or cells[0] == "序号" or set(line) <= set("-\t"):
            continue  # blank, title, header, the closing rule of dashes
        assert len(cells) == len(SUMMARY_HEADER), line
        if not cells[2].isdigit():
            cells[2], cells[3] = cells[3], cells[2]
        rows.append(cells)
    return rows


def test_the_independent_parse_sees_the_published_table(seed: Path) -> None:
    rows = expected_rows(seed)
    assert [row[0] for row in rows] == [str(n) for n in range(1, 12)]
    assert rows[3][2:4] == ["217", "陈美霖"]  # swapped in the file
    assert rows[0][2:4] == ["730", "张正义"]  # not swapped
    assert rows[1][3] == "边 恕"
    assert TITLE in seed_lines(seed)


# --- compile_feedback_text: the precedence rules ------------------------------------------------


def report(
    text: str,
    kind: UpdateKind,
    reported_on: date,
    *,
    id: int,
    recorded_at: datetime = NOW,
) -> ProgressUpdate:
    return ProgressUpdate(
        id=id,
        item_id=1,
        unit_id=1,
        text=text,
        kind=kind,
        reported_on=reported_on,
        source=UpdateSource.CLI,
        recorded_at=recorded_at,
    )


PROGRESS, FINAL = UpdateKind.PROGRESS, UpdateKind.FINAL


def test_the_coordinators_text_wins_over_every_report() -> None:
    updates = [
        (LEAD, report("主办最终反馈", FINAL, date(2022, 10, 1), id=1)),
        (HEALTH, report("协办进展", PROGRESS, date(2022, 10, 2), id=2)),
    ]
    assert compile_feedback_text(final_text="协调人定稿", lead_unit=LEAD, updates=updates) == (
        "协调人定稿"
    )


def test_the_leads_latest_final_by_report_date_wins() -> None:
    updates = [
        # Recorded last and with the highest id, but reported earliest: not the latest.
        (LEAD, report("九月的最终反馈", FINAL, date(2022, 9, 1), id=9, recorded_at=NOW)),
        (
            LEAD,
            report(
                "十月的最终反馈",
                FINAL,
                date(2022, 10, 1),
                id=2,
                recorded_at=NOW - timedelta(days=30),
            ),
        ),
        # Later input of other kinds or from other units does not displace the lead's final.
        (LEAD, report("主办后来的进展", PROGRESS, date(2022, 10, 20), id=3)),
        (HEALTH, report("协办最终反馈", FINAL, date(2022, 10, 25), id=4)),
    ]
    for order in (updates, list(reversed(updates))):
        assert compile_feedback_text(final_text=None, lead_unit=LEAD, updates=order) == (
            "十月的最终反馈"
        )


def test_the_same_report_date_is_decided_by_when_it_was_recorded() -> None:
    day = date(2022, 10, 1)
    updates = [
        (LEAD, report("后录入", FINAL, day, id=1, recorded_at=NOW)),
        (LEAD, report("先录入", FINAL, day, id=2, recorded_at=NOW - timedelta(hours=1))),
    ]
    assert compile_feedback_text(final_text=None, lead_unit=LEAD, updates=updates) == "后录入"


def test_without_a_lead_final_each_units_latest_input_is_attributed_lead_first() -> None:
    updates = [
        (REFORM, report("发改委进展", PROGRESS, date(2022, 7, 1), id=1)),
        (HEALTH, report("卫健委早先的进展", PROGRESS, date(2022, 5, 1), id=2)),
        (HEALTH, report("卫健委完成", FINAL, date(2022, 8, 15), id=3)),
        (LEAD, report("主办进展一", PROGRESS, date(2022, 6, 1), id=4)),
        (LEAD, report("主办进展二", PROGRESS, date(2022, 9, 30), id=5)),
    ]
    expected = (
        "【市民政局·进展·2022-09-30】主办进展二\n"
        "【市卫生健康委·最终反馈·2022-08-15】卫健委完成\n"
        "【市发展改革委·进展·2022-07-01】发改委进展"
    )
    for order in (updates, list(reversed(updates))):
        assert compile_feedback_text(final_text=None, lead_unit=LEAD, updates=order) == expected


def test_co_units_alone_are_attributed_when_the_lead_has_not_reported() -> None:
    updates = [(HEALTH, report("卫健委进展", PROGRESS, date(2022, 6, 1), id=1))]
    assert compile_feedback_text(final_text=None, lead_unit=LEAD, updates=updates) == (
        "【市卫生健康委·进展·2022-06-01】卫健委进展"
    )


@pytest.mark.parametrize("final_text", [None, ""])
def test_nothing_reported_is_no_feedback(final_text: str | None) -> None:
    assert NO_FEEDBACK == "未反馈"
    assert compile_feedback_text(final_text=final_text, lead_unit=LEAD, updates=[]) == "未反馈"


# --- the round trip: seed in, summary table out -------------------------------------------------


def import_seed(engine: Engine, seed: Path) -> None:
    report = import_table(
        engine, seed, year=2022, reported_on=date(2022, 11, 1), now=NOW, include_feedback=True
    )
    assert report.rows == 11 and report.feedback_recorded == 11


def xlsx_text(value: object) -> str:
    return "" if value is None else str(value)


def test_the_seed_comes_back_cell_for_cell(engine: Engine, seed: Path, tmp_path: Path) -> None:
    import_seed(engine, seed)
    with transaction(engine) as session:
        rows = summary_rows(session, year=2022)
    title = summary_title(rows, year=2022)
    paths = write_summary(rows, tmp_path / "out", year=2022, title=title)
    expected = expected_rows(seed)

    assert title == TITLE
    assert [list(row.cells()) for row in rows] == expected

    # The TSV, read back by the same reader the importer uses.
    table = read_table(paths["tsv"])
    assert table.encoding == "utf-8"
    assert [list(row.cells) for row in table.rows] == [
        [TITLE],
        list(SUMMARY_HEADER),
        *expected,
    ]
    assert paths["tsv"].read_text(encoding="utf-8").startswith(f"{TITLE}\n\n序号\t类别\t编号\t")
    checked, problems, warnings = check_table(paths["tsv"])
    assert problems == [] and warnings == []  # nothing left to repair: the swaps are undone
    assert [(row.number, row.lead_representative) for row in checked] == [
        (row[2], row[3]) for row in expected
    ]

    # The XLSX, read back with openpyxl.
    workbook = load_workbook(paths["xlsx"])
    try:
        sheet = workbook.active
        assert sheet.title == "2022年度"
        assert sheet["A1"].value == TITLE
        assert [cell.value for cell in sheet[2]] == list(SUMMARY_HEADER)
        data = [[xlsx_text(cell.value) for cell in row] for row in sheet.iter_rows(min_row=3)]
        assert data == expected
        # 编号 stays text, 序号 and 人数 stay numbers.
        assert sheet["C3"].value == "730" and sheet["C3"].data_type == "s"
        assert sheet["A3"].value == 1 and sheet["E3"].value == 1
    finally:
        workbook.close()


def test_the_written_table_imports_as_unchanged(engine: Engine, seed: Path, tmp_path: Path) -> None:
    """Our own output is a table units publish: importing it back changes nothing."""
    import_seed(engine, seed)
    with transaction(engine) as session:
        rows = summary_rows(session, year=2022)
    paths = write_summary(rows, tmp_path, year=2022, title=summary_title(rows, year=2022))
    for kind in ("tsv", "xlsx"):
        again = import_table(engine, paths[kind], year=2022, reported_on=date(2022, 12, 1), now=NOW)
        assert again.rows == 11
        assert not again.changed, kind
        assert again.warnings == []


def test_the_title_is_named_after_the_unit_that_leads_most_items(
    engine: Engine, seed: Path
) -> None:
    import_seed(engine, seed)
    with transaction(engine) as session:
        rows = summary_rows(session, year=2022)
        assert summary_rows(session, year=2021) == []
    assert summary_title(rows, year=2022) == "市民政局2022年度跟踪办理建议提案落实情况汇总表"
    assert summary_title([], year=2023) == "2023年度跟踪办理建议提案落实情况汇总表"


# --- the coordinator's own text -----------------------------------------------------------------


def item_for(session: Session, number: str) -> FollowUpItem:
    return find_item(session, ItemRef(number=number, year=2022))


def feedback_of(engine: Engine, number: str) -> str:
    with transaction(engine) as session:
        return next(
            row.feedback for row in summary_rows(session, year=2022) if row.number == number
        )


def test_a_manual_override_wins_is_audited_and_can_be_cleared(engine: Engine, seed: Path) -> None:
    import_seed(engine, seed)
    published = expected_rows(seed)[0][10]
    assert feedback_of(engine, "730") == published

    later = NOW + timedelta(days=1)
    with transaction(engine) as session:
        set_final_text(
            session,
            item_for(session, "730"),
            "  截至年底，街路牌电子档案全部录入。  ",
            now=later,
            actor="coordinator",
            reason="压缩篇幅",
        )
    assert feedback_of(engine, "730") == "截至年底，街路牌电子档案全部录入。"
    assert feedback_of(engine, "152") == expected_rows(seed)[1][10]  # other items untouched

    with transaction(engine) as session:
        set_final_text(
            session, item_for(session, "730"), None, now=later, actor="coordinator", reason="撤回"
        )
    assert feedback_of(engine, "730") == published

    with transaction(engine) as session:
        item_id = item_for(session, "730").id
        events = session.exec(
            select(Event)
            .where(Event.action == "followupitem.final_text", Event.entity_id == item_id)
            .order_by(Event.id)
        ).all()
    assert [(e.entity, e.actor, e.reason) for e in events] == [
        ("followupitem", "coordinator", "压缩篇幅"),
        ("followupitem", "coordinator", "撤回"),
    ]
    assert events[0].before == {"final_text": None}
    assert events[0].after == {"final_text": "截至年底，街路牌电子档案全部录入。"}
    assert events[1].before == {"final_text": "截至年底，街路牌电子档案全部录入。"}
    assert events[1].after == {"final_text": None}


def test_a_blank_override_is_refused_not_stored(engine: Engine, seed: Path) -> None:
    import_seed(engine, seed)
    with transaction(engine) as session:
        set_final_text(
            session, item_for(session, "730"), "定稿", now=NOW, actor="coordinator", reason=""
        )
    with (
        pytest.raises(InputError, match="text is empty; use --clear"),
        transaction(engine) as session,
    ):
        set_final_text(
            session, item_for(session, "730"), " \u3000 ", now=NOW, actor="coordinator", reason=""
        )
    assert feedback_of(engine, "730") == "定稿"
    with transaction(engine) as session:
        events = session.exec(select(Event).where(Event.action == "followupitem.final_text"))
        assert len(events.all()) == 1


# --- items added through the year -------------------------------------------------------------


def assignment_statuses(session: Session, item_id: int | None) -> dict[str, str]:
    """Each unit's assignment status on the item, by unit name."""
    rows = session.exec(
        select(Unit.name, Assignment.status)
        .join(Assignment, Assignment.unit_id == Unit.id)
        .where(Assignment.item_id == item_id)
    )
    return dict(rows.all())


def test_co_units_inputs_are_attributed_and_silent_items_are_unreported(engine: Engine) -> None:
    with transaction(engine) as session:
        reported = assign_item(
            session,
            NewItem(
                create_units=True,
                year=2022,
                category="人大建议",
                number="0800",
                commitment="年内建成10个社区食堂。",
                lead_unit=LEAD,
                co_units=(HEALTH, REFORM),
                title="关于发展社区助餐的建议",
                lead_representative="李 明",
                signer_count=12,
            ),
            now=NOW,
            actor="test",
        )
        silent = assign_item(
            session,
            NewItem(
                create_units=True,
                year=2022,
                category="政协提案",
                number="0801",
                commitment="出台养老护理员补贴办法。",
                lead_unit=LEAD,
                title="关于稳定养老护理队伍的提案",
            ),
            now=NOW,
            actor="test",
        )
        assign_item(  # another year: not in 2022's table
            session,
            NewItem(
                create_units=True,
                year=2023,
                category="人大建议",
                number="0800",
                commitment="下一年的事项。",
                lead_unit=LEAD,
                title="关于发展社区助餐的建议",
            ),
            now=NOW,
            actor="test",
        )
        for unit, text, kind, day in [
            (HEALTH, "已完成食品安全培训。", PROGRESS, date(2022, 5, 10)),
            (HEALTH, "卫健委部分已办结。", FINAL, date(2022, 7, 1)),
            (REFORM, "已列入年度投资计划。", PROGRESS, date(2022, 6, 20)),
            (LEAD, "已建成6个。", PROGRESS, date(2022, 6, 30)),
        ]:
            record_update(
                session,
                item=reported,
                unit=find_unit(session, unit),
                text=text,
                kind=kind,
                reported_on=day,
                source=UpdateSource.CLI,
                reported_by="test",
                now=NOW,
            )
        reported_id, silent_id = reported.id, silent.id

    with transaction(engine) as session:
        rows = summary_rows(session, year=2022)
        # The lead's first report started the handling; the co unit's final report is only its
        # written opinion (已提交意见) and resolves nothing. Nobody reported on the silent item.
        assert session.get(FollowUpItem, reported_id).status == ItemStatus.HANDLING
        assert session.get(FollowUpItem, silent_id).status == ItemStatus.ASSIGNED
        assert assignment_statuses(session, reported_id) == {
            LEAD: AssignmentStatus.HANDLING,
            HEALTH: AssignmentStatus.REPORTED,
            REFORM: AssignmentStatus.HANDLING,
        }
        assert assignment_statuses(session, silent_id) == {LEAD: AssignmentStatus.ASSIGNED}
    assert [row.cells()[:10] for row in rows] == [
        (
            "1",
            "人大建议",
            "0800",
            "李 明",
            "12",
            "关于发展社区助餐的建议",
            "主办",
            LEAD,
            f"{HEALTH} {REFORM}",
            "年内建成10个社区食堂。",
        ),
        (
            "2",
            "政协提案",
            "0801",
            "",
            "",
            "关于稳定养老护理队伍的提案",
            "主办",
            LEAD,
            "",
            "出台养老护理员补贴办法。",
        ),
    ]
    assert rows[0].feedback == (
        "【市民政局·进展·2022-06-30】已建成6个。\n"
        "【市卫生健康委·最终反馈·2022-07-01】卫健委部分已办结。\n"
        "【市发展改革委·进展·2022-06-20】已列入年度投资计划。"
    )
    assert rows[1].feedback == "未反馈"

    # The lead's final feedback then replaces the attributed inputs and resolves the item.
    with transaction(engine) as session:
        item = session.get(FollowUpItem, reported_id)
        record_update(
            session,
            item=item,
            unit=find_unit(session, LEAD),
            text="全年建成10个社区食堂，任务完成。",
            kind=FINAL,
            reported_on=date(2022, 11, 30),
            source=UpdateSource.CLI,
            reported_by="test",
            now=NOW,
        )
        rows = summary_rows(session, year=2022)
        assert (item.status, item.closed_on) == (ItemStatus.RESOLVED, date(2022, 11, 30))
        assert set(assignment_statuses(session, reported_id).values()) == {AssignmentStatus.CLOSED}
    assert rows[0].feedback == "全年建成10个社区食堂，任务完成。"
    assert rows[1].feedback == "未反馈"


def test_reimporting_an_interim_summary_leaves_open_items_open(
    engine: Engine, tmp_path: Path
) -> None:
    with transaction(engine) as session:
        for number in ("1", "2"):
            item = assign_item(
                session,
                NewItem(
                    create_units=True,
                    year=2022,
                    category="人大建议",
                    number=number,
                    commitment=f"事项{number}",
                    lead_unit=LEAD,
                    co_units=(HEALTH,),
                    title=f"建议{number}",
                ),
                now=NOW,
                actor="test",
            )
        record_update(
            session,
            item=item,
            unit=find_unit(session, HEALTH),
            text="卫健委进展",
            kind=PROGRESS,
            reported_on=date(2022, 5, 1),
            source=UpdateSource.CLI,
            reported_by="test",
            now=NOW,
        )
        rows = summary_rows(session, year=2022)
    assert [row.feedback for row in rows] == [
        "未反馈",
        "【市卫生健康委·进展·2022-05-01】卫健委进展",
    ]
    paths = write_summary(rows, tmp_path, year=2022, title=summary_title(rows, year=2022))

    import_table(engine, paths["tsv"], year=2022, reported_on=date(2022, 6, 1), now=NOW)

    with transaction(engine) as session:
        items = [(item.status, item.closed_on) for item in session.exec(select(FollowUpItem))]
    # Still 待签收 as assigned: the interim texts were not taken for the lead's final feedback.
    assert items == [(ItemStatus.ASSIGNED, None), (ItemStatus.ASSIGNED, None)]
