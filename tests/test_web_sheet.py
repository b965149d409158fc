"""The spreadsheet return on the unit's page: the 落实情况填报表 mailed with the digest, filled in
by the unit and uploaded through its link in a real headless Chromium, becomes its reports."""

import io
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
import time_machine
from smtp_server import LoopbackSMTP
from sqlmodel import select
from web_support import serving

from flows import delivery
from flows.app import App
from flows.web.app import create_web_app
from flows.web.uploads import uploads_dir
from notifications.mail import SmtpBackend
from tracking.db import transaction
from tracking.importer import import_table
from tracking.items import ItemRef, find_item
from tracking.models import ProgressUpdate, UpdateKind
from tracking.units import load_units, read_units_file

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZONE)
OPENED = datetime(2022, 6, 16, 10, 0, tzinfo=ZONE)
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"
HEALTH_LIAISON = "wjw-duban@example.org"  # 市卫生健康委: 4 co-handled items
CIVIL_LIAISON = "mzj-duban@example.org"  # 市民政局
TEXT_COLUMN, STATUS_COLUMN = 9, 10  # 落实情况, 办理状态 (I, J)
NUMBER_COLUMN, ITEM_ID_COLUMN = 3, 11  # 编号 (C), the hidden 事项编号 (K)
FIRST_DATA_ROW = 4  # under the title, the note and the header


@pytest.fixture
def mailed(make_app, seed: Path) -> tuple[App, list]:
    """The seed as of 2022-06-15, chased to a loopback SMTP server: the app and the messages."""
    with LoopbackSMTP() as smtp:
        app = make_app(mail=SmtpBackend(smtp.host, smtp.port, timeout=5))
        import_table(
            app.engine,
            seed,
            year=2022,
            reported_on=date(2022, 6, 15),
            now=NOW,
            include_feedback=False,
        )
        with transaction(app.engine) as session:
            load_units(session, read_units_file(UNITS), now=NOW, actor="test")
        plan = delivery.plan(app, NOW.date(), NOW)
        delivery.draft_digests(app, plan, now=NOW)
        delivery.deliver_each(app, delivery.pending_ids(app), NOW)
        return app, list(smtp.messages)


def digest_to(messages: list, address: str) -> tuple[str, bytes, str]:
    """The unit's link, its attached sheet and the sheet's file name, from its digest."""
    message = next(m for m in messages if m["To"] == address)
    text = message.get_body(("plain",)).get_content()
    line = next(line for line in text.splitlines() if line.startswith("在线填报："))
    [attachment] = list(message.iter_attachments())
    return (
        line.removeprefix("在线填报：").split(" ", 1)[0],
        attachment.get_content(),
        (attachment.get_filename()),
    )


def filled(sheet: bytes, answers: dict[int, tuple[str, str | None]]) -> bytes:
    """The sheet with 落实情况/办理状态 typed into the given data rows (0 = the first item)."""
    workbook = openpyxl.load_workbook(io.BytesIO(sheet))
    rows = workbook.worksheets[0]
    for index, (text, status) in answers.items():
        rows.cell(FIRST_DATA_ROW + index, TEXT_COLUMN).value = text
        rows.cell(FIRST_DATA_ROW + index, STATUS_COLUMN).value = status
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_a_unit_uploads_its_filled_in_sheet_on_its_page(mailed, page, tmp_path: Path) -> None:
    app, messages = mailed
    url, sheet, name = digest_to(messages, HEALTH_LIAISON)
    returned = filled(
        sheet,
        {0: ("<b>已完成</b>数据对接。", "已完成"), 2: ("正在组织评审。", "推进中")},
    )

    with time_machine.travel(OPENED, tick=True), serving(create_web_app(app)) as base:
        link = url.replace(app.settings.resolved_web_base_url, base)
        page.goto(link)
        upload = page.locator("#sheet_return")
        upload.locator("input[name=sheet]").set_input_files(
            {"name": name, "mimeType": "application/octet-stream", "buffer": returned}
        )
        with page.expect_navigation():
            upload.locator("button[type=submit]").click()
        assert page.locator("#sheet_confirmation").inner_text() == (
            "已收到贵单位上传的落实情况填报表：登记2项落实情况，2行未填写。谢谢！"
        )
        # The same file again: nothing is recorded twice.
        page.locator("#sheet_return input[name=sheet]").set_input_files(
            {"name": name, "mimeType": "application/octet-stream", "buffer": returned}
        )
        with page.expect_navigation():
            page.locator("#sheet_return button[type=submit]").click()
        assert "2项与此前报送相同未重复登记" in page.locator("#sheet_confirmation").inner_text()
        assert "<b>已完成</b>数据对接。" in page.content().replace("&lt;", "<").replace("&gt;", ">")

        # A sheet with problems: each on a line of its own; another unit's item is not named.
        with transaction(app.engine) as session:
            theirs = find_item(session, ItemRef(number="250")).id  # not 市卫生健康委's
        bad = openpyxl.load_workbook(io.BytesIO(sheet))
        rows = bad.worksheets[0]
        rows.cell(FIRST_DATA_ROW, TEXT_COLUMN).value = "进展"
        rows.cell(FIRST_DATA_ROW, STATUS_COLUMN).value = "差不多"
        rows.cell(FIRST_DATA_ROW + 1, TEXT_COLUMN).value = "进展"
        rows.cell(FIRST_DATA_ROW + 1, NUMBER_COLUMN).value = "250"
        rows.cell(FIRST_DATA_ROW + 1, ITEM_ID_COLUMN).value = theirs
        out = io.BytesIO()
        bad.save(out)
        page.goto(link)
        page.locator("#sheet_return input[name=sheet]").set_input_files(
            {"name": name, "mimeType": "application/octet-stream", "buffer": out.getvalue()}
        )
        with page.expect_navigation():
            page.locator("#sheet_return button[type=submit]").click()
        lines = page.get_by_role("alert").inner_text().splitlines()
        assert len(lines) == 3 and "发现2处问题" in lines[0]
        assert lines[2] == f"{name}:{FIRST_DATA_ROW + 1}:11: 事项编号: 没有事项编号为{theirs}的事项"
        assert "政协提案第250号" not in page.content()

    with transaction(app.engine) as session:
        recorded = session.exec(select(ProgressUpdate).order_by(ProgressUpdate.id)).all()
    assert [(u.text, u.kind, u.claim, u.source) for u in recorded] == [
        ("<b>已完成</b>数据对接。", UpdateKind.FINAL, "已完成", "web"),
        ("正在组织评审。", UpdateKind.PROGRESS, "推进中", "web"),
    ]
    kept = uploads_dir(app.settings) / recorded[0].attachment_path  # type: ignore[operator]
    assert recorded[0].attachment_name == name and kept.read_bytes() == returned


def test_another_units_sheet_or_a_bad_row_is_refused_and_nothing_recorded(mailed) -> None:
    app, messages = mailed
    health_url, _, _ = digest_to(messages, HEALTH_LIAISON)
    _, civil_sheet, civil_name = digest_to(messages, CIVIL_LIAISON)
    _, health_sheet, health_name = digest_to(messages, HEALTH_LIAISON)

    with time_machine.travel(OPENED, tick=True), serving(create_web_app(app)) as base:
        link = health_url.replace(app.settings.resolved_web_base_url, base)
        with httpx.Client(base_url=base) as client:
            page = client.get(link)
            csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]

            def upload(data: bytes, name: str) -> httpx.Response:
                return client.post(
                    f"{link}/sheet", data={"csrf": csrf}, files={"sheet": (name, data)}
                )

            theirs = upload(filled(civil_sheet, {0: ("冒名填报", None)}), civil_name)
            assert theirs.status_code == 400 and "市民政局" in theirs.text
            bad_status = upload(filled(health_sheet, {1: ("进展", "差不多")}), health_name)
            assert bad_status.status_code == 400
            assert f"{health_name}:{FIRST_DATA_ROW + 1}:" in bad_status.text
            no_csrf = client.post(f"{link}/sheet", files={"sheet": (health_name, health_sheet)})
            assert no_csrf.status_code == 403

    with transaction(app.engine) as session:
        assert session.exec(select(ProgressUpdate)).all() == []
    assert not any(uploads_dir(app.settings).rglob("*.xlsx"))  # refused files are not kept
