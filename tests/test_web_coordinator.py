"""The coordinators' side of the web pages: accounts, login, CSRF, the dashboard, the item list
and page, the workflow steps, the compiled table, and ``duban user``.

The pages are served on loopback (web_support.serving) and driven by a real headless Chromium or
by httpx over HTTP, on SQLite and on PostgreSQL. ``DUBAN_SCREENSHOTS=docs/screenshots`` makes
:func:`test_screenshots_of_the_main_pages` write the screenshots of the docs.
"""

import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from tempfile import SpooledTemporaryFile
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
import time_machine
from argon2 import PasswordHasher, Type
from cli_runner import Duban
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette import formparsers
from typer.testing import CliRunner
from web_support import serving

from flows.app import App
from flows.cli import app as cli_app
from flows.web import auth
from flows.web.app import create_web_app
from flows.web.auth import LoginThrottle, safe_next
from flows.web.links import issue_link
from tracking import coordinators
from tracking.coordinators import (
    create_coordinator,
    end_sessions,
    get_coordinator,
    set_active,
    set_password,
    verify_login,
)
from tracking.dashboard import build_dashboard, item_timeline, reply_latency
from tracking.db import transaction
from tracking.errors import ConflictError, InputError
from tracking.handling import record_reply
from tracking.importer import import_table
from tracking.items import ItemRef, NewItem, assign_item, find_item, find_unit
from tracking.models import (
    Coordinator,
    DeliveryStatus,
    Event,
    Extension,
    FollowUpItem,
    ItemStatus,
    Notification,
    ProgressUpdate,
    ReminderLog,
    Unit,
    UpdateKind,
    UpdateSource,
)
from tracking.units import load_units, read_units_file
from tracking.updates import record_update

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 6, 15, 9, 30, tzinfo=SHANGHAI)
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"
USER, PASSWORD = "wang", "correct horse battery"
SCRIPT = "<script>alert(1)</script>"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION = re.compile(r'name="expected_version" value="(\d+)"')


PRODUCTION_HASHER = coordinators.HASHER


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """At its real cost argon2 takes about 0.4 s a hash here; these tests use a cheap one."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(coordinators, "HASHER", cheap)


@dataclass
class Site:
    base: str
    duban: App

    def item_id(self, number: str) -> int:
        with transaction(self.duban.engine) as session:
            return find_item(session, ItemRef(number=number)).id  # type: ignore[return-value]

    def item(self, item_id: int) -> FollowUpItem:
        with transaction(self.duban.engine) as session:
            return session.get(FollowUpItem, item_id)  # type: ignore[return-value]

    def events(self, action: str) -> list[Event]:
        with transaction(self.duban.engine) as session:
            return list(session.exec(select(Event).where(Event.action == action)))


def prepare(app: App, seed: Path) -> None:
    """The 2022 table (under follow-up, no feedback), the demo units, and one coordinator."""
    import_table(
        app.engine, seed, year=2022, reported_on=date(2022, 11, 1), now=NOW, include_feedback=False
    )
    with transaction(app.engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")
        create_coordinator(
            session,
            username=USER,
            password=PASSWORD,
            display_name="王督办",
            now=NOW,
            actor="test",
        )


def assign_new(
    engine: Engine, *, number: str, title: str, assigned_on: date, year: int = 2023
) -> int:
    """A 政协提案 item led by 市民政局 with 市财政局 co-handling."""
    with transaction(engine) as session:
        item = assign_item(
            session,
            NewItem(
                year=year,
                category="政协提案",
                number=number,
                title=title,
                commitment="建成社区养老服务中心 3 个",
                lead_unit="市民政局",
                co_units=("市财政局",),
                assigned_on=assigned_on,
            ),
            now=NOW,
            actor="test",
        )
        return item.id  # type: ignore[return-value]


def web_report(app: App, item_id: int, text: str, *, unit: str = "市民政局") -> None:
    """What a unit's web page records: a progress report with source "web"."""
    with transaction(app.engine) as session:
        record_update(
            session,
            item=session.get(FollowUpItem, item_id),  # type: ignore[arg-type]
            unit=find_unit(session, unit),
            text=text,
            kind=UpdateKind.PROGRESS,
            reported_on=app.today(),
            source=UpdateSource.WEB,
            reported_by="李联络员",
            now=app.now(),
        )


def add_reminders(engine: Engine, item_id: int, sent_at: datetime) -> None:
    """What a chase leaves on an item: a digest to 市民政局, delivered, and a reminder to
    市财政局 skipped for want of an address (ledger and reminder log rows)."""
    with transaction(engine) as session:
        lead, co = find_unit(session, "市民政局"), find_unit(session, "市财政局")
        note = Notification(
            unit_id=lead.id,
            channel="email",
            kind="digest",
            dedupe_key=f"digest:{lead.id}:{sent_at.date()}",
            recipients=["mzj@example.org"],
            subject="督办提醒",
            body_text="…",
            status=DeliveryStatus.SENT,
            created_at=sent_at,
            sent_at=sent_at,
        )
        session.add(note)
        session.flush()
        for unit, obligation, decision, rule, notification_id in (
            (lead, "reply", "sent", "5 working days before the due date", note.id),
            (co, "co_opinion", "skipped", "市财政局 has no e-mail on file", None),
        ):
            session.add(
                ReminderLog(
                    run_on=sent_at.date(),
                    assignment_id=0,
                    unit_id=unit.id,  # type: ignore[arg-type]
                    item_id=item_id,
                    obligation=obligation,
                    due=sent_at.date() + timedelta(days=7),
                    stage="before-5",
                    decision=decision,
                    rule=rule,
                    notification_id=notification_id,
                    created_at=sent_at,
                )
            )


@pytest.fixture
def site(make_app, seed: Path) -> Iterator[Site]:
    app = make_app()
    prepare(app, seed)
    web = create_web_app(app)
    web.state.login_throttle = LoginThrottle(failure_delay=0)
    with serving(web) as base:
        yield Site(base, app)


def log_in(page, site: Site) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site.base}/login")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.base}/")


@contextmanager
def http_login(site: Site, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An HTTP client signed in as the coordinator (redirects are not followed)."""
    with httpx.Client(base_url=site.base, follow_redirects=False, timeout=30) as client:
        token = TOKEN.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        response = client.post(
            "/login", data={"username": USER, "password": password, "csrf_token": token}
        )
        assert response.status_code == 303, response.text
        yield client


def form_of(client: httpx.Client, item_id: int) -> dict[str, str]:
    """The hidden fields of the item page's forms: the CSRF token and the item's version."""
    page = client.get(f"/items/{item_id}").text
    return {
        "csrf_token": TOKEN.search(page).group(1),  # type: ignore[union-attr]
        "expected_version": VERSION.search(page, page.index("办理操作")).group(1),  # type: ignore[union-attr]
    }


# --- in the browser -----------------------------------------------------------------------------


def test_a_coordinator_logs_in_sees_the_dashboard_and_logs_out(site: Site, page) -> None:
    page.goto(f"{site.base}/items")
    assert page.url.startswith(f"{site.base}/login")  # not signed in: sent to the login page
    page.fill("#username", USER)
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text() == "用户名或密码不正确。"
    page.fill("#username", "nobody")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text() == "用户名或密码不正确。"  # the same words

    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.base}/items")  # back where they were going
    page.click("text=工作概览")
    assert "王督办" in page.locator("header").inner_text()
    counts = page.locator(".count").all_inner_texts()
    assert "跟踪落实\n11" in counts and "待签收\n0" in counts
    overdue = page.locator("section", has_text="逾期情况（按单位）")
    assert overdue.locator("td", has_text="市民政局").count() == 1
    assert "还没有单位通过网页填报" in page.content()

    # A unit reports on its web page; the coordinator sees it on the dashboard.
    web_report(site.duban, site.item_id("730"), "街路牌信息已录入 80%，预计 7 月底完成。")
    page.reload()
    submissions = page.locator("section", has_text="最近的网页填报")
    row = submissions.locator("tbody tr").first
    assert "市民政局" in row.inner_text() and "街路牌信息已录入 80%" in row.inner_text()
    row.get_by_role("link", name="730").click()
    assert "2022 年 人大建议 第 730 号" in page.locator("h2").first.inner_text()

    page.click("text=退出登录")
    page.wait_for_url(f"{site.base}/login")
    assert "已退出登录" in page.content()
    page.goto(f"{site.base}/")
    assert page.url == f"{site.base}/login"


def test_a_units_web_report_reaches_the_dashboard_and_a_revoked_link_stops(
    site: Site, page, chromium
) -> None:
    item_id = site.item_id("730")
    with transaction(site.duban.engine) as session:
        unit = find_unit(session, "市民政局")
        link = issue_link(
            site.duban.settings,
            unit_id=unit.id,  # type: ignore[arg-type]
            link_version=unit.link_version,
            now=site.duban.now(),
        )
    liaison = chromium.new_context(locale="zh-CN").new_page()  # the unit's own browser
    liaison.goto(f"{site.base}/u/{link.token}")
    card = liaison.locator(f"#item-{item_id}")
    card.locator("textarea[name=text]").fill("街路牌信息已录入 80%，预计 7 月底完成。")
    with liaison.expect_navigation():
        card.locator("button[type=submit]").click()
    assert "已收到贵单位" in liaison.locator("#confirmation").inner_text()

    log_in(page, site)
    row = page.locator("section", has_text="最近的网页填报").locator("tbody tr").first
    assert "市民政局" in row.inner_text()
    assert "街路牌信息已录入 80%，预计 7 月底完成。" in row.inner_text()

    page.goto(f"{site.base}/items/{item_id}")
    part = page.locator(f"#part-{unit.id}")
    part.locator("summary").click()
    revoke = part.locator("form[action$='/revoke-link']")
    revoke.locator("input[name=reason]").fill("联络员更换")
    revoke.get_by_role("button", name="撤销链接").click()
    page.wait_for_url(f"{site.base}/items/{item_id}")
    assert "已撤销市民政局的填报链接" in page.get_by_role("status").inner_text()
    assert "市民政局：撤销填报链接" in page.locator("#timeline").inner_text()
    refused = liaison.goto(f"{site.base}/u/{link.token}")
    assert refused is not None and refused.status == 410
    assert "链接已停用" in liaison.content()
    liaison.context.close()


def test_the_item_page_shows_the_timeline_and_an_extension_with_its_reason(
    site: Site, page
) -> None:
    item_id = assign_new(
        site.duban.engine,
        number="088",
        title="关于加快社区养老设施建设的提案",
        assigned_on=site.duban.today() - timedelta(days=20),
    )
    add_reminders(site.duban.engine, item_id, site.duban.now() - timedelta(days=3))
    web_report(site.duban, item_id, "已完成选址。")
    log_in(page, site)

    page.goto(f"{site.base}/items")
    page.select_option("#f-year", "2023")
    page.fill("#f-q", "养老")
    page.click("text=筛选")
    assert page.locator("h2", has_text="共 1 项").count() == 1
    page.get_by_role("link", name="关于加快社区养老设施建设的提案").click()
    page.wait_for_url(f"{site.base}/items/{item_id}")

    timeline = page.locator("#timeline")
    text = timeline.inner_text()
    assert "市民政局报送落实进展（网页填报" in text and "已完成选址。" in text
    assert "提醒市民政局联络员：答复代表委员" in text and "已送达" in text
    assert "mzj@example.org" in text
    assert "提醒市财政局联络员：向主办单位提交协办意见" in text and "未发送" in text
    assert "交办主办单位：市民政局" in text
    reply_due = page.locator("tr", has_text="答复期限").locator("td").nth(1).inner_text()

    form = page.locator("#extend-form")
    form.locator("input[name=months]").fill("2")
    form.locator("#extend-reason").fill("涉及跨部门协调，需延长办理时间")
    form.locator("#extend-approver").fill("市政府办公厅")
    form.get_by_role("button", name="延期").click()
    page.wait_for_url(f"{site.base}/items/{item_id}")
    assert page.get_by_role("status").inner_text() == "已延期 2 个月。"
    event = timeline.locator("tr", has_text="延期").first
    assert "涉及跨部门协调，需延长办理时间" in event.inner_text()
    assert USER in event.inner_text()  # the coordinator is the actor
    reply_row = page.locator("tr", has_text="答复期限").locator("td")
    assert reply_row.nth(2).inner_text() == reply_due  # the original stays the baseline
    assert reply_row.nth(1).inner_text() != reply_due
    assert "已延 2 个月，上限 3 个月" in page.content()
    with transaction(site.duban.engine) as session:
        (extension,) = session.exec(select(Extension).where(Extension.item_id == item_id))
    assert (extension.months, extension.approved_by) == (2, "市政府办公厅")


def test_a_post_without_the_csrf_token_is_refused(site: Site, page) -> None:
    item_id = site.item_id("730")
    page.goto(f"{site.base}/login")
    # The login form itself: the anonymous session has a token, the post does not carry it.
    refused = page.request.post(
        f"{site.base}/login", form={"username": USER, "password": PASSWORD}, max_redirects=0
    )
    assert refused.status == 403
    assert "未通过安全校验" in refused.text()
    log_in(page, site)
    version = str(site.item(item_id).version)
    for token in (None, "", "forged-token-forged-token-forged-token"):
        form = {"expected_version": version, "reason": "回头看核实已落实"}
        if token is not None:
            form["csrf_token"] = token
        response = page.request.post(
            f"{site.base}/items/{item_id}/close", form=form, max_redirects=0
        )
        assert response.status == 403, token
        assert "未通过安全校验" in response.text()
    assert site.item(item_id).status == ItemStatus.FOLLOWING  # nothing happened
    assert page.request.post(f"{site.base}/logout", max_redirects=0).status == 403
    page.goto(f"{site.base}/")
    assert page.url == f"{site.base}/"  # still signed in: the forged logout did nothing


def test_a_stale_form_gets_a_conflict_page(site: Site, page) -> None:
    item_id = site.item_id("730")
    log_in(page, site)
    page.goto(f"{site.base}/items/{item_id}")
    # Meanwhile another coordinator records the reply.
    with transaction(site.duban.engine) as session:
        item = session.get(FollowUpItem, item_id)
        record_reply(
            session,
            item,  # type: ignore[arg-type]
            find_unit(session, "市民政局"),
            text="已答复代表",
            reply_class="B",
            follows_up=True,
            on=date(2022, 6, 20),
            source=UpdateSource.CLI,
            now=site.duban.now(),
            actor="zhao",
        )
    form = page.locator("#close-form")
    form.locator("#close-reason").fill("回头看核实已落实")
    with page.expect_response(f"{site.base}/items/{item_id}/close") as answer:
        form.get_by_role("button", name="办结").click()
    assert answer.value.status == 409
    alert = page.get_by_role("alert").inner_text()
    assert "已被他人修改" in alert and "reload and try again" in alert
    assert site.item(item_id).status == ItemStatus.FOLLOWING  # the stale close was not applied


def test_what_users_typed_is_shown_as_text(site: Site, page) -> None:
    item_id = assign_new(
        site.duban.engine, number="099", title=f"标题{SCRIPT}", assigned_on=date(2023, 2, 15)
    )
    web_report(site.duban, item_id, f'进展<img src=x onerror="alert(2)">{SCRIPT}')
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, site)
    assert page.get_by_text(f'进展<img src=x onerror="alert(2)">{SCRIPT}').count() == 1
    page.goto(f"{site.base}/items?q={SCRIPT}")
    assert page.get_by_role("link", name=f"标题{SCRIPT}").count() == 1
    assert page.locator("#f-q").input_value() == SCRIPT
    page.goto(f"{site.base}/items/{item_id}")
    assert f"标题{SCRIPT}" in page.locator("dl.facts").inner_text()
    form = page.locator("#extend-form")
    form.locator("#extend-reason").fill(f"原因{SCRIPT}")
    form.locator("#extend-approver").fill(SCRIPT)
    form.get_by_role("button", name="延期").click()
    page.wait_for_url(f"{site.base}/items/{item_id}")
    assert f"原因{SCRIPT}" in page.locator("#timeline").inner_text()
    assert page.locator("script").count() == 0  # the pages themselves carry no script
    assert dialogs == []


# --- over HTTP --------------------------------------------------------------------------------


@pytest.fixture
def spooled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many bytes the form parser writes to temporary files (one entry per write)."""
    writes: list[int] = []

    class Counting(SpooledTemporaryFile):  # type: ignore[type-arg]
        def write(self, data: bytes) -> int:  # type: ignore[override]
            writes.append(len(data))
            return super().write(data)

    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", Counting)
    return writes


def test_a_large_post_is_refused_before_anything_is_kept(site: Site, spooled: list[int]) -> None:
    big = b"%PDF-" + b"x" * (5 * 1024 * 1024)
    with httpx.Client(base_url=site.base, follow_redirects=False, timeout=30) as client:
        token = TOKEN.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        form = {"username": USER, "password": PASSWORD, "csrf_token": token}
        declared = client.post("/login", data=form, files={"file": ("a.pdf", big)})
        assert declared.status_code == 413
        assert "提交的内容过大" in declared.text
        assert declared.headers["x-frame-options"] == "DENY"

        def chunks() -> Iterator[bytes]:  # sent without a length: counted as it comes
            yield f"csrf_token={token}&username={USER}&password=".encode()
            for _ in range(80):
                yield b"x" * 65536

        chunked = client.post(
            "/login",
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert chunked.status_code == 413
        assert client.get("/").status_code == 303  # not signed in by either
    assert spooled == []  # the file was never read


def test_a_coordinators_form_may_not_carry_a_file(site: Site, spooled: list[int]) -> None:
    with httpx.Client(base_url=site.base, follow_redirects=False, timeout=30) as client:
        token = TOKEN.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        form = {"username": USER, "password": PASSWORD, "csrf_token": token}
        refused = client.post("/login", data=form, files={"file": ("a.txt", b"hello")})
        assert refused.status_code == 403  # none of these pages' forms
        assert client.get("/").status_code == 303  # not signed in
        assert client.post("/login", data=form).status_code == 303
    assert spooled == []


def test_every_page_needs_a_login(site: Site) -> None:
    with httpx.Client(base_url=site.base, follow_redirects=False) as client:
        for path in ("/", "/items?status=open", "/items/1", "/compiled/2022.xlsx"):
            response = client.get(path)
            assert response.status_code == 303, path
            expected = "/login" if path == "/" else f"/login?next={quote_all(path)}"
            assert response.headers["location"] == expected
        # A post is refused before anything else: it has no CSRF token (no session at all).
        assert client.post("/items/1/close", data={"reason": "x"}).status_code == 403
        # With a session and its token, but not signed in: sent to log in, nothing done.
        token = TOKEN.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        response = client.post("/pause", data={"csrf_token": token, "action": "pause"})
        assert (response.status_code, response.headers["location"]) == (303, "/login")


def quote_all(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


def test_the_pages_may_not_be_framed_cached_or_run_scripts(site: Site) -> None:
    with http_login(site) as client:
        for path in ("/", "/items", f"/items/{site.item_id('730')}", "/compiled/2022.xlsx"):
            headers = client.get(path).headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert "script-src" not in headers["content-security-policy"]  # default-src 'none'
            assert headers["x-frame-options"] == "DENY"
            assert headers["cache-control"] == "no-store"


def test_refusals_carry_the_same_headers_and_a_malformed_id_is_not_found(site: Site) -> None:
    huge = "9" * 20
    with http_login(site) as client:
        for path, status in (
            ("/items/99999", 404),
            ("/items/²", 404),
            (f"/items/{huge}", 404),
            ("/compiled/1999.xlsx", 404),
            (f"/compiled/{huge}.xlsx", 404),
            ("/items?year=abc", 400),
            (f"/items?year={huge}", 400),
            ("/no/such/page", 404),
        ):
            response = client.get(path)
            assert response.status_code == status, path
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
            assert response.headers["cache-control"] == "no-store", path
            assert response.headers["content-type"].startswith("text/html"), path
        token = TOKEN.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        for path in ("/items/²/close", f"/items/{huge}/extend", f"/units/{huge}/snooze"):
            form = {"csrf_token": token, "expected_version": "1", "lift": "1"}
            response = client.post(path, data=form)
            assert response.status_code == 404, path
            assert response.headers["x-frame-options"] == "DENY"
        with transaction(site.duban.engine) as session:
            unit = find_unit(session, "市民政局")
        lifted = client.post(
            f"/units/{unit.id}/snooze",
            data={"csrf_token": token, "lift": "1", "back": "²", "expected_version": unit.version},
        )
        assert (lifted.status_code, lifted.headers["location"]) == (303, "/")


def test_logging_in_starts_a_new_session_and_goes_only_within_the_site(site: Site) -> None:
    with httpx.Client(base_url=site.base, follow_redirects=False) as client:
        before = TOKEN.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        response = client.post(
            "/login",
            data={
                "username": USER,
                "password": PASSWORD,
                "csrf_token": before,
                "next": "//evil.example/",
            },
        )
        assert (response.status_code, response.headers["location"]) == (303, "/")
        after = TOKEN.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        assert after != before  # a token seen before the login is no use after it
    assert [safe_next(v) for v in ("/items?x=1", "https://evil", "/\\evil", "", None)] == [
        "/items?x=1",
        "/",
        "/",
        "/",
        "/",
    ]
    with transaction(site.duban.engine) as session:
        coordinator = session.exec(select(Coordinator)).one()
        assert coordinator.last_login_at is not None


def test_failed_logins_are_limited_and_never_tell_whether_the_name_exists(
    make_app, seed: Path
) -> None:
    app = make_app()
    prepare(app, seed)
    web = create_web_app(app)
    web.state.login_throttle = LoginThrottle(per_name=3, per_client=5, failure_delay=0)
    with serving(web) as base, httpx.Client(base_url=base) as client:
        token = TOKEN.search(client.get("/login").text).group(1)  # type: ignore[union-attr]

        def attempt(username: str, password: str) -> httpx.Response:
            form = {"username": username, "password": password, "csrf_token": token}
            return client.post("/login", data=form, follow_redirects=False)

        unknown, wrong = attempt("nobody", "whatever it is"), attempt(USER, "wrong password")
        assert unknown.status_code == wrong.status_code == 401
        assert _alert(unknown.text) == _alert(wrong.text) == "用户名或密码不正确。"
        attempt(USER, "wrong again")
        attempt(USER, "and again")
        limited = attempt(USER, PASSWORD)  # the right password, too late
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert _alert(limited.text) == "登录失败次数过多，请 15 分钟后再试。"
        assert attempt("nobody", "whatever").status_code == 401  # 5th failure from this client
        assert attempt("other", "whatever").status_code == 429  # the client is limited now


def _alert(page: str) -> str:
    return re.search(r'role="alert">([^<]*)<', page).group(1)  # type: ignore[union-attr]


def test_the_throttle_forgets_failures_after_its_window() -> None:
    clock = [1000.0]
    throttle = LoginThrottle(per_name=2, per_client=10, window=60, clock=lambda: clock[0])
    keys = throttle.keys(" Wang ", "10.0.0.1")
    assert keys == ("name:wang", "client:10.0.0.1")
    throttle.failed(keys)
    throttle.failed(keys)
    assert throttle.retry_after(keys) == pytest.approx(60)
    clock[0] += 30
    assert throttle.retry_after(throttle.keys("WANG", "10.0.0.2")) == pytest.approx(30)
    clock[0] += 31
    assert throttle.retry_after(keys) is None
    assert throttle.reserve(keys) is None
    throttle.succeeded(keys)
    assert throttle.retry_after(keys) is None


def test_a_try_is_counted_before_its_password_is_checked() -> None:
    throttle = LoginThrottle(per_name=2, per_client=10, window=60, clock=lambda: 1000.0)
    keys = throttle.keys("wang", "10.0.0.1")
    assert throttle.reserve(keys) is None and throttle.reserve(keys) is None
    assert throttle.reserve(keys) == pytest.approx(1.0)  # two under way: the third waits
    throttle.released(keys)  # one ended in an error: not counted
    throttle.failed(keys)
    assert throttle.reserve(keys) is None
    throttle.failed(keys)
    assert throttle.reserve(keys) == pytest.approx(60)


def test_parallel_guesses_get_no_more_password_checks_than_the_limit(
    make_app, seed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    prepare(app, seed)
    web = create_web_app(app)
    web.state.login_throttle = LoginThrottle(per_name=5, per_client=30, failure_delay=0)
    checked: list[str] = []

    def slow_check(*args, **kwargs):  # type: ignore[no-untyped-def]
        checked.append(args[1])
        time.sleep(0.5)  # every guess is still being checked when the last one arrives
        return verify_login(*args, **kwargs)

    monkeypatch.setattr(auth, "verify_login", slow_check)
    with serving(web) as base, httpx.Client(base_url=base) as client:
        token = TOKEN.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        cookies = dict(client.cookies)

        def guess(number: int) -> int:
            form = {"username": USER, "password": f"guess {number}", "csrf_token": token}
            with httpx.Client(base_url=base, cookies=cookies, timeout=30) as own:
                return own.post("/login", data=form).status_code

        with ThreadPoolExecutor(max_workers=15) as pool:
            statuses = sorted(pool.map(guess, range(15)))
    assert len(checked) == 5
    assert statuses == [401] * 5 + [429] * 10


def test_the_workflow_steps_record_the_coordinator(site: Site) -> None:
    item_id = assign_new(
        site.duban.engine, number="101", title="关于养老的提案", assigned_on=date(2023, 2, 15)
    )
    with http_login(site) as client:
        reply = client.post(
            f"/items/{item_id}/reply",
            data={
                **form_of(client, item_id),
                "reply_class": "B",
                "text": "正在解决",
                "on": "2023-05-10",
            },
        )
        assert reply.status_code == 303 and reply.headers["location"] == f"/items/{item_id}"
        page = client.get(f"/items/{item_id}").text
        assert "已登记市民政局的答复，类别 B。" in page
        assert site.item(item_id).status == ItemStatus.FOLLOWING

        rate = client.post(
            f"/items/{item_id}/rate", data={**form_of(client, item_id), "rating": "不满意"}
        )
        assert rate.status_code == 303
        assert site.item(item_id).status == ItemStatus.REOPENED

        bad = client.post(
            f"/items/{item_id}/rate", data={**form_of(client, item_id), "rating": "很好"}
        )
        assert bad.status_code == 400 and "满意度应为 满意、基本满意、不满意 之一。" in bad.text

        moved = client.post(
            f"/items/{item_id}/reassign",
            data={
                **form_of(client, item_id),
                "from_unit": "市财政局",
                "to_unit": "市教育局",
                "reason": "职能调整",
            },
        )
        assert moved.status_code == 409  # 市财政局 did not return it: needs the override box
        moved = client.post(
            f"/items/{item_id}/reassign",
            data={
                **form_of(client, item_id),
                "from_unit": "市财政局",
                "to_unit": "市教育局",
                "reason": "职能调整",
                "override": "1",
            },
        )
        assert moved.status_code == 303

        closed = client.post(
            f"/items/{item_id}/close",
            data={**form_of(client, item_id), "reason": "回头看核实已落实", "on": "2023-11-25"},
        )
        assert closed.status_code == 303
        assert site.item(item_id).closed_on == date(2023, 11, 25)
        missing = client.post(f"/items/{item_id}/close", data={**form_of(client, item_id)})
        assert missing.status_code == 400 and "请填写办结原因。" in missing.text

        actors = {
            e.actor
            for a in ("item.reply", "item.rating", "assignment.reassign")
            for e in site.events(a)
        }
        assert actors == {USER}
        timeline = client.get(f"/items/{item_id}").text
        assert "调整承办单位：市财政局 → 市教育局" in timeline
        assert "事项状态：重新办理 → 已落实" in timeline


def test_pausing_snoozing_and_revoking_a_link(site: Site) -> None:
    item_id = site.item_id("730")
    with transaction(site.duban.engine) as session:
        unit = find_unit(session, "市卫生健康委")
        unit_id, unit_version, link_version = unit.id, unit.version, unit.link_version
    with http_login(site) as client:
        token = form_of(client, item_id)["csrf_token"]
        refused = client.post("/pause", data={"csrf_token": token, "action": "pause"})
        assert refused.status_code == 400 and "请填写暂停原因。" in refused.text
        paused = client.post(
            "/pause", data={"csrf_token": token, "action": "pause", "reason": "系统维护"}
        )
        assert paused.status_code == 303
        assert "全部提醒已暂停（wang" in client.get("/").text
        client.post("/pause", data={"csrf_token": token, "action": "resume"})
        assert "全部提醒已暂停" not in client.get("/").text

        snoozed = client.post(
            f"/units/{unit_id}/snooze",
            data={
                "csrf_token": token,
                "expected_version": str(unit_version),
                "until": "2099-09-01",
                "reason": "机构改革",
                "back": str(item_id),
            },
        )
        assert (snoozed.status_code, snoozed.headers["location"]) == (303, f"/items/{item_id}")
        assert "暂停至 2099年9月1日：机构改革" in client.get(f"/items/{item_id}").text
        stale = client.post(
            f"/units/{unit_id}/snooze",
            data={"csrf_token": token, "expected_version": str(unit_version), "lift": "1"},
        )
        assert stale.status_code == 409

        revoked = client.post(
            f"/units/{unit_id}/revoke-link",
            data={"csrf_token": token, "reason": "联络员更换", "back": str(item_id)},
        )
        assert revoked.status_code == 303
        assert "已撤销市卫生健康委的填报链接" in client.get(f"/items/{item_id}").text
    with transaction(site.duban.engine) as session:
        unit = session.get(Unit, unit_id)
        assert unit.link_version == link_version + 1  # type: ignore[union-attr]
        assert unit.snoozed_until == date(2099, 9, 1)  # type: ignore[union-attr]
    (revoke,) = site.events("unit.link_revoke")
    assert (revoke.actor, revoke.reason) == (USER, "联络员更换")
    assert {e.actor for e in site.events("chase.pause") + site.events("unit.snooze")} == {USER}


def test_a_coordinator_downloads_a_units_attachment(site: Site) -> None:
    item_id = site.item_id("730")
    with transaction(site.duban.engine) as session:
        unit = find_unit(session, "市民政局")
        link = issue_link(
            site.duban.settings,
            unit_id=unit.id,  # type: ignore[arg-type]
            link_version=unit.link_version,
            now=site.duban.now(),
        )
    with httpx.Client(base_url=site.base) as liaison:  # the unit sends a report with a file
        page = liaison.get(f"/u/{link.token}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = {"csrf": csrf, "kind": "progress", "claim": "推进中", "text": "附上实施方案。"}
        files = {"attachment": ("实施方案.pdf", PDF, "application/pdf")}
        sent = liaison.post(f"/u/{link.token}/items/{item_id}", data=form, files=files)
        assert sent.status_code == 303
    with transaction(site.duban.engine) as session:
        (update_id,) = session.exec(
            select(ProgressUpdate.id).where(ProgressUpdate.attachment_path.is_not(None))  # type: ignore[union-attr]
        )
    target = f"/attachments/{update_id}"
    with httpx.Client(base_url=site.base, follow_redirects=False) as anonymous:
        refused = anonymous.get(target)
        assert (refused.status_code, refused.headers["location"]) == (
            303,
            f"/login?next=%2Fattachments%2F{update_id}",
        )
    with http_login(site) as client:
        assert f'href="{target}">实施方案.pdf</a>' in client.get("/").text
        assert f'href="{target}">实施方案.pdf</a>' in client.get(f"/items/{item_id}").text
        fetched = client.get(target)
        assert fetched.status_code == 200 and fetched.content == PDF
        assert fetched.headers["content-disposition"].startswith("attachment;")
        assert fetched.headers["x-content-type-options"] == "nosniff"
        assert fetched.headers["cache-control"] == "no-store"
        for missing in ("99999", "²", "9" * 20):
            assert client.get(f"/attachments/{missing}").status_code == 404, missing


def test_the_compiled_table_downloads(site: Site) -> None:
    with http_login(site) as client:
        response = client.get("/compiled/2022.xlsx")
        missing = client.get("/compiled/1999.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="summary-2022.xlsx"' in response.headers["content-disposition"]
    sheet = openpyxl.load_workbook(BytesIO(response.content)).active
    assert sheet["A1"].value == "市民政局2022年度跟踪办理建议提案落实情况汇总表"
    assert [row[2] for row in sheet.iter_rows(min_row=3, values_only=True)][:2] == ["730", "152"]
    assert missing.status_code == 404 and "1999 年没有跟踪落实事项" in missing.text


def test_a_disabled_account_or_a_new_password_ends_the_session(site: Site) -> None:
    with http_login(site) as client:
        assert client.get("/").status_code == 200
        with transaction(site.duban.engine) as session:
            set_password(session, USER, "a brand new password", now=NOW, actor="test")
        response = client.get("/items")
        assert (response.status_code, response.headers["location"]) == (
            303,
            "/login?next=%2Fitems",
        )
    with http_login(site, password="a brand new password") as client:
        assert client.get("/").status_code == 200
        with transaction(site.duban.engine) as session:
            set_active(session, USER, False, now=NOW, actor="test")
        assert client.get("/").headers["location"] == "/login"


def test_logging_out_ends_every_copy_of_the_session(site: Site) -> None:
    with http_login(site) as client:
        copied = dict(client.cookies)  # e.g. taken from the browser by someone else
        token = TOKEN.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    with httpx.Client(base_url=site.base, cookies=copied, follow_redirects=False) as replay:
        response = replay.get("/items")
        assert (response.status_code, response.headers["location"]) == (
            303,
            "/login?next=%2Fitems",
        )
    with http_login(site) as client:  # a new login works, and is out again at its logout
        assert client.get("/").status_code == 200


def test_a_session_ends_eight_hours_after_its_login_however_busy(site: Site) -> None:
    login = datetime(2022, 6, 15, 8, 0, tzinfo=SHANGHAI)
    with time_machine.travel(login, tick=True) as clock, http_login(site) as client:
        token = TOKEN.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        for hours in (3, 3, 1.9):
            clock.shift(timedelta(hours=hours))
            # A step leaves a message for the next page: the cookie is signed anew.
            resumed = client.post("/pause", data={"csrf_token": token, "action": "resume"})
            assert resumed.status_code == 303 and "set-cookie" in resumed.headers
            assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=7))  # 8 hours after the login
        response = client.get("/")
        assert (response.status_code, response.headers["location"]) == (303, "/login")


# --- the read models and the accounts -----------------------------------------------------------


def test_the_dashboard_counts_latency_owing_units_and_web_reports(engine, seed: Path) -> None:
    import_table(
        engine, seed, year=2022, reported_on=date(2022, 11, 1), now=NOW, include_feedback=False
    )
    with transaction(engine) as session:
        load_units(session, read_units_file(UNITS), now=NOW, actor="test")
    first = assign_new(engine, number="201", title="甲", assigned_on=date(2023, 2, 1))
    second = assign_new(engine, number="202", title="乙", assigned_on=date(2023, 2, 1))
    assign_new(engine, number="203", title="丙", assigned_on=date(2023, 2, 1))
    with transaction(engine) as session:
        unit = find_unit(session, "市民政局")
        for item_id, replied in ((first, date(2023, 3, 3)), (second, date(2023, 4, 12))):
            record_reply(
                session,
                session.get(FollowUpItem, item_id),  # type: ignore[arg-type]
                unit,
                text="答复",
                reply_class="A",
                follows_up=False,
                on=replied,
                source=UpdateSource.CLI,
                now=NOW,
                actor="test",
            )
        for minutes, text in ((1, "较早"), (2, "较晚")):
            record_update(
                session,
                item=session.get(FollowUpItem, first),  # type: ignore[arg-type]
                unit=find_unit(session, "市财政局"),
                text=text,
                kind=UpdateKind.PROGRESS,
                reported_on=date(2023, 3, 5),
                source=UpdateSource.WEB,
                reported_by="x",
                now=NOW + timedelta(minutes=minutes),
            )
    with Session(engine) as session:
        per_unit, overall = reply_latency(session)
    # 2023-02-01 to 03-03 is 30 days, to 04-12 is 70; item 203 is still waiting.
    assert [
        (r.unit, r.replied, r.median_days, r.average_days, r.longest_days, r.waiting)
        for r in per_unit
    ] == [("市民政局", 2, 50.0, 50.0, 70, 1)]
    assert overall is not None and overall.unit == "全部" and overall.median_days == 50.0

    from config.policy import load_policy
    from tracking.workdays import WorkCalendar

    policy = load_policy()
    with Session(engine) as session:
        board = build_dashboard(
            session,
            as_of=date(2023, 6, 1),
            policy=policy,
            calendar=WorkCalendar.from_corrections(policy.calendar),
            interval_days=30,
        )
    counts = {c.label: c.count for c in board.status_counts}
    assert counts["跟踪落实"] == 11 and counts["已答复"] == 2 and counts["待签收"] == 1
    assert board.total == 14
    assert [s.text for s in board.web_submissions] == ["较晚", "较早"]
    by_unit = {row.unit: row for row in board.owing}
    assert by_unit["市民政局"].owes_reply == 1  # item 203 is not replied yet
    assert by_unit["市民政局"].overdue_items == 12  # 11 seed items and 203 (due 2023-05-04)
    assert board.overdue_units[0].unit == "市民政局"


def test_an_item_timeline_merges_reports_reminders_and_changes(engine, seed: Path) -> None:
    import_table(
        engine, seed, year=2022, reported_on=date(2022, 11, 1), now=NOW, include_feedback=False
    )
    with transaction(engine) as session:
        item = find_item(session, ItemRef(number="730"))
        record_update(
            session,
            item=item,
            unit=find_unit(session, "市民政局"),
            text="进展",
            kind=UpdateKind.FINAL,
            reported_on=date(2022, 6, 16),
            source=UpdateSource.WEB,
            reported_by="李",
            now=NOW + timedelta(hours=1),
        )
        entries = item_timeline(session, item.id)  # type: ignore[arg-type]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    labels = [e.label for e in entries]
    assert "交办主办单位：市民政局" in labels
    assert "市民政局报送最终落实情况（网页填报，报送日期 2022-06-16）" in labels
    assert "事项状态：跟踪落实 → 已落实" in labels
    assert not any(label.startswith("update.") for label in labels)


def test_accounts_are_created_checked_and_disabled(engine) -> None:
    with transaction(engine) as session:
        created = create_coordinator(
            session, username=" wang ", password=PASSWORD, now=NOW, actor="test"
        )
        assert created.username == "wang" and created.password_hash.startswith("$argon2id$")
        assert PASSWORD not in created.password_hash
        with pytest.raises(ConflictError, match="already exists"):
            create_coordinator(session, username="wang", password=PASSWORD, now=NOW, actor="t")
        for name, password, problem in (
            ("li", "short", "at least 10 characters"),
            ("li ming", PASSWORD, "one word"),
            ("", PASSWORD, "empty"),
            ("li", " " * 12, "only spaces"),
        ):
            with pytest.raises(InputError, match=problem):
                create_coordinator(session, username=name, password=password, now=NOW, actor="t")
    with transaction(engine) as session:
        assert verify_login(session, "wang", PASSWORD, now=NOW) is not None
        assert verify_login(session, "wang", "wrong password", now=NOW) is None
        assert verify_login(session, "nobody", PASSWORD, now=NOW) is None
        assert created.session_epoch == 0
        end_sessions(session, created.id)  # type: ignore[arg-type]
        set_password(session, "wang", "another long password", now=NOW, actor="test")
        set_active(session, "wang", False, now=NOW, actor="test")
        assert verify_login(session, "wang", "another long password", now=NOW) is None
        assert get_coordinator(session, "wang").session_epoch == 3  # each ended the sessions
    with transaction(engine) as session:
        actions = [e.action for e in session.exec(select(Event).order_by(Event.id))]
    assert actions == ["coordinator.create", "coordinator.password", "coordinator.disable"]


def test_a_weaker_hash_is_replaced_at_login(engine) -> None:
    assert PRODUCTION_HASHER.type == Type.ID and PRODUCTION_HASHER.memory_cost >= 64 * 1024
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with transaction(engine) as session:
        create_coordinator(
            session, username="wang", password=PASSWORD, now=NOW, actor="t", hasher=weak
        )
    with transaction(engine) as session:
        found = verify_login(session, "wang", PASSWORD, now=NOW)
        assert found is not None and "m=8," not in found.password_hash
    with transaction(engine) as session:
        assert verify_login(session, "wang", PASSWORD, now=NOW) is not None


# --- duban user -------------------------------------------------------------------------------


def test_user_commands_add_list_and_disable(duban: Duban) -> None:
    runner = CliRunner()
    added = runner.invoke(
        cli_app,
        ["user", "add", "wang", "--display-name", "王督办", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    prompted = runner.invoke(cli_app, ["user", "add", "li"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # the password is not echoed
    short = runner.invoke(cli_app, ["user", "add", "zhao", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.stderr
    twice = runner.invoke(
        cli_app, ["user", "add", "wang", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert twice.exit_code == 1 and "already exists" in twice.stderr

    assert duban("user", "disable", "li").exit_code == 0
    listed = duban("user", "list")
    assert listed.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if "│" in line}
    assert "王督办" in rows["wang"] and "active" in rows["wang"] and "never" in rows["wang"]
    assert "disabled" in rows["li"]
    missing = duban("user", "disable", "nobody")
    assert missing.exit_code == 1 and "no coordinator named 'nobody'" in missing.stderr
    changed = runner.invoke(
        cli_app, ["user", "password", "li", "--password-stdin"], input="another long one\n"
    )
    assert changed.exit_code == 0 and duban("user", "enable", "li").exit_code == 0


# --- the screenshots in docs/ ----------------------------------------------------------------


@pytest.mark.skipif(
    not os.environ.get("DUBAN_SCREENSHOTS"), reason="set DUBAN_SCREENSHOTS=docs/screenshots"
)
def test_screenshots_of_the_main_pages(make_app, seed: Path, page, database_url: str) -> None:
    """The pages as of 2022-08-10, with the 2022 table, two items added that spring, reports
    from the units' pages, a chase's reminders and a reply."""
    if not database_url.startswith("sqlite"):
        pytest.skip("one set of screenshots is enough")
    folder = Path(os.environ["DUBAN_SCREENSHOTS"])
    folder.mkdir(parents=True, exist_ok=True)
    with time_machine.travel(datetime(2022, 8, 10, 10, 30, tzinfo=SHANGHAI), tick=True):
        app = make_app()
        prepare(app, seed)
        item_id = assign_new(
            app.engine,
            year=2022,
            number="088",
            title="关于加快社区养老设施建设的提案",
            assigned_on=date(2022, 5, 16),
        )
        replied = assign_new(
            app.engine,
            year=2022,
            number="091",
            title="关于完善困难群众临时救助机制的提案",
            assigned_on=date(2022, 3, 10),
        )
        with transaction(app.engine) as session:
            record_reply(
                session,
                session.get(FollowUpItem, replied),  # type: ignore[arg-type]
                find_unit(session, "市民政局"),
                text="已答复，临时救助审批权限下放至街道，正在制定实施细则。",
                reply_class="B",
                follows_up=True,
                on=date(2022, 5, 20),
                source=UpdateSource.CLI,
                now=app.now() - timedelta(days=80),
                actor="wang",
            )
        add_reminders(app.engine, item_id, app.now() - timedelta(days=2))
        web = create_web_app(app)
        with serving(web) as base:
            site = Site(base, app)
            web_report(
                app,
                site.item_id("199"),
                "已会同教育、卫健部门完成第一轮摸底，形成工作方案。",
                unit="市人力资源社会保障局",
            )
            web_report(app, item_id, "已完成 2 个中心的选址，第 3 个正在与街道协调。")
            page.goto(f"{base}/login")
            page.screenshot(path=folder / "login.png")
            log_in(page, site)
            page.screenshot(path=folder / "dashboard.png", full_page=True)
            page.goto(f"{base}/items?year=2022&status=open")
            page.screenshot(path=folder / "items.png", full_page=True)
            page.goto(f"{base}/items/{item_id}")
            form = page.locator("#extend-form")
            form.locator("#extend-reason").fill("涉及跨部门用地协调，需延长办理时间")
            form.locator("#extend-approver").fill("市政府办公厅")
            form.get_by_role("button", name="延期").click()
            page.wait_for_url(f"{base}/items/{item_id}")
            page.screenshot(path=folder / "item.png", full_page=True)


def test_a_long_item_list_comes_in_pages_that_keep_the_filters(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.web import coordinator_pages

    monkeypatch.setattr(coordinator_pages, "ITEMS_PER_PAGE", 4)
    numbers = re.compile(r'<td class="nowrap"><a href="/items/\d+">([^<]+)</a></td>')
    with http_login(site) as client:
        pages = [client.get("/items", params={"page": n}) for n in (1, 2, 3)]
        seen = [numbers.findall(page.text) for page in pages]
        assert [len(numbers) for numbers in seen] == [4, 4, 3]
        assert sorted(number for page in seen for number in page) == sorted(
            ["730", "152", "199", "217", "250", "271", "289", "321", "379", "445", "451"]
        )  # each item once, none lost
        assert "共 11 项" in pages[0].text and "第 1 / 3 页" in pages[0].text
        assert 'href="/items?page=2" rel="next"' in pages[0].text
        assert 'rel="prev"' in pages[1].text and 'rel="next"' not in pages[2].text
        beyond = client.get("/items", params={"page": "99"})  # past the end: the last page
        assert numbers.findall(beyond.text) == seen[2]

        # A filter is kept across pages, and the search runs before the pages are cut.
        health = client.get("/items", params={"unit": "市卫生健康委"})
        assert "共 4 项" in health.text and "第 1 / 1 页" not in health.text
        searched = client.get("/items", params={"q": "养老", "page": "1"})
        found = re.search(r"共 (\d+) 项", searched.text)
        assert found and int(found.group(1)) > 4
        assert "/items?q=%E5%85%BB%E8%80%81&amp;page=2" in searched.text
        by_unit_name = client.get("/items", params={"q": "卫生健康"})
        assert "共 4 项" in by_unit_name.text
        nothing = client.get("/items", params={"q": "100%_\\"})
        assert "没有符合条件的事项" in nothing.text
