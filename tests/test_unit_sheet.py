"""The per-unit return sheet (落实情况填报表): its layout, and the digest that carries it."""

import io
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlmodel import select

from flows import delivery
from flows.app import App
from notifications.mail import MemoryBackend
from tracking.chase import LIAISON, Entry
from tracking.db import transaction
from tracking.importer import import_table
from tracking.items import find_unit
from tracking.ladder import Stage
from tracking.models import FollowUpItem, Notification, Role
from tracking.obligations import Obligation
from tracking.unit_sheet import (
    HEADERS,
    IDENTITY_SHEET,
    MAX_TEXT_CHARS,
    STATUS_CHOICES,
    SheetItem,
    owed_items,
    sheet_filename,
    sheet_items,
    sheet_title,
    unit_sheet_bytes,
    write_unit_sheet,
)
from tracking.units import load_units, read_units_file

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZONE)
JUNE = date(2022, 6, 15)
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"
SEED_NUMBERS = ["730", "152", "199", "217", "250", "271", "289", "321", "379", "445", "451"]
HEALTH_NUMBERS = ["730", "152", "199", "289"]  # 市卫生健康委 co-handles these
FIRST_DATA_ROW = 4


@pytest.fixture
def app(make_app, seed: Path) -> App:
    app = make_app(mail=MemoryBackend())
    import_table(app.engine, seed, year=2022, reported_on=JUNE, now=NOW, include_feedback=False)
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")
    return app


def unit_sheet(app: App, unit_name: str, path: Path) -> Path:
    with transaction(app.engine) as session:
        unit = find_unit(session, unit_name)
        items = owed_items(
            session,
            unit_id=unit.id,  # type: ignore[arg-type]
            as_of=JUNE,
            policy=app.policy,
            calendar=app.calendar,
            interval_days=app.settings.report_interval_days,
        )
    return write_unit_sheet(path, items, unit_id=unit.id, unit_name=unit.name, as_of=JUNE)  # type: ignore[arg-type]


def data_rows(sheet) -> list[tuple]:  # type: ignore[no-untyped-def]
    return list(sheet.iter_rows(min_row=FIRST_DATA_ROW, values_only=True))


def test_the_sheet_lists_the_units_items_with_empty_columns_to_fill(
    app: App, tmp_path: Path
) -> None:
    workbook = openpyxl.load_workbook(unit_sheet(app, "市民政局", tmp_path / "mzj.xlsx"))
    sheet = workbook.worksheets[0]

    assert sheet.title == "落实情况填报表"
    assert sheet["A1"].value == "市民政局 建议提案落实情况填报表（截至2022年6月15日）"
    assert sheet["A2"].value.startswith("填写说明：")
    assert [cell.value for cell in sheet[3]] == list(HEADERS)
    assert HEADERS == (
        "序号",
        "类别",
        "编号",
        "案由",
        "跟踪落实事项",
        "承办方式",
        "需办理",
        "办理时限",
        "落实情况",
        "办理状态",
        "事项编号",
    )
    rows = data_rows(sheet)
    assert [row[0] for row in rows] == list(range(1, 12))
    assert [row[2] for row in rows] == SEED_NUMBERS
    first = rows[0]
    assert first[1:8] == (
        "人大建议",
        "730",
        "关于完善街路标识牌的建议",
        "完成全市街路牌电子化档案信息录入工作。",
        "主办",
        "报送落实进展；年终回头看",
        datetime(2022, 2, 7),  # nothing reported since the year began: overdue
    )
    assert {row[8] for row in rows} == {None} and {row[9] for row in rows} == {None}
    with transaction(app.engine) as session:
        ids = session.exec(select(FollowUpItem.id).order_by(FollowUpItem.position)).all()
    assert [row[10] for row in rows] == ids  # the hidden 事项编号
    assert sheet.column_dimensions["K"].hidden
    assert sheet["C4"].number_format == "@" and sheet["I4"].number_format == "@"


def test_the_sheet_names_its_unit_and_date_on_a_very_hidden_sheet(app: App, tmp_path: Path) -> None:
    workbook = openpyxl.load_workbook(unit_sheet(app, "市卫生健康委", tmp_path / "wjw.xlsx"))
    identity = workbook[IDENTITY_SHEET]
    with transaction(app.engine) as session:
        unit_id = find_unit(session, "市卫生健康委").id

    assert identity.sheet_state == "veryHidden" and identity.protection.sheet
    assert [tuple(row) for row in identity.iter_rows(values_only=True)] == [
        ("duban-unit-sheet", 1),
        ("unit_id", unit_id),
        ("unit", "市卫生健康委"),
        ("as_of", "2022-06-15"),
    ]
    rows = data_rows(workbook.worksheets[0])
    assert [row[2] for row in rows] == HEALTH_NUMBERS
    assert {row[5] for row in rows} == {"协办"}


def test_only_the_columns_to_fill_are_unlocked_and_the_status_is_a_drop_down(
    app: App, tmp_path: Path
) -> None:
    sheet = openpyxl.load_workbook(unit_sheet(app, "市民政局", tmp_path / "mzj.xlsx")).worksheets[0]

    assert sheet.protection.sheet and sheet.protection.password is None
    assert not sheet.protection.formatRows  # rows can still grow to fit long text
    for row in sheet.iter_rows(min_row=FIRST_DATA_ROW):
        unlocked = {cell.column_letter for cell in row if not cell.protection.locked}
        assert unlocked == {"I", "J"}
    assert all(cell.protection.locked for cell in sheet[3])
    validations = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    assert set(validations) == {"J4:J14", "I4:I14"}
    status, text = validations["J4:J14"], validations["I4:I14"]
    assert status.type == "list" and status.formula1 == '"' + ",".join(STATUS_CHOICES) + '"'
    assert status.showErrorMessage and not status.showDropDown  # (False shows the arrow)
    assert STATUS_CHOICES == ("推进中", "已完成", "未能落实")
    assert (text.type, text.operator, text.formula1) == (
        "textLength",
        "lessThanOrEqual",
        str(MAX_TEXT_CHARS),
    )
    assert sheet.freeze_panes == "A4"


def test_the_sheet_prints_on_landscape_a4_with_the_header_on_every_page(tmp_path: Path) -> None:
    data = unit_sheet_bytes([], unit_id=1, unit_name="市民政局", as_of=JUNE)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]

    assert sheet.page_setup.orientation == "landscape"
    assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth == 1
    assert sheet.print_title_rows == "$3:$3"
    assert data_rows(sheet) == []  # nothing owed: a header and no rows


def test_text_that_looks_like_a_formula_is_written_as_text(tmp_path: Path) -> None:
    item = SheetItem(
        item_id=7,
        category="政协提案",
        number="=1+1",
        title='=HYPERLINK("http://example.org","点此")',
        commitment="完成\x0b任务",  # a control character pasted from Word
        role=Role.CO,
        owed=("向主办单位提交协办意见",),
        due=None,
    )
    path = write_unit_sheet(
        tmp_path / "a" / "s.xlsx", [item], unit_id=3, unit_name="=A1", as_of=JUNE
    )
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.worksheets[0]

    assert (sheet["C4"].value, sheet["C4"].data_type) == ("=1+1", "s")
    assert sheet["D4"].data_type == "s" and sheet["D4"].value.startswith("=HYPERLINK")
    assert sheet["E4"].value == "完成任务"
    assert workbook[IDENTITY_SHEET]["B3"].data_type == "s"
    assert list(tmp_path.joinpath("a").iterdir()) == [path]  # no temporary file left


def test_a_digests_entries_become_one_row_per_item() -> None:
    def entry(obligation: Obligation, due: date) -> Entry:
        return Entry(
            assignment_id=1,
            unit_id=1,
            unit_name="市民政局",
            item_id=12,
            obligation=obligation,
            due=due,
            stage=Stage("due", due, 0),
            role=Role.LEAD,
            category="人大建议",
            number="730",
            title="关于完善街路标识牌的建议",
            lead_representative="张正义",
            commitment="完成录入",
            lead_unit="市民政局",
            co_units=(),
            last_reported_on=None,
            overdue_workdays=0,
            days_left=0,
        )

    rows = sheet_items(
        [entry(Obligation.PROGRESS, date(2022, 6, 20)), entry(Obligation.SECOND_REPLY, JUNE)]
    )

    assert rows == [
        SheetItem(
            item_id=12,
            category="人大建议",
            number="730",
            title="关于完善街路标识牌的建议",
            commitment="完成录入",
            role=Role.LEAD,
            owed=("报送落实进展", "再次答复"),
            due=JUNE,
        )
    ]


def test_names_for_the_title_and_the_mailed_file() -> None:
    assert sheet_title("市民政局", JUNE) == "市民政局 建议提案落实情况填报表（截至2022年6月15日）"
    assert sheet_filename("市民政局", JUNE) == "市民政局-落实情况填报表-20220615.xlsx"
    assert sheet_filename('市/民:政"局', JUNE) == "市_民_政_局-落实情况填报表-20220615.xlsx"


# --- the digest carries it --------------------------------------------------------------------


def chase(app: App, now: datetime = NOW) -> list[delivery.DeliveryOutcome]:
    plan = delivery.plan(app, JUNE, now)
    delivery.draft_digests(app, plan, now=now)
    return delivery.deliver_each(app, delivery.pending_ids(app), now)


def test_each_liaisons_digest_attaches_its_units_sheet(app: App) -> None:
    chase(app)

    with transaction(app.engine) as session:
        mzj = find_unit(session, "市民政局")
        notes = {n.unit_id: n for n in session.exec(select(Notification))}
    folder = app.settings.state_dir.resolve() / "sheets" / f"digest-{mzj.id}-2022-06-15"
    path = folder / "市民政局-落实情况填报表-20220615.xlsx"
    assert notes[mzj.id].attachments == [str(path)]
    assert all(len(n.attachments or []) == 1 for n in notes.values())
    assert list(folder.iterdir()) == [path]  # no draft left beside it

    outbox = app.mail.outbox  # type: ignore[attr-defined]
    message = next(m for m in outbox if m["To"] == "mzj-duban@example.org")
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "市民政局-落实情况填报表-20220615.xlsx"
    assert attachment.get_content_type() == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert attachment.get_content() == path.read_bytes()
    sheet = openpyxl.load_workbook(io.BytesIO(attachment.get_content())).worksheets[0]
    assert [row[2] for row in data_rows(sheet)] == SEED_NUMBERS
    sentence = "也可填写附件中的《落实情况填报表》后回复本邮件或在线上传。"
    assert sentence in message.get_body(("plain",)).get_content()
    assert sentence in message.get_body(("html",)).get_content()


def test_a_digest_already_recorded_keeps_the_sheet_it_was_recorded_with(app: App) -> None:
    plan = delivery.plan(app, JUNE, NOW)
    delivery.draft_digests(app, plan, now=NOW)
    with transaction(app.engine) as session:
        notes = session.exec(select(Notification)).all()
    paths = [Path(note.attachments[0]) for note in notes]  # type: ignore[index]
    before = {path: path.read_bytes() for path in paths}

    # An overlapping run drafting the same digests with other items: the ledger has them
    # already, so nothing is recorded and the sheets to be sent stay as they were.
    plan.digests = [replace(d, entries=d.entries[:1]) for d in plan.digests]
    assert delivery.draft_digests(app, plan, now=NOW) == 0
    assert {path: path.read_bytes() for path in paths} == before
    assert all([p.name for p in path.parent.iterdir()] == [path.name] for path in paths)


def test_a_sheet_that_cannot_be_written_does_not_hold_the_reminder_back(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    app.settings.state_dir.mkdir(parents=True, exist_ok=True)
    (app.settings.state_dir / "sheets").write_text("a file where the folder should be")

    outcomes = chase(app)

    assert [o.status for o in outcomes] == ["sent"] * 7
    outbox = app.mail.outbox  # type: ignore[attr-defined]
    assert all(not list(m.iter_attachments()) for m in outbox)
    assert all("落实情况填报表" not in m.get_body(("plain",)).get_content() for m in outbox)
    assert caplog.text.count("sent without its sheet: cannot write") == 7


def test_no_sheet_when_the_setting_is_off(make_app, seed: Path) -> None:
    app = make_app(mail=MemoryBackend(), attach_unit_sheet=False)
    import_table(app.engine, seed, year=2022, reported_on=JUNE, now=NOW, include_feedback=False)
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")

    chase(app)

    outbox = app.mail.outbox  # type: ignore[attr-defined]
    assert len(outbox) == 7
    assert all(not list(m.iter_attachments()) for m in outbox)
    assert all("落实情况填报表" not in m.get_body(("plain",)).get_content() for m in outbox)
    assert not (app.settings.state_dir / "sheets").exists()


def test_only_liaisons_get_a_sheet(app: App) -> None:
    plan = delivery.plan(app, JUNE, NOW)
    head = plan.digests[0]
    plan.digests = [
        type(head)(
            audience="head",
            unit_id=head.unit_id,
            unit_name=head.unit_name,
            recipients=("head@example.org",),
            entries=head.entries,
            key=f"digest-head:{head.unit_id}:2022-06-15",
        )
    ]
    assert plan.digests[0].audience != LIAISON

    delivery.draft_digests(app, plan, now=NOW)

    with transaction(app.engine) as session:
        [note] = session.exec(select(Notification)).all()
    assert note.attachments == [] and "落实情况填报表" not in note.body_text


def test_every_data_cell_is_bordered_wrapped_and_aligned_by_its_column(
    app: App, tmp_path: Path
) -> None:
    sheet = openpyxl.load_workbook(unit_sheet(app, "市民政局", tmp_path / "mzj.xlsx")).worksheets[0]
    centred = {"A", "B", "C", "F", "H", "J"}  # 序号 类别 编号 承办方式 办理时限 办理状态
    for row in sheet.iter_rows(min_row=FIRST_DATA_ROW):
        for cell in row:
            where = cell.coordinate
            assert {cell.border.left.style, cell.border.right.style} == {"thin"}, where
            assert {cell.border.top.style, cell.border.bottom.style} == {"thin"}, where
            assert cell.alignment.wrap_text and cell.alignment.vertical == "top", where
            expected = "center" if cell.column_letter in centred else "left"
            assert cell.alignment.horizontal == expected, where
            filled = cell.fill.fgColor.rgb if cell.fill.fill_type == "solid" else None
            assert filled == ("00FFF2CC" if cell.column_letter in {"I", "J"} else None), where
            assert (cell.font.name, cell.font.sz, cell.font.b) == ("Calibri", 11, False), where
    for cell in sheet[3]:  # the header
        assert cell.font.b and cell.alignment.horizontal == "center", cell.coordinate
        assert cell.border.bottom.style == "thin", cell.coordinate
        colour = "00FFF2CC" if cell.column_letter in {"I", "J"} else "00D9E1F2"
        assert cell.fill.fgColor.rgb == colour, cell.coordinate
    assert sheet["H4"].number_format == 'yyyy"年"m"月"d"日"'
    assert sheet.row_dimensions[4].height >= 4 * 14.5
