"""Collecting a returned 落实情况填报表: a unit's sheet, filled in as a unit would, recorded as its
reports; every refusal; the round trip through a real mail; ``duban collect``."""

import io
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from cli_runner import Duban
from smtp_server import LoopbackSMTP
from sqlalchemy import func
from sqlmodel import Session, select

from flows import delivery
from flows.app import App
from notifications.mail import MemoryBackend, SmtpBackend
from tracking.collect import MAX_DATA_ROWS, collect_sheet, read_returned_sheet
from tracking.db import transaction
from tracking.errors import InputError
from tracking.importer import import_table
from tracking.items import ItemRef, find_item, find_unit
from tracking.models import (
    Assignment,
    AssignmentStatus,
    Event,
    ItemStatus,
    ProgressUpdate,
    UpdateKind,
    UpdateSource,
)
from tracking.unit_sheet import MAX_TEXT_CHARS, owed_items, write_unit_sheet
from tracking.units import load_units, read_units_file
from tracking.updates import record_update

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZONE)
LATER = datetime(2022, 6, 20, 10, 0, tzinfo=ZONE)
JUNE = date(2022, 6, 15)
REPORTED = date(2022, 6, 20)
ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "config" / "demo" / "units.toml"
SEED_NUMBERS = ["730", "152", "199", "217", "250", "271", "289", "321", "379", "445", "451"]
FIRST_DATA_ROW = 4
TEXT, STATUS = 9, 10  # the columns to fill in (I, J)
Answers = dict[str, tuple[str | None, str | None]]


def seed_database(app: App, seed: Path) -> App:
    import_table(app.engine, seed, year=2022, reported_on=JUNE, now=NOW, include_feedback=False)
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")
    return app


@pytest.fixture
def app(make_app, seed: Path) -> App:
    return seed_database(make_app(mail=MemoryBackend()), seed)


def blank_sheet(app: App, unit_name: str, folder: Path) -> Path:
    """The sheet a unit's digest would carry as of 2022-06-15."""
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
    path = folder / f"{unit_name}-blank.xlsx"
    return write_unit_sheet(path, items, unit_id=unit.id, unit_name=unit.name, as_of=JUNE)  # type: ignore[arg-type]


def put(cell, value: object) -> None:  # type: ignore[no-untyped-def]
    """Type ``value`` in as a unit would in a cell formatted as text (text stays text)."""
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"


def fill(
    source: Path,
    out: Path,
    answers: Answers,
    edit: Callable[[openpyxl.worksheet.worksheet.Worksheet], None] | None = None,
) -> Path:
    """The sheet with ``answers`` (编号 -> (落实情况, 办理状态)) filled in, saved as ``out``."""
    workbook = openpyxl.load_workbook(source)
    sheet = workbook.worksheets[0]
    for row in sheet.iter_rows(min_row=FIRST_DATA_ROW):
        if row[2].value in answers:
            text, status = answers[row[2].value]
            put(row[TEXT - 1], text)
            put(row[STATUS - 1], status)
    if edit is not None:
        edit(sheet)
    workbook.save(out)
    return out


def line_of(number: str) -> int:
    return FIRST_DATA_ROW + SEED_NUMBERS.index(number)


def collect(app: App, source: Path | bytes, *, unit: str | None = None, name: str = ""):  # type: ignore[no-untyped-def]
    with transaction(app.engine) as session:
        return collect_sheet(
            session,
            source,
            name=name or (source.name if isinstance(source, Path) else "upload.xlsx"),
            unit=find_unit(session, unit) if unit else None,
            reported_on=REPORTED,
            now=LATER,
            actor="test",
        )


def problems_of(app: App, source: Path, *, unit: str | None = None) -> list[str]:
    with pytest.raises(InputError) as caught:
        collect(app, source, unit=unit)
    assert "nothing was recorded" in str(caught.value)
    assert updates(app) == []
    return caught.value.problems


def updates(app: App) -> list[ProgressUpdate]:
    with Session(app.engine) as session:
        return list(session.exec(select(ProgressUpdate).order_by(ProgressUpdate.id)))


FORMULA = "单元格是公式；系统不计算公式，请直接填写文字（可复制后“粘贴为数值”）"
DONE = "截至6月底，全市12149块街道牌全部完成电子化档案信息录入工作。"
GOING = "已在200个社区开展试点，\n正在扩大购买服务覆盖范围。"


# --- recording -------------------------------------------------------------------------------


def test_a_filled_sheet_becomes_the_units_reports(app: App, tmp_path: Path) -> None:
    sheet = fill(
        blank_sheet(app, "市民政局", tmp_path),
        tmp_path / "市民政局-落实情况填报表-20220615.xlsx",
        {
            "730": (DONE, "已完成"),
            "152": (GOING, "推进中"),
            "199": ("=1+1", None),  # text that looks like a formula: kept as typed
            "217": ("助餐服务试点因疫情暂缓。", "未能落实"),
        },
    )

    report = collect(app, sheet)

    assert report.summary() == "4 rows recorded, 0 unchanged, 7 empty"
    assert (report.unit_name, report.sheet_as_of, report.rows) == ("市民政局", JUNE, 11)
    assert [(r.line, r.number, r.kind, r.claim) for r in report.recorded] == [
        (4, "730", UpdateKind.FINAL, "已完成"),
        (5, "152", UpdateKind.PROGRESS, "推进中"),
        (6, "199", UpdateKind.PROGRESS, None),
        (7, "217", UpdateKind.PROGRESS, "未能落实"),
    ]
    recorded = updates(app)
    assert [(u.text, u.kind, u.claim) for u in recorded] == [
        (DONE, UpdateKind.FINAL, "已完成"),
        (GOING, UpdateKind.PROGRESS, "推进中"),
        ("=1+1", UpdateKind.PROGRESS, None),
        ("助餐服务试点因疫情暂缓。", UpdateKind.PROGRESS, "未能落实"),
    ]
    assert {(u.source, u.reported_on, u.reported_by) for u in recorded} == {
        (UpdateSource.SPREADSHEET, REPORTED, "test")
    }
    with transaction(app.engine) as session:
        street = find_item(session, ItemRef(number="730"))
        care = find_item(session, ItemRef(number="152"))
        assert (street.status, street.closed_on) == (ItemStatus.RESOLVED, REPORTED)
        assert care.status == ItemStatus.FOLLOWING
        [event] = session.exec(select(Event).where(Event.action == "sheet.collect")).all()
        actions = session.exec(select(Event.action).where(Event.action.like("update.%"))).all()  # type: ignore[attr-defined]
    assert sorted(actions) == ["update.final"] + ["update.progress"] * 3
    assert (event.actor, event.entity, event.entity_id) == ("test", "unit", report.unit_id)
    assert event.after == {
        "file": "市民政局-落实情况填报表-20220615.xlsx",
        "source": "xlsx",
        "sheet_as_of": "2022-06-15",
        "reported_on": "2022-06-20",
        "recorded": 4,
        "unchanged": 0,
        "empty": 7,
    }


def test_collecting_the_same_file_again_records_nothing(app: App, tmp_path: Path) -> None:
    sheet = fill(
        blank_sheet(app, "市民政局", tmp_path),
        tmp_path / "filled.xlsx",
        {"730": (DONE, "已完成"), "152": (GOING, "推进中")},
    )
    collect(app, sheet)

    again = collect(app, sheet)

    assert again.summary() == "0 rows recorded, 2 unchanged, 9 empty"
    assert len(updates(app)) == 2
    with Session(app.engine) as session:
        assert (
            session.exec(
                select(func.count()).select_from(Event).where(Event.action == "sheet.collect")
            ).one()
            == 1
        )

    # A new word on one item is a new report; the unchanged one is still left alone.
    newer = fill(sheet, tmp_path / "newer.xlsx", {"152": ("试点扩至220个社区。", "推进中")})
    assert collect(app, newer).summary() == "1 rows recorded, 1 unchanged, 9 empty"


def test_a_co_units_completed_row_is_its_written_opinion(app: App, tmp_path: Path) -> None:
    sheet = fill(
        blank_sheet(app, "市卫生健康委", tmp_path),
        tmp_path / "wjw.xlsx",
        {"152": ("已配合完成医养结合服务对接。", "已完成")},
    )

    report = collect(app, sheet, unit="市卫健委")  # the unit's page, by an alias

    assert report.summary() == "1 rows recorded, 0 unchanged, 3 empty"
    with transaction(app.engine) as session:
        item = find_item(session, ItemRef(number="152"))
        health = find_unit(session, "市卫生健康委")
        assignment = session.exec(
            select(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == health.id)
        ).one()
    assert item.status == ItemStatus.FOLLOWING  # only the lead's final report resolves it
    assert assignment.status == AssignmentStatus.REPORTED


def test_a_completed_row_corrects_a_resolved_item_but_progress_is_refused(
    app: App, tmp_path: Path
) -> None:
    blank = blank_sheet(app, "市民政局", tmp_path)  # sent while 730 was open
    with transaction(app.engine) as session:
        record_update(
            session,
            item=find_item(session, ItemRef(number="730")),
            unit=find_unit(session, "市民政局"),
            text="已完成。",
            kind=UpdateKind.FINAL,
            reported_on=date(2022, 6, 1),
            source=UpdateSource.CLI,
            reported_by="test",
            now=NOW,
        )
    late = fill(blank, tmp_path / "late.xlsx", {"730": (DONE, "推进中")})

    [problem] = _problems_after(app, late)
    assert problem == (
        "late.xlsx:4:10: 办理状态: 人大建议第730号已于2022-06-01落实（已落实），不再接收进展；"
        "如需更正最终落实情况，请选“已完成”"
    )

    corrected = fill(blank, tmp_path / "corrected.xlsx", {"730": (DONE, "已完成")})
    assert collect(app, corrected).summary() == "1 rows recorded, 0 unchanged, 10 empty"


def _problems_after(app: App, source: Path) -> list[str]:
    """The problems of ``source`` when reports exist already (they stay as they were)."""
    before = len(updates(app))
    with pytest.raises(InputError) as caught:
        collect(app, source)
    assert len(updates(app)) == before
    return caught.value.problems


# --- whose sheet -----------------------------------------------------------------------------


def test_a_sheet_of_one_unit_given_as_anothers_is_refused(app: App, tmp_path: Path) -> None:
    sheet = fill(blank_sheet(app, "市民政局", tmp_path), tmp_path / "mzj.xlsx", {"730": (DONE, "")})

    with pytest.raises(InputError) as caught:
        collect(app, sheet, unit="市财政局")

    assert str(caught.value) == (
        "mzj.xlsx: 这是市民政局的填报表，不能作为市财政局的报送提交"
        "（this sheet is 市民政局's, not 市财政局's）"
    )
    assert updates(app) == []


def retyped(rows: list[list[object]], *, title: str | None) -> openpyxl.Workbook:
    """A sheet a unit typed itself: no hidden column, no identification sheet."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    if title:
        sheet.append([title])
        sheet.append([])
    sheet.append(["序号", "类别", "编号", "案由", "落实情况", "办理状态"])
    for row in rows:
        sheet.append(row)
    return workbook


def test_a_retyped_sheet_is_matched_by_number_and_category(app: App, tmp_path: Path) -> None:
    workbook = retyped(
        [
            [1, "人大建议", 730, "关于完善街路标识牌的建议", DONE, "已完成"],
            [2, "政协提案", "152", "", GOING, ""],
            [3, "", "第199号", "", "已配建35个。", "推进中"],  # no 类别: the number is enough
        ],
        title="市民政局 建议提案落实情况填报表（截至2022年6月15日）",
    )
    workbook.save(tmp_path / "retyped.xlsx")

    report = collect(app, tmp_path / "retyped.xlsx")

    assert report.unit_name == "市民政局" and report.sheet_as_of is None
    assert [(r.line, r.number, r.kind) for r in report.recorded] == [
        (4, "730", UpdateKind.FINAL),
        (5, "152", UpdateKind.PROGRESS),
        (6, "199", UpdateKind.PROGRESS),
    ]


def test_a_retyped_sheet_that_does_not_name_its_unit_needs_one(app: App, tmp_path: Path) -> None:
    retyped([[1, "人大建议", "730", "", DONE, ""]], title=None).save(tmp_path / "bare.xlsx")

    with pytest.raises(InputError) as caught:
        collect(app, tmp_path / "bare.xlsx")
    assert str(caught.value).startswith("bare.xlsx: 无法确定填报单位：表中没有单位标识；请指定单位")

    assert collect(app, tmp_path / "bare.xlsx", unit="市民政局").summary() == (
        "1 rows recorded, 0 unchanged, 0 empty"
    )


def test_a_retyped_sheet_with_unknown_or_other_units_numbers(app: App, tmp_path: Path) -> None:
    retyped(
        [
            [1, "人大建议", "999", "", "文字", ""],
            [2, "政协提案", "730", "", "文字", ""],  # 730 is a 人大建议
            [3, "政协提案", "250", "", "文字", ""],  # 市民政局's alone
            [4, "人大代表建议", "", "", "文字", ""],
            [5, "提案", "152", "", "文字", ""],
        ],
        title="市卫生健康委 建议提案落实情况填报表（截至2022年6月15日）",
    ).save(tmp_path / "wjw.xlsx")

    assert problems_of(app, tmp_path / "wjw.xlsx") == [
        "wjw.xlsx:4:3: 编号: 人大建议编号999不是市卫生健康委承办的建议提案",
        "wjw.xlsx:5:3: 编号: 政协提案编号730不是市卫生健康委承办的建议提案",
        "wjw.xlsx:6:3: 编号: 政协提案编号250不是市卫生健康委承办的建议提案",
        "wjw.xlsx:7:3: 编号: 为空，无法确定是哪一个事项",
        "wjw.xlsx:8:2: 类别: “提案”既不是人大建议也不是政协提案",
    ]


# --- every refusal, all at once --------------------------------------------------------------


def test_every_problem_is_listed_and_nothing_is_recorded(app: App, tmp_path: Path) -> None:
    too_long = "落" * (MAX_TEXT_CHARS + 1)

    def tamper(sheet) -> None:  # type: ignore[no-untyped-def]
        sheet.cell(row=line_of("250"), column=3).value = "251"  # 编号 retyped
        sheet.cell(row=line_of("271"), column=11).value = "99999999999999999999"  # no such item
        sheet.cell(row=line_of("289"), column=11).value = "abc"
        # a row copied over another: the same item twice
        sheet.cell(row=line_of("321"), column=3).value = "152"
        sheet.cell(row=line_of("321"), column=11).value = sheet.cell(line_of("152"), 11).value
        sheet.cell(row=line_of("379"), column=TEXT).value = "=1+1"  # a real formula
        sheet.cell(row=line_of("445"), column=STATUS).value = '=IF(1,"已完成","")'

    sheet = fill(
        blank_sheet(app, "市民政局", tmp_path),
        tmp_path / "bad.xlsx",
        {
            "730": (DONE, "已落实"),  # not one of the choices
            "152": (GOING, "推进中"),  # a good row: not recorded either
            "199": (too_long, "推进中"),
            "217": (None, "已完成"),  # a status with nothing written
            "250": ("文字", None),
            "271": ("文字", None),
            "289": ("文字", None),
            "321": ("文字", None),
            "445": ("文字", None),
        },
        tamper,
    )

    assert problems_of(app, sheet) == [
        "bad.xlsx:4:10: 办理状态: “已落实”不是可选的办理状态（推进中、已完成、未能落实）",
        f"bad.xlsx:6:9: 落实情况: 共{MAX_TEXT_CHARS + 1}字，超过{MAX_TEXT_CHARS}字的上限，请精简",
        "bad.xlsx:7:9: 落实情况: 为空，但办理状态填了“已完成”；请填写落实情况，或清空办理状态",
        "bad.xlsx:8:3: 编号: 编号“251”与事项编号5对应的政协提案第250号不符；"
        "请勿改动编号，也不要在行间复制粘贴",
        "bad.xlsx:9:11: 事项编号: 没有事项编号为99999999999999999999的事项",
        "bad.xlsx:10:11: 事项编号: “abc”不是事项编号（应为数字）；请勿改动该列",
        "bad.xlsx:11:11: 事项编号: 与第5行是同一事项（政协提案第152号）；每个事项只填一行",
        f"bad.xlsx:12:9: 落实情况: {FORMULA}",
        f"bad.xlsx:13:10: 办理状态: {FORMULA}",
    ]


def test_a_row_of_another_units_item_is_refused(app: App, tmp_path: Path) -> None:
    with transaction(app.engine) as session:
        item_250 = find_item(session, ItemRef(number="250")).id

    def smuggle(sheet) -> None:  # type: ignore[no-untyped-def]
        sheet.cell(row=4, column=3).value = "250"
        sheet.cell(row=4, column=11).value = item_250

    sheet = fill(
        blank_sheet(app, "市卫生健康委", tmp_path),
        tmp_path / "wjw.xlsx",
        {"730": ("文字", "推进中")},
        smuggle,
    )

    # The coordinator's command line says whose it is; the unit's own upload is told only that
    # there is no such item of its own, as for an id that does not exist at all.
    assert problems_of(app, sheet) == [
        f"wjw.xlsx:4:11: 事项编号: 事项{item_250}（政协提案第250号）不是市卫生健康委承办的事项"
    ]
    assert problems_of(app, sheet, unit="市卫生健康委") == [
        f"wjw.xlsx:4:11: 事项编号: 没有事项编号为{item_250}的事项"
    ]


def test_a_returned_or_reassigned_part_takes_no_report(app: App, tmp_path: Path) -> None:
    blank = blank_sheet(app, "市卫生健康委", tmp_path)
    with transaction(app.engine) as session:
        health = find_unit(session, "市卫生健康委")
        for number, status in (("730", AssignmentStatus.RETURNED), ("152", "reassigned")):
            item = find_item(session, ItemRef(number=number))
            assignment = session.exec(
                select(Assignment).where(
                    Assignment.item_id == item.id, Assignment.unit_id == health.id
                )
            ).one()
            assignment.status = status
            session.add(assignment)
    sheet = fill(blank, tmp_path / "wjw.xlsx", {"730": ("文字", ""), "152": ("文字", "")})

    assert problems_of(app, sheet) == [
        "wjw.xlsx:4:11: 事项编号: 人大建议第730号已由市卫生健康委退回，等待重新交办，不能报送",
        "wjw.xlsx:5:11: 事项编号: 政协提案第152号已调整给其他单位承办，市卫生健康委不必再报送",
    ]


# --- files that are not a sheet --------------------------------------------------------------


def zipped(entries: dict[str, bytes]) -> bytes:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return stream.getvalue()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"", "x.xlsx: 文件是空的（the file is empty）"),
        (
            lambda: "序号,编号,落实情况\n1,730,已完成\n".encode(),
            "x.xlsx: 不是 XLSX 工作簿，请提交系统发出的《落实情况填报表》（.xlsx）"
            "（not an XLSX workbook）",
        ),
        (
            lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
            "x.xlsx: 这是旧版 Excel 97-2003（.xls）格式或设置了打开密码的工作簿，"
            "请用 Excel 或 WPS 另存为不设密码的 .xlsx 后重新提交（an old .xls or "
            "password-protected workbook: save it as .xlsx without a password）",
        ),
        (
            lambda: zipped({"word/document.xml": b"<w/>"}),
            "x.xlsx: 这是ZIP 压缩包或其他文档，不是 XLSX 工作簿；请另存为 .xlsx 后重新提交"
            "（not an XLSX workbook）",
        ),
        (
            lambda: zipped(
                {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b""}
            ),
            "x.xlsx: 这是OpenDocument（.ods）表格，不是 XLSX 工作簿；请另存为 .xlsx 后重新提交"
            "（not an XLSX workbook）",
        ),
        (
            # A zip bomb: 100 MB of zeros packs into about 100 kB.
            lambda: zipped({"xl/workbook.xml": b"<w/>", "xl/bomb.xml": b"\x00" * (100 << 20)}),
            "x.xlsx: 工作簿解压后过大，不像是落实情况填报表（the workbook unpacks too large）",
        ),
        (
            lambda: b"PK\x03\x04" + b"\x00" * (21 << 20),
            "x.xlsx: 文件过大（21.0 MB，上限 20 MB），不像是落实情况填报表"
            "（the file is too large for a return sheet）",
        ),
    ],
    ids=["empty", "csv", "xls", "docx", "ods", "zip-bomb", "too-big"],
)
def test_what_is_not_an_xlsx_workbook_is_refused(make: Callable[[], bytes], message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_returned_sheet(make(), name="x.xlsx")
    assert str(caught.value) == message


def test_a_damaged_workbook_is_refused(tmp_path: Path) -> None:
    stream = io.BytesIO()
    retyped([], title=None).save(stream)
    broken = zipped({"xl/workbook.xml": b"<not-xml", "[Content_Types].xml": b"<x/>"})

    for data in (stream.getvalue()[:200], broken):
        with pytest.raises(InputError) as caught:
            read_returned_sheet(data, name="x.xlsx")
        assert str(caught.value).startswith("x.xlsx: "), str(caught.value)
        assert "损坏" in str(caught.value) or "无法读取" in str(caught.value)


def test_a_missing_file_and_a_sheet_without_a_header(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="文件不存在"):
        read_returned_sheet(tmp_path / "nowhere.xlsx", name="nowhere.xlsx")
    workbook = openpyxl.Workbook()
    workbook.active.append(["随便", "什么"])
    workbook.save(tmp_path / "other.xlsx")
    with pytest.raises(InputError, match="找不到表头"):
        read_returned_sheet(tmp_path / "other.xlsx", name="other.xlsx")


def test_rows_are_capped(tmp_path: Path) -> None:
    rows = [[n, "人大建议", "730", "", "文字", ""] for n in range(1, MAX_DATA_ROWS + 2)]
    retyped(rows, title=None).save(tmp_path / "long.xlsx")

    with pytest.raises(InputError) as caught:
        read_returned_sheet(tmp_path / "long.xlsx", name="long.xlsx")

    assert str(caught.value) == (
        f"long.xlsx:{MAX_DATA_ROWS + 2}: 行数过多：一张填报表最多 {MAX_DATA_ROWS} 行"
        f"（more than {MAX_DATA_ROWS} rows）"
    )


def test_a_damaged_identification_is_refused(app: App, tmp_path: Path) -> None:
    workbook = openpyxl.load_workbook(blank_sheet(app, "市民政局", tmp_path))
    workbook["duban"]["B4"] = "六月"
    workbook.save(tmp_path / "odd.xlsx")

    with pytest.raises(InputError, match="表格的单位标识已损坏"):
        read_returned_sheet(tmp_path / "odd.xlsx", name="odd.xlsx")


# --- through a real mail, and the command line -----------------------------------------------


def test_the_digest_sheet_goes_out_by_mail_and_comes_back_as_reports(
    make_app, seed: Path, tmp_path: Path
) -> None:
    with LoopbackSMTP() as smtp:
        app = seed_database(make_app(mail=SmtpBackend(smtp.host, smtp.port, timeout=5)), seed)
        plan = delivery.plan(app, JUNE, NOW)
        delivery.draft_digests(app, plan, now=NOW)
        outcomes = delivery.deliver_each(app, delivery.pending_ids(app), NOW)
        assert [o.status for o in outcomes] == ["sent"] * 7
        message = next(m for m in smtp.messages if m["To"] == "wjw-duban@example.org")

    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "市卫生健康委-落实情况填报表-20220615.xlsx"
    received = attachment.get_content()
    sheet = openpyxl.load_workbook(io.BytesIO(received)).worksheets[0]
    body = message.get_body(("plain",)).get_content()
    rows = list(sheet.iter_rows(min_row=FIRST_DATA_ROW, values_only=True))
    # The sheet's rows are the digest's items, in its order, by number and item id.
    numbers = re.findall(r"^\d+\. \S+第(\S+?)号：", body, flags=re.MULTILINE)
    item_ids = [int(n) for n in re.findall(r"事项编号：(\d+)", body)]
    assert [(row[2], row[10]) for row in rows] == list(zip(numbers, item_ids, strict=True))
    assert [row[2] for row in rows] == ["730", "152", "199", "289"]

    # The unit fills it in and uploads it on its page (bytes, with the unit given).
    workbook = openpyxl.load_workbook(io.BytesIO(received))
    put(workbook.worksheets[0].cell(FIRST_DATA_ROW, TEXT), "已与民政部门完成数据对接。")
    put(workbook.worksheets[0].cell(FIRST_DATA_ROW, STATUS), "已完成")
    put(workbook.worksheets[0].cell(FIRST_DATA_ROW + 3, TEXT), "=SUM(1,2) 只是文字")
    returned = io.BytesIO()
    workbook.save(returned)

    report = collect(app, returned.getvalue(), unit="市卫生健康委", name=attachment.get_filename())

    assert report.summary() == "2 rows recorded, 0 unchanged, 2 empty"
    assert [(u.text, u.kind, u.claim) for u in updates(app)] == [
        ("已与民政部门完成数据对接。", UpdateKind.FINAL, "已完成"),
        ("=SUM(1,2) 只是文字", UpdateKind.PROGRESS, None),
    ]


@pytest.fixture
def cli_app(duban: Duban, database_url: str, seed: Path, tmp_path: Path, make_app) -> App:
    assert duban("import", str(seed), "--year", "2022", "--no-feedback").exit_code == 0
    assert duban("units", "load", str(UNITS)).exit_code == 0
    return make_app()


def test_duban_collect_records_the_sheet_and_says_what_it_did(
    duban: Duban, cli_app: App, tmp_path: Path
) -> None:
    sheet = fill(
        blank_sheet(cli_app, "市民政局", tmp_path),
        tmp_path / "mzj.xlsx",
        {"730": (DONE, "已完成"), "152": (GOING, "推进中")},
    )

    dry = duban("collect", str(sheet), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[-1] == (
        f"{sheet} (市民政局): 2 rows to record, 0 unchanged, 9 empty (dry run: nothing recorded)."
    )
    assert updates(cli_app) == []

    result = duban("collect", str(sheet), "--reported-on", "2022-06-20")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "  row 4: 人大建议 730 (item 1): final report (已完成)",
        "  row 5: 政协提案 152 (item 2): progress (推进中)",
        f"{sheet} (市民政局): 2 rows recorded, 0 unchanged, 9 empty.",
    ]
    assert {u.reported_on for u in updates(cli_app)} == {REPORTED}

    again = duban("collect", str(sheet))
    assert again.output.splitlines()[-1] == (
        f"{sheet} (市民政局): 0 rows recorded, 2 unchanged, 9 empty."
    )


def test_duban_collect_prints_every_problem_and_records_nothing(
    duban: Duban, cli_app: App, tmp_path: Path
) -> None:
    sheet = fill(
        blank_sheet(cli_app, "市民政局", tmp_path),
        tmp_path / "mzj.xlsx",
        {"730": (DONE, "完成"), "152": (GOING, "推进中")},
    )

    result = duban("collect", str(sheet))
    assert result.exit_code == 1
    assert f"{sheet}:4:10: 办理状态: “完成”不是可选的办理状态（推进中、已完成、未能落实）" in (
        result.output
    )
    assert "1 problem(s) found; nothing was recorded" in result.output

    wrong = duban("collect", str(sheet), "--unit", "市财政局")
    assert (
        wrong.exit_code == 1 and "这是市民政局的填报表，不能作为市财政局的报送提交" in wrong.output
    )
    unknown = duban("collect", str(sheet), "--unit", "市民政")
    assert unknown.exit_code == 1 and "no unit named '市民政'" in unknown.output
    assert updates(cli_app) == []
