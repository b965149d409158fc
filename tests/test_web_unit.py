"""The unit's side of the web pages: the link in its digest, its page, its reports.

The main test goes the whole way on each backend: a chase mails the digests to a real SMTP
server on loopback, the link is taken from a received message, and a real headless Chromium
opens it, submits a report with a PDF attached, and sees it on the page; the records are then
checked in the database.

Screenshots: ``DUBAN_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest
tests/test_web_unit.py -k "through_the_link and sqlite"`` writes ``unit-page.png`` (as opened from
the digest), ``unit-page-submitted.png`` (after a report), ``unit-page-submitted-item.png``
(that item alone) and ``unit-page-refused.png`` (a forged link) there; a plain test run writes
none.
"""

import os
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from pydantic import SecretStr
from smtp_server import LoopbackSMTP
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import select
from web_support import serving

from flows import delivery
from flows.app import App
from flows.web import unit_pages
from flows.web.app import create_web_app
from flows.web.links import (
    EXPIRED,
    INVALID,
    REVOKED,
    LinkRefused,
    check_form_token,
    form_token,
    issue_link,
    read_link,
)
from flows.web.uploads import StoredFile, store_upload, uploads_dir
from notifications.mail import SmtpBackend
from tracking.chase import COORDINATOR, Digest
from tracking.db import transaction
from tracking.errors import InputError
from tracking.importer import import_table
from tracking.items import ItemRef, NewItem, assign_item, find_item, find_unit
from tracking.links import revoke_unit_link
from tracking.models import (
    Event,
    FollowUpItem,
    ItemStatus,
    ProgressUpdate,
    Unit,
    UpdateKind,
    UpdateSource,
)
from tracking.unit_reports import NOT_FOUND
from tracking.units import load_units, read_units_file

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=ZONE)  # the chase
OPENED = datetime(2022, 6, 16, 10, 0, tzinfo=ZONE)  # the unit opens its digest the next day
JUNE = date(2022, 6, 15)
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"
# Resolved now: the command-line fixture changes the working folder during the test.
SCREENSHOTS = (
    Path(os.environ["DUBAN_SCREENSHOTS"]).resolve() if os.environ.get("DUBAN_SCREENSHOTS") else None
)
HEALTH = "市卫生健康委"  # co-handles 4 of the seed's 11 items
SCRIPT = "<script>alert(1)</script>"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture
def smtp() -> Iterator[LoopbackSMTP]:
    with LoopbackSMTP() as server:
        yield server


@pytest.fixture
def app(make_app, smtp: LoopbackSMTP, seed: Path) -> App:
    app = make_app(mail=SmtpBackend(smtp.host, smtp.port, timeout=5))
    import_table(app.engine, seed, year=2022, reported_on=JUNE, now=NOW, include_feedback=False)
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")
    return app


def chase(app: App) -> None:
    """What the chase flow does, step by step, without Prefect."""
    plan = delivery.plan(app, JUNE, NOW)
    delivery.draft_digests(app, plan, now=NOW)
    delivery.deliver_each(app, delivery.pending_ids(app), NOW)


def link_in(smtp: LoopbackSMTP, address: str) -> tuple[str, str]:
    """The link and the line around it in the plain text of the digest mailed to ``address``."""
    (message,) = [m for m in smtp.messages if m["To"] == address]
    text = message.get_body(("plain",)).get_content()
    line = next(line for line in text.splitlines() if line.startswith("在线填报："))
    return line.removeprefix("在线填报：").split(" ", 1)[0], line


def unit_id(app: App, name: str) -> int:
    with transaction(app.engine) as session:
        return find_unit(session, name).id  # type: ignore[return-value]


def item_id(app: App, number: str) -> int:
    with transaction(app.engine) as session:
        return find_item(session, ItemRef(number=number)).id  # type: ignore[return-value]


def fresh_link(app: App, name: str, now: datetime | None = None) -> str:
    """The unit's link issued now (or at ``now``), as a path on the served site."""
    with transaction(app.engine) as session:
        unit = find_unit(session, name)
        found = issue_link(
            app.settings,
            unit_id=unit.id,  # type: ignore[arg-type]
            link_version=unit.link_version,
            now=now or app.now(),
        )
    return found.url.removeprefix(app.settings.resolved_web_base_url)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page carries no form value"
    return found.group(1)


def reports(app: App) -> list[ProgressUpdate]:
    with transaction(app.engine) as session:
        return list(session.exec(select(ProgressUpdate).order_by(ProgressUpdate.id)))


def shoot(target, name: str) -> None:  # type: ignore[no-untyped-def]
    """A screenshot of a page (all of it) or of one element, when DUBAN_SCREENSHOTS asks."""
    if SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = str(SCREENSHOTS / name)
        if hasattr(target, "goto"):
            target.screenshot(path=path, full_page=True)
        else:
            target.screenshot(path=path)


def test_the_digest_carries_the_units_link_and_the_coordinators_none(
    app: App, smtp: LoopbackSMTP
) -> None:
    chase(app)

    url, line = link_in(smtp, "wjw-duban@example.org")
    # Issued with the chase (2022-06-15 09:30) for 90 days: it works until 2022-09-13 09:30.
    assert line == (f"在线填报：{url} （本链接仅供贵单位使用，请勿转发；有效期至2022年9月12日）")
    assert url.startswith(f"{app.settings.resolved_web_base_url}/u/")
    token = url.rsplit("/", 1)[1]
    claim = read_link(app.settings, token, now=OPENED)
    assert (claim.unit_id, claim.version) == (unit_id(app, HEALTH), 1)
    html = next(m for m in smtp.messages if m["To"] == "wjw-duban@example.org")
    assert f'<a href="{url}">{url}</a>' in html.get_body(("html",)).get_content()
    # Each unit's digest carries its own link.
    other, _ = link_in(smtp, "czj-duban@example.org")
    finance = read_link(app.settings, other.rsplit("/", 1)[1], now=OPENED)
    assert other != url and finance.unit_id == unit_id(app, "市财政局")

    coordinator = Digest(COORDINATOR, None, "督办工作负责人", ("c@example.org",), (), "k")
    link = issue_link(app.settings, unit_id=1, link_version=1, now=NOW)
    assert delivery.digest_context(app, coordinator, JUNE, unit_link=link)["unit_link"] is None


def test_a_unit_reports_through_the_link_from_its_digest(
    app: App, smtp: LoopbackSMTP, page, duban
) -> None:
    chase(app)
    url, _ = link_in(smtp, "wjw-duban@example.org")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    first, other = item_id(app, "730"), item_id(app, "250")  # 250 is not the unit's

    with time_machine.travel(OPENED, tick=True), serving(create_web_app(app)) as base:
        link = url.replace(app.settings.resolved_web_base_url, base)
        response = page.goto(link)
        assert response is not None and response.status == 200
        assert response.headers["referrer-policy"] == "same-origin"
        assert "script-src" not in response.headers["content-security-policy"]  # none runs
        assert page.title() == f"{HEALTH} · 在线填报 · 市民政局"
        assert page.locator("h2").first.inner_text() == f"{HEALTH}：建议提案办理事项在线填报"
        cards = page.locator("section.card[id^='item-']")
        assert cards.count() == 4
        card = page.locator(f"#item-{first}")
        assert "人大建议第730号：关于完善街路标识牌的建议" in card.inner_text()
        assert "报送落实进展：2022年2月7日前" in card.inner_text()
        assert "已逾期" in card.inner_text() and "尚未报送" in card.inner_text()
        assert page.locator(f"#item-{other}").count() == 0
        assert page.locator("input[name=kind][value=reply]").count() == 0  # a co unit
        shoot(page, "unit-page.png")

        card.locator("textarea[name=text]").fill(f"{SCRIPT}\n已完成街路标识牌选址，正在制作。")
        card.locator("select[name=claim]").select_option("推进中")
        card.locator("input[name=attachment]").set_input_files(
            {"name": "进展材料.pdf", "mimeType": "application/pdf", "buffer": PDF}
        )
        with page.expect_navigation():
            card.locator("button[type=submit]").click()

        assert page.url.startswith(f"{link}?saved=") and page.url.endswith(f"#item-{first}")
        assert page.locator("#confirmation").inner_text() == (
            f"已收到贵单位2022年6月16日报送的落实进展（事项编号{first}），"
            "附件“进展材料.pdf”已上传。谢谢！"
        )
        row = page.locator(f"#item-{first} table.reports tr").nth(1)
        assert row.locator("td.text").inner_text().startswith(SCRIPT)  # shown as text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content()
        assert row.locator("td").nth(2).inner_text() == "推进中"
        assert row.locator("td").last.inner_text() == "在线填报"
        download = page.request.get(base + row.locator("a").get_attribute("href"))
        assert download.status == 200 and download.body() == PDF
        shoot(page, "unit-page-submitted.png")
        shoot(page.locator(f"#item-{first}"), "unit-page-submitted-item.png")

        # The same link, another unit's item: answered as if it did not exist.
        token = link.rsplit("/", 1)[1]
        refused = page.request.post(
            f"{base}/u/{token}/items/{other}",
            multipart={
                "csrf": csrf_of(page.content()),
                "kind": "progress",
                "claim": "推进中",
                "text": "不属于本单位的事项",
            },
            headers={"Sec-Fetch-Site": "same-origin"},
        )
        assert refused.status == 404 and NOT_FOUND in refused.text()

        # A forged link and an expired one are refused, naming no unit.
        forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
        response = page.goto(f"{base}/u/{forged}")
        assert response is not None and response.status == 403
        assert page.locator("[role=alert]").inner_text() == INVALID
        assert HEALTH not in page.content()
        shoot(page, "unit-page-refused.png")
        expired = fresh_link(app, HEALTH, now=OPENED - timedelta(days=91))
        response = page.goto(base + expired)
        assert response is not None and response.status == 410
        assert page.locator("[role=alert]").inner_text() == EXPIRED
        assert HEALTH not in page.content()

        # Revoked from the command line: the digest's link stops, a new one works.
        result = duban("link", HEALTH, "--revoke", "--reason", "链接被转发给了其他单位")
        assert result.exit_code == 0, result.output
        assert "every earlier link revoked (link version 2)" in result.output
        new = re.search(r"/u/\S+", result.output)
        assert new is not None
        response = page.goto(link)
        assert response is not None and response.status == 410
        assert page.locator("[role=alert]").inner_text() == REVOKED
        response = page.goto(base + new.group(0))
        assert response is not None and response.status == 200
        assert SCRIPT in page.locator(f"#item-{first} td.text").inner_text()

    assert dialogs == []
    (update,) = reports(app)
    assert (update.item_id, update.unit_id) == (first, unit_id(app, HEALTH))
    assert (update.kind, update.source, update.reported_by) == ("progress", "web", "web")
    assert update.reported_on == date(2022, 6, 16)
    assert update.text == f"{SCRIPT}\n已完成街路标识牌选址，正在制作。"
    assert (update.claim, update.attachment_name) == ("推进中", "进展材料.pdf")
    stored = uploads_dir(app.settings) / update.attachment_path  # type: ignore[operator]
    assert stored.parent.name == str(update.unit_id) and stored.name.endswith("-进展材料.pdf")
    assert stored.read_bytes() == PDF and stored.stat().st_size == len(PDF)
    with transaction(app.engine) as session:
        events = session.exec(select(Event).where(Event.actor == "web")).all()
        revoked = session.exec(select(Event).where(Event.action == "unit.link_revoke")).one()
    assert {e.action for e in events} == {"update.progress", "update.web"}
    web_event = next(e for e in events if e.action == "update.web")
    assert web_event.after == {
        "unit": HEALTH,
        "update_id": update.id,
        "kind": "progress",
        "claim": "推进中",
        "reply_class": None,
        "attachment": "进展材料.pdf",
        "attachment_bytes": len(PDF),
    }
    assert (revoked.before, revoked.after) == ({"link_version": 1}, {"link_version": 2})
    assert revoked.reason == "链接被转发给了其他单位"


def test_a_lead_replies_with_its_class_through_the_workflow(app: App) -> None:
    with transaction(app.engine) as session:
        new = assign_item(
            session,
            NewItem(
                year=2022,
                category="人大建议",
                number="801",
                title="关于增设社区食堂的建议",
                commitment="年内新增社区食堂5个",
                lead_unit="市教育局",
                co_units=("市财政局",),
                assigned_on=date(2022, 6, 1),
            ),
            now=NOW,
            actor="test",
        )
        new_id = new.id
    lead, co = fresh_link(app, "市教育局"), fresh_link(app, "市财政局")

    with serving(create_web_app(app)) as base, httpx.Client(base_url=base) as client:
        page = client.get(lead)
        assert 'value="reply"' in page.text and "B类：正在解决或列入计划逐步解决" in page.text
        form = {"csrf": csrf_of(page.text), "kind": "reply", "claim": "推进中", "text": "已答复"}
        missing = client.post(f"{lead}/items/{new_id}", data=form)
        assert missing.status_code == 400 and "答复代表委员时请选择答复类别（A、B、C、D）" in (
            missing.text
        )
        assert 'value="reply" checked' in missing.text and ">已答复</textarea>" in missing.text
        done = client.post(f"{lead}/items/{new_id}", data={**form, "reply_class": "B"})
        assert done.status_code == 303

        co_page = client.get(co)
        assert 'value="reply"' not in co_page.text  # a co unit does not reply
        co_form = {**form, "csrf": csrf_of(co_page.text), "reply_class": "A"}
        refused = client.post(f"{co}/items/{new_id}", data=co_form)
        assert refused.status_code == 409 and "答复代表委员由主办单位负责" in refused.text

    with transaction(app.engine) as session:
        item = session.get(FollowUpItem, new_id)
        assert item is not None
        assert (item.status, item.reply_class, item.replied_on) == (
            ItemStatus.FOLLOWING,  # class B stays under follow-up
            "B",
            app.today(),
        )
        (reply,) = session.exec(
            select(ProgressUpdate).where(ProgressUpdate.item_id == new_id)
        ).all()
    assert (reply.kind, reply.source, reply.claim) == (UpdateKind.REPLY, UpdateSource.WEB, "推进中")


def test_posts_need_the_pages_form_value_and_must_come_from_the_site(app: App) -> None:
    link = fresh_link(app, HEALTH)
    target = item_id(app, "730")
    with serving(create_web_app(app)) as base, httpx.Client(base_url=base) as client:
        csrf = csrf_of(client.get(link).text)
        form = {"kind": "progress", "claim": "推进中", "text": "进展"}
        for data, headers in [
            (form, {}),  # no form value
            ({**form, "csrf": csrf[:-2] + "xx"}, {}),  # an altered one
            ({**form, "csrf": csrf_of(client.get(fresh_link(app, "市财政局")).text)}, {}),
            ({**form, "csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
            ({**form, "csrf": csrf}, {"Origin": "https://elsewhere.example"}),
            ({**form, "csrf": csrf}, {"Origin": "null"}),
        ]:
            response = client.post(f"{link}/items/{target}", data=data, headers=headers)
            assert response.status_code == 403, (data, headers)
            assert "提交未被接受" in response.text
        ok = client.post(
            f"{link}/items/{target}", data={**form, "csrf": csrf}, headers={"Origin": base}
        )
        assert ok.status_code == 303
        again = client.post(f"{link}/items/{target}", data={**form, "csrf": csrf})
        assert again.status_code == 303  # the same report sent twice is recorded once
        # The spreadsheet upload wants a file (tests/test_web_sheet.py has the rest).
        sheet = client.post(f"{link}/sheet", data={"csrf": csrf})
        assert sheet.status_code == 400 and "请选择要上传的表格文件" in sheet.text
    assert len(reports(app)) == 1

    token = link.rsplit("/", 1)[1]
    value = form_token(app.settings, token, now=NOW)
    check_form_token(app.settings, token, value, now=NOW + timedelta(hours=23))
    with pytest.raises(LinkRefused, match="页面打开时间过长") as refused:
        check_form_token(app.settings, token, value, now=NOW + timedelta(hours=25))
    assert refused.value.status_code == 403


def test_a_unit_sees_and_fetches_only_its_own(app: App) -> None:
    health, finance = fresh_link(app, HEALTH), fresh_link(app, "市财政局")
    shared = item_id(app, "379")  # co-handled by 市财政局, not by 市卫生健康委
    with serving(create_web_app(app)) as base, httpx.Client(base_url=base) as client:
        page = client.get(finance)
        files = {"attachment": ("说明.txt", "财政局的附件".encode(), "text/plain")}
        data = {"csrf": csrf_of(page.text), "kind": "progress", "claim": "推进中", "text": "x"}
        assert client.post(f"{finance}/items/{shared}", data=data, files=files).status_code == 303
        (update,) = reports(app)

        mine = client.get(f"{finance}/files/{update.id}")
        assert mine.status_code == 200 and mine.content == "财政局的附件".encode()
        assert "attachment;" in mine.headers["content-disposition"]
        theirs = client.get(f"{health}/files/{update.id}")
        assert theirs.status_code == 404 and "财政局的附件" not in theirs.text
        # Another unit's confirmation is not shown, nor is its report.
        page = client.get(f"{health}?saved={update.id}")
        assert page.status_code == 200 and 'id="confirmation"' not in page.text
        assert f'id="item-{shared}"' not in page.text
        csrf = csrf_of(page.text)
        for target in (shared, 99999, "abc"):
            response = client.post(f"{health}/items/{target}", data={**data, "csrf": csrf})
            assert response.status_code == 404 and NOT_FOUND in response.text
    assert len(reports(app)) == 1


def test_uploads_are_checked_by_type_and_size(app: App) -> None:
    settings = app.settings.model_copy(update={"upload_max_mb": 0.01})  # 10 KiB
    allowed = "PDF、Word（doc、docx）、Excel（xls、xlsx）、图片（jpg、png）或文本（txt）文件"
    for name, data, message in [
        ("setup.exe", b"MZ\x90\x00", f"不支持该类型的附件。请上传{allowed}。"),
        ("报告.pdf", b"MZ\x90\x00", f"附件内容与文件类型（.pdf）不符。请上传{allowed}。"),
        ("报告.docx", b"PK\x03\x04 not a zip", "附件内容与文件类型（.docx）不符"),
        ("图.png", b"\xff\xd8\xff\xe0", "附件内容与文件类型（.png）不符"),
        ("说明.txt", b"text\x00with a NUL", "附件内容与文件类型（.txt）不符"),
        ("空.pdf", b"", "所选附件是空文件"),
        ("大.pdf", b"%PDF-" + b"0" * 20_000, "附件不能超过0.01MB"),
    ]:
        with pytest.raises(InputError, match=re.escape(message)):
            store_upload(settings, 1, name, data)
    assert not uploads_dir(settings).exists()

    kept = store_upload(settings, 7, "C:\\Users\\张三\\材料 (终稿).PDF", PDF)
    assert isinstance(kept, StoredFile) and kept.name == "材料 (终稿).PDF"
    assert re.fullmatch(r"7/[0-9a-f]{16}-材料_终稿\.pdf", kept.path) and kept.size == len(PDF)
    assert store_upload(settings, 7, "../../etc/passwd.txt", "一行文字\n".encode()).path.startswith(
        "7/"
    )

    link = fresh_link(app, HEALTH)
    with serving(create_web_app(app)) as base, httpx.Client(base_url=base) as client:
        page = client.get(link).text
        data = {"csrf": csrf_of(page), "kind": "progress", "claim": "推进中", "text": "附件测试"}
        target = f"{link}/items/{item_id(app, '730')}"
        exe = {"attachment": ("tool.exe", b"MZ\x90\x00" * 10, "application/octet-stream")}
        refused = client.post(target, data=data, files=exe)
        assert refused.status_code == 400 and f"请上传{allowed}" in refused.text
        assert ">附件测试</textarea>" in refused.text  # what was typed is kept
        big = {"attachment": ("大.pdf", b"%PDF-" + b"0" * (11 * 1024 * 1024), "application/pdf")}
        too_big = client.post(target, data=data, files=big)
        assert too_big.status_code == 413 and "附件不能超过10MB" in too_big.text
    assert reports(app) == []
    assert not (uploads_dir(app.settings) / str(unit_id(app, HEALTH))).exists()


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_an_upload_sent_without_a_length_is_cut_off_at_the_limit(app: App) -> None:
    link = fresh_link(app, HEALTH)
    with serving(create_web_app(app)) as base, httpx.Client(base_url=base, timeout=60) as client:
        csrf = csrf_of(client.get(link).text)
        fields = {"csrf": csrf, "kind": "progress", "claim": "推进中", "text": "大附件"}

        def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to check beforehand
            for name, value in fields.items():
                yield (
                    f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                ).encode()
            yield b'--b\r\nContent-Disposition: form-data; name="attachment"; filename="a.pdf"\r\n'
            yield b"Content-Type: application/pdf\r\n\r\n%PDF-"
            for _ in range(16 * 12):  # 12 MB, past the 10 MB limit and its 1 MB of form
                yield b"0" * 65536
            yield b"\r\n--b--\r\n"

        response = client.post(
            f"{link}/items/{item_id(app, '730')}",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert response.status_code == 413 and "附件不能超过10MB" in response.text
        assert response.headers["x-frame-options"] == "DENY"
    assert reports(app) == [] and files_under(uploads_dir(app.settings)) == []


def test_a_malformed_or_huge_id_is_no_record_and_keeps_no_file(app: App) -> None:
    link = fresh_link(app, HEALTH)
    with serving(create_web_app(app)) as base, httpx.Client(base_url=base) as client:
        page = client.get(link).text
        data = {"csrf": csrf_of(page), "kind": "progress", "claim": "推进中", "text": "进展"}
        pdf = {"attachment": ("报告.pdf", PDF, "application/pdf")}
        for target in ("²", "1" * 20, "-1"):
            response = client.post(f"{link}/items/{target}", data=data, files=pdf)
            assert response.status_code == 404 and NOT_FOUND in response.text, target
            assert response.headers["cache-control"] == "no-store"
            fetched = client.get(f"{link}/files/{target}")
            assert fetched.status_code == 404 and "没有找到该附件" in fetched.text, target
        for query in ("saved=²", f"saved={'9' * 20}", "sheet=²-1-1"):
            assert client.get(f"{link}?{query}").status_code == 200, query
    assert reports(app) == [] and files_under(uploads_dir(app.settings)) == []


def test_a_report_that_fails_keeps_no_file_and_a_race_is_told_in_chinese(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = fresh_link(app, HEALTH)
    target = f"{link}/items/{item_id(app, '730')}"

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database went away")

    def raced(*args, **kwargs):  # type: ignore[no-untyped-def]
        # What SQLAlchemy raises when the row moved on since it was read.
        raise StaleDataError("UPDATE statement on table 'assignment' expected 1 row; 0 matched")

    with serving(create_web_app(app)) as base, httpx.Client(base_url=base) as client:
        data = {"kind": "progress", "claim": "推进中", "text": "进展"}
        pdf = {"attachment": ("报告.pdf", PDF, "application/pdf")}
        csrf = csrf_of(client.get(link).text)
        monkeypatch.setattr(unit_pages, "submit_report", broken)
        # The server closes the connection after a 500: a connection of its own.
        failed = httpx.post(f"{base}{target}", data={**data, "csrf": csrf}, files=pdf)
        assert failed.status_code == 500
        assert files_under(uploads_dir(app.settings)) == []
        monkeypatch.setattr(unit_pages, "submit_report", raced)
        stale = client.post(target, data={**data, "csrf": csrf}, files=pdf)
        assert stale.status_code == 409
        assert "该事项刚刚被他人更新，请刷新页面后重新提交。" in stale.text
        assert "reload" not in stale.text
    assert reports(app) == [] and files_under(uploads_dir(app.settings)) == []


def test_revoking_raises_the_version_with_an_event(app: App, duban) -> None:
    with transaction(app.engine) as session:
        unit = find_unit(session, "市财政局")
        with pytest.raises(InputError, match="--reason"):
            revoke_unit_link(session, unit, NOW, "test", " ")
        assert revoke_unit_link(session, unit, NOW, "test", "转发") == 2
    with transaction(app.engine) as session:
        assert session.exec(select(Unit.link_version).where(Unit.name == "市财政局")).one() == 2

    shown = duban("link", "市财政局")
    assert shown.exit_code == 0 and "revoked" not in shown.output
    (url,) = re.findall(r"http://127\.0\.0\.1:8080/u/\S+", shown.output)
    claim = read_link(app.settings, url.rsplit("/", 1)[1], now=app.now())
    assert (claim.unit_id, claim.version) == (unit_id(app, "市财政局"), 2)
    refused = duban("link", "市财政局", "--revoke")
    assert refused.exit_code != 0 and "--reason" in refused.output
    assert "no unit named" in duban("link", "市没有局").output


def test_links_are_signed_and_expire(app: App) -> None:
    link = issue_link(app.settings, unit_id=3, link_version=2, now=NOW)
    token = link.url.rsplit("/", 1)[1]
    assert link.expires_on == date(2022, 9, 12)
    assert read_link(app.settings, token, now=NOW + timedelta(days=89)).version == 2
    with pytest.raises(LinkRefused) as expired:
        read_link(app.settings, token, now=NOW + timedelta(days=90, seconds=1))
    assert (expired.value.status_code, expired.value.message) == (410, EXPIRED)
    other = app.settings.model_copy(update={"secret_key": SecretStr("another secret")})
    for bad, settings in [(token, other), (token + "x", app.settings), ("abc", app.settings)]:
        with pytest.raises(LinkRefused) as refused:
            read_link(settings, bad, now=NOW)
        assert (refused.value.status_code, refused.value.message) == (403, INVALID)
