"""The coordinators' pages: the dashboard, the item list, an item with its whole timeline, the
workflow steps on it, the files units sent with their reports, and the compiled table.

Every page needs a signed-in coordinator (flows.web.auth) and every form carries the session's
CSRF token. A step on an item or unit sends back the version the form was made from
(``expected_version``), so a step taken on a stale page is refused with 409 instead of applied
to a state the coordinator never saw. The coordinator's user name is the actor in the history.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from sqlmodel import Session, select

from flows.app import App
from flows.web.app import STATUS_OF, duban_of, record_id
from flows.web.auth import (
    CoordinatorRoute,
    CurrentCoordinator,
    SignedIn,
    check_csrf,
    flash,
    page,
)
from flows.web.auth import router as auth_router
from flows.web.uploads import stored_path
from tracking.compile import summary_rows, summary_title
from tracking.dashboard import (
    AUDIENCE_LABELS,
    build_dashboard,
    item_deadlines,
    item_timeline,
)
from tracking.db import transaction
from tracking.errors import ConflictError, InputError, NotFoundError, TrackingError
from tracking.handling import (
    RATINGS,
    close_item,
    extend_deadline,
    rate_reply,
    reassign,
    record_reply,
    set_pause,
    snooze_unit,
)
from tracking.items import ItemRef, find_item, list_items, matching_item_ids
from tracking.links import revoke_unit_link
from tracking.models import (
    Assignment,
    AssignmentStatus,
    FollowUpItem,
    ProgressUpdate,
    Proposal,
    Role,
    Unit,
    UpdateSource,
)
from tracking.summary_writer import write_xlsx
from tracking.workflow import ASSIGNMENT_LABELS, ITEM_LABELS, ROLE_LABELS, is_open

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ITEMS_PER_PAGE = 100  # a year can hold thousands: a page of them all would be megabytes
REFUSED = {
    ConflictError: "未能完成：该记录已被他人修改，或当前状态不允许此操作。请刷新页面后重试。",
    InputError: "未能完成：填写的内容有误。",
    NotFoundError: "未找到相关记录。",
}

pages = APIRouter(route_class=CoordinatorRoute, dependencies=[Depends(check_csrf)])

FormText = Annotated[str, Form()]


def local_time(duban: App) -> Callable[[datetime | None], str]:
    """A recorded moment (UTC) as the coordinator reads it, in the configured zone."""
    zone = duban.settings.zone

    def shown(moment: datetime | None) -> str:
        return "—" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return shown


# --- the dashboard and the list ---------------------------------------------------------------


@pages.get("/")
def dashboard(request: Request, user: CurrentCoordinator) -> Response:
    duban = duban_of(request)
    today = duban.today()
    with transaction(duban.engine) as session:
        board = build_dashboard(
            session,
            as_of=today,
            policy=duban.policy,
            calendar=duban.calendar,
            interval_days=duban.settings.report_interval_days,
        )
        years = _years(session)
    return page(
        request,
        "dashboard.html",
        {"user": user, "board": board, "years": years, "local": local_time(duban)},
    )


@pages.get("/items")
def items(
    request: Request,
    user: CurrentCoordinator,
    status: str = "",
    unit: str = "",
    year: str = "",
    q: str = "",
    page_number: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    duban = duban_of(request)
    today = duban.today()
    wanted_year = _year(year)
    number = record_id(page_number) or 1
    with transaction(duban.engine) as session:
        ids = matching_item_ids(
            session, year=wanted_year, status=status or None, unit=unit or None, text=q
        )
        pages_in_all = max(1, -(-len(ids) // ITEMS_PER_PAGE))
        number = min(number, pages_in_all)
        shown = ids[(number - 1) * ITEMS_PER_PAGE : number * ITEMS_PER_PAGE]
        views = (
            list_items(
                session,
                as_of=today,
                policy=duban.policy,
                calendar=duban.calendar,
                interval_days=duban.settings.report_interval_days,
                item_ids=shown,
            )
            if shown
            else []
        )
        unit_names = sorted(session.exec(select(Unit.name)).all())
        years = _years(session)
    filters = {"status": status, "unit": unit, "year": year, "q": q}
    query = {k: v for k, v in filters.items() if v}
    return page(
        request,
        "items.html",
        {
            "user": user,
            "views": views,
            "found": len(ids),
            "first": (number - 1) * ITEMS_PER_PAGE + 1,
            "page_number": number,
            "pages_in_all": pages_in_all,
            "page_links": {
                n: "/items?" + urlencode({**query, "page": n})
                for n in (1, number - 1, number + 1, pages_in_all)
                if 1 <= n <= pages_in_all
            },
            "today": today,
            "filters": filters,
            "statuses": [("open", "未落实（全部在办）"), *ITEM_LABELS.items()],
            "item_labels": ITEM_LABELS,
            "unit_names": unit_names,
            "years": years,
            "role_labels": ROLE_LABELS,
            "part_labels": ASSIGNMENT_LABELS,
        },
    )


# --- one item ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A unit's part of the item, as the item page shows it."""

    assignment_id: int
    unit_id: int
    unit: str
    unit_version: int
    role: str
    status: str
    last_reported_on: date | None
    owes: tuple[tuple[str, date], ...]
    snoozed_until: date | None
    snooze_reason: str
    emails: tuple[str, ...]

    @property
    def active(self) -> bool:
        return self.status not in (AssignmentStatus.REASSIGNED, AssignmentStatus.RETURNED)


@pages.get("/items/{item_id}")
def item_page(request: Request, item_id: str, user: CurrentCoordinator) -> Response:
    duban = duban_of(request)
    today = duban.today()
    policy = duban.policy
    number = _item_id(item_id)
    with transaction(duban.engine) as session:
        item = find_item(session, ItemRef(item_id=number))
        (view,) = list_items(
            session,
            as_of=today,
            policy=policy,
            calendar=duban.calendar,
            interval_days=duban.settings.report_interval_days,
            item_id=number,
        )
        owes = {a.unit: a.owes for a in view.assignments}
        parts = [
            Part(
                assignment_id=assignment.id,  # type: ignore[arg-type]
                unit_id=unit.id,  # type: ignore[arg-type]
                unit=unit.name,
                unit_version=unit.version,
                role=assignment.role,
                status=assignment.status,
                last_reported_on=assignment.last_reported_on,
                owes=owes.get(unit.name, ()),
                snoozed_until=unit.snoozed_until,
                snooze_reason=unit.snooze_reason,
                emails=tuple(unit.emails),
            )
            for assignment, unit in session.exec(
                select(Assignment, Unit)
                .join(Unit, Assignment.unit_id == Unit.id)
                .where(Assignment.item_id == number)
                .order_by(Assignment.id)
            )
        ]
        parts.sort(key=lambda part: (part.role != Role.LEAD, not part.active))
        assigned = {part.unit for part in parts}
        names = sorted(session.exec(select(Unit.name)).all())
        other_units = [name for name in names if name not in assigned]
        deadlines = item_deadlines(session, item, policy=policy, calendar=duban.calendar)
        timeline = item_timeline(session, number)
        attachments = _attachments(session, number)
    lead = next((p for p in parts if p.role == Role.LEAD and p.active), None)
    cap = policy.deadlines.extension_max_months
    return page(
        request,
        "item.html",
        {
            "user": user,
            "view": view,
            "version": item.version,
            "open": is_open(item),
            "parts": parts,
            "lead": lead,
            "other_units": other_units,
            "deadlines": deadlines,
            "extension_left": max(0, cap - deadlines.granted_months),
            "extension_cap": cap,
            "timeline": list(reversed(timeline)),
            "attachments": attachments,
            "classes": policy.reply_classes.classes,
            "ratings": RATINGS,
            "today": today,
            "item_labels": ITEM_LABELS,
            "part_labels": ASSIGNMENT_LABELS,
            "role_labels": ROLE_LABELS,
            "audience_labels": AUDIENCE_LABELS,
            "local": local_time(duban),
        },
    )


@dataclass(frozen=True)
class Attachment:
    id: int  # the report's
    name: str


def _attachments(session: Session, item_id: int) -> dict[tuple[datetime, str], list[Attachment]]:
    """The files of the item's reports, by what the timeline shows of a report: when it was
    recorded and its text."""
    found: dict[tuple[datetime, str], list[Attachment]] = {}
    for update in session.exec(
        select(ProgressUpdate)
        .where(ProgressUpdate.item_id == item_id, ProgressUpdate.attachment_path.is_not(None))  # type: ignore[union-attr]
        .order_by(ProgressUpdate.id)  # type: ignore[arg-type]
    ):
        key = (update.recorded_at, update.text)
        name = update.attachment_name or "附件"
        found.setdefault(key, []).append(Attachment(update.id, name))  # type: ignore[arg-type]
    return found


@pages.get("/attachments/{update_id}")
def attachment(request: Request, update_id: str, user: CurrentCoordinator) -> Response:
    """A file a unit sent with a report, as a download (never shown in the browser)."""
    duban = duban_of(request)
    number = record_id(update_id)
    with transaction(duban.engine) as session:
        update = session.get(ProgressUpdate, number) if number is not None else None
    if update is None or not update.attachment_path:
        raise NotFoundError("没有找到该附件。")
    path = stored_path(duban.settings, update.attachment_path)
    if path is None:
        raise NotFoundError("该附件已不在服务器上（可能已被清理）。")
    return FileResponse(
        path,
        filename=update.attachment_name or path.name,
        content_disposition_type="attachment",
        media_type="application/octet-stream",
    )


# --- the steps ----------------------------------------------------------------------------------

Step = Callable[[Session, FollowUpItem, App], str]


def _on_item(request: Request, item_id: str, user: SignedIn, step: Step) -> Response:
    """Run ``step`` on the item in one transaction; back to the item page with its message, or
    the refusal as a page with the error's status (409 for a stale form)."""
    duban = duban_of(request)
    try:
        number = _item_id(item_id)
        with transaction(duban.engine) as session:
            item = find_item(session, ItemRef(item_id=number))
            message = step(session, item, duban)
    except TrackingError as exc:
        return _refused(request, user, exc)
    flash(request, message)
    return RedirectResponse(f"/items/{number}", status_code=303)


def _refused(request: Request, user: SignedIn, exc: TrackingError) -> Response:
    status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400)
    headline = next((text for kind, text in REFUSED.items() if isinstance(exc, kind)), "未能完成：")
    detail = str(exc)
    message = headline if detail == headline else f"{headline} {detail}"
    return page(request, "error.html", {"user": user, "message": message}, status_code=status)


@pages.post("/items/{item_id}/reassign")
def reassign_step(
    request: Request,
    item_id: str,
    user: CurrentCoordinator,
    expected_version: FormText = "",
    from_unit: FormText = "",
    to_unit: FormText = "",
    reason: FormText = "",
    override: FormText = "",
    on: FormText = "",
) -> Response:
    def step(session: Session, item: FollowUpItem, duban: App) -> str:
        version = _version(expected_version)
        _required(reason, "调整原因")
        old, new = _unit(session, from_unit), _unit(session, to_unit)
        reassign(
            session,
            item,
            from_unit=old,
            to_unit=new,
            on=_date(on, "调整日期", duban),
            reason=reason.strip(),
            override=bool(override),
            now=duban.now(),
            actor=user.username,
            expected_version=version,
        )
        return f"已将{old.name}的承办调整给{new.name}。"

    return _on_item(request, item_id, user, step)


@pages.post("/items/{item_id}/extend")
def extend_step(
    request: Request,
    item_id: str,
    user: CurrentCoordinator,
    expected_version: FormText = "",
    months: FormText = "",
    reason: FormText = "",
    approved_by: FormText = "",
    approved_on: FormText = "",
) -> Response:
    def step(session: Session, item: FollowUpItem, duban: App) -> str:
        version = _version(expected_version)
        count = _positive(months, "延期月数")
        _required(reason, "延期原因")
        _required(approved_by, "批准人（单位）")
        extend_deadline(
            session,
            item,
            months=count,
            reason=reason.strip(),
            approved_by=approved_by.strip(),
            approved_on=_date(approved_on, "批准日期", duban),
            cap_months=duban.policy.deadlines.extension_max_months,
            now=duban.now(),
            actor=user.username,
            expected_version=version,
        )
        return f"已延期 {count} 个月。"

    return _on_item(request, item_id, user, step)


@pages.post("/items/{item_id}/reply")
def reply_step(
    request: Request,
    item_id: str,
    user: CurrentCoordinator,
    expected_version: FormText = "",
    reply_class: FormText = "",
    text: FormText = "",
    on: FormText = "",
) -> Response:
    def step(session: Session, item: FollowUpItem, duban: App) -> str:
        version = _version(expected_version)
        scheme = duban.policy.reply_classes
        if reply_class not in scheme.codes:
            raise InputError(f"答复类别应为 {'、'.join(scheme.codes)} 之一。")
        _required(text, "答复内容（摘要）")
        lead = _lead_unit(session, item)
        record_reply(
            session,
            item,
            lead,
            text=text,
            reply_class=reply_class,
            follows_up=scheme.get(reply_class).follow_up,
            on=_date(on, "答复日期", duban),
            source=UpdateSource.WEB,
            now=duban.now(),
            actor=user.username,
            expected_version=version,
        )
        return f"已登记{lead.name}的答复，类别 {reply_class}。"

    return _on_item(request, item_id, user, step)


@pages.post("/items/{item_id}/rate")
def rate_step(
    request: Request,
    item_id: str,
    user: CurrentCoordinator,
    expected_version: FormText = "",
    rating: FormText = "",
    on: FormText = "",
) -> Response:
    def step(session: Session, item: FollowUpItem, duban: App) -> str:
        version = _version(expected_version)
        if rating not in RATINGS:
            raise InputError(f"满意度应为 {'、'.join(RATINGS)} 之一。")
        reopens = duban.policy.deadlines.reopens(rating)
        rate_reply(
            session,
            item,
            rating=rating,
            reopens=reopens,
            on=_date(on, "评价日期", duban),
            now=duban.now(),
            actor=user.username,
            expected_version=version,
        )
        return f"已登记满意度：{rating}" + ("，事项转为重新办理。" if reopens else "。")

    return _on_item(request, item_id, user, step)


@pages.post("/items/{item_id}/close")
def close_step(
    request: Request,
    item_id: str,
    user: CurrentCoordinator,
    expected_version: FormText = "",
    reason: FormText = "",
    on: FormText = "",
) -> Response:
    def step(session: Session, item: FollowUpItem, duban: App) -> str:
        version = _version(expected_version)
        _required(reason, "办结原因")
        close_item(
            session,
            item,
            on=_date(on, "办结日期", duban),
            reason=reason.strip(),
            now=duban.now(),
            actor=user.username,
            expected_version=version,
        )
        return "事项已标记为已落实。"

    return _on_item(request, item_id, user, step)


# --- units and the chase ------------------------------------------------------------------------


@pages.post("/units/{unit_id}/snooze")
def snooze_step(
    request: Request,
    unit_id: str,
    user: CurrentCoordinator,
    expected_version: FormText = "",
    until: FormText = "",
    reason: FormText = "",
    lift: FormText = "",
    back: FormText = "",
) -> Response:
    duban = duban_of(request)
    try:
        version = _version(expected_version)
        stop = None if lift else _date(until, "暂停至", duban, required=True)
        if stop is not None:
            _required(reason, "暂停原因")
        with transaction(duban.engine) as session:
            unit = _unit_by_id(session, unit_id)
            snooze_unit(
                session,
                unit,
                until=stop,
                reason=reason,
                now=duban.now(),
                actor=user.username,
                expected_version=version,
            )
            name = unit.name
    except TrackingError as exc:
        return _refused(request, user, exc)
    flash(request, f"已暂停提醒{name}至 {stop}。" if stop else f"已恢复提醒{name}。")
    return RedirectResponse(_back(back), status_code=303)


@pages.post("/units/{unit_id}/revoke-link")
def revoke_link_step(
    request: Request,
    unit_id: str,
    user: CurrentCoordinator,
    reason: FormText = "",
    back: FormText = "",
) -> Response:
    duban = duban_of(request)
    try:
        _required(reason, "撤销原因")
        with transaction(duban.engine) as session:
            unit = _unit_by_id(session, unit_id)
            revoke_unit_link(session, unit, now=duban.now(), actor=user.username, reason=reason)
            name = unit.name
    except TrackingError as exc:
        return _refused(request, user, exc)
    flash(request, f"已撤销{name}的填报链接：此前发出的链接均已失效，下一封提醒将附上新链接。")
    return RedirectResponse(_back(back), status_code=303)


@pages.post("/pause")
def pause_step(
    request: Request,
    user: CurrentCoordinator,
    action: FormText = "",
    reason: FormText = "",
) -> Response:
    duban = duban_of(request)
    try:
        if action not in ("pause", "resume"):
            raise InputError("请选择暂停或恢复提醒。")
        if action == "pause":
            _required(reason, "暂停原因")
        with transaction(duban.engine) as session:
            set_pause(
                session,
                paused=action == "pause",
                reason=reason.strip(),
                now=duban.now(),
                actor=user.username,
            )
    except TrackingError as exc:
        return _refused(request, user, exc)
    flash(request, "已暂停全部提醒。" if action == "pause" else "已恢复提醒。")
    return RedirectResponse("/", status_code=303)


@pages.get("/compiled/{year}.xlsx")
def compiled_table(request: Request, year: str, user: CurrentCoordinator) -> Response:
    """The year's summary table, compiled now (as `duban compile` does, without Prefect)."""
    duban = duban_of(request)
    number = record_id(year)
    if number is None:
        raise NotFoundError(f"没有“{year}”年的汇总表。")
    with transaction(duban.engine) as session:
        rows = summary_rows(session, year=number)
    if not rows:
        raise NotFoundError(f"{number} 年没有跟踪落实事项，无法生成汇总表。")
    title = summary_title(rows, year=number)
    with tempfile.TemporaryDirectory(prefix="duban-compiled-") as folder:
        path = Path(folder) / f"summary-{year}.xlsx"
        write_xlsx(rows, path, title)
        content = path.read_bytes()
    disposition = (
        f"attachment; filename=\"summary-{year}.xlsx\"; filename*=UTF-8''{quote(title)}.xlsx"
    )
    return Response(content, media_type=XLSX, headers={"Content-Disposition": disposition})


# --- reading the forms --------------------------------------------------------------------------


def _version(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError("表单缺少版本号，请刷新页面后重新提交。") from None


def _required(value: str, label: str) -> None:
    if not value.strip():
        raise InputError(f"请填写{label}。")


def _positive(value: str, label: str) -> int:
    number = record_id(value.strip())
    if number is None or number < 1:
        raise InputError(f"{label}应为正整数。")
    return number


def _date(value: str, label: str, duban: App, *, required: bool = False) -> date:
    if not value.strip():
        if required:
            raise InputError(f"请填写{label}。")
        return duban.today()
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{label}应写作 年-月-日，例如 2023-06-15。") from None


def _year(value: str) -> int | None:
    if not value.strip():
        return None
    year = record_id(value.strip())
    if year is None:
        raise InputError("年度应为四位数字，例如 2023。")
    return year


def _item_id(value: str) -> int:
    """The item id of a URL; NotFoundError for what is no id at all."""
    number = record_id(value)
    if number is None:
        raise NotFoundError("未找到相关记录。")
    return number


def _unit(session: Session, name: str) -> Unit:
    unit = session.exec(select(Unit).where(Unit.name == name.strip())).first()
    if unit is None:
        raise InputError(f"请从列表中选择单位（没有名为“{name.strip()}”的单位）。")
    return unit


def _unit_by_id(session: Session, unit_id: str) -> Unit:
    number = record_id(unit_id)
    unit = session.get(Unit, number) if number is not None else None
    if unit is None:
        raise NotFoundError(f"没有编号为 {unit_id} 的单位。")
    return unit


def _lead_unit(session: Session, item: FollowUpItem) -> Unit:
    found = session.exec(
        select(Unit)
        .join(Assignment, Assignment.unit_id == Unit.id)
        .where(
            Assignment.item_id == item.id,
            Assignment.role == Role.LEAD,
            Assignment.status.not_in([AssignmentStatus.REASSIGNED, AssignmentStatus.RETURNED]),  # type: ignore[attr-defined]
        )
    ).first()
    if found is None:
        raise ConflictError("该事项目前没有主办单位，请先调整承办单位。")
    return found


def _back(value: str) -> str:
    number = record_id(value.strip())
    return f"/items/{number}" if number is not None else "/"


def _years(session: Session) -> list[int]:
    return sorted(session.exec(select(Proposal.year).distinct()).all(), reverse=True)


router = APIRouter()
"""What flows.web.app includes: the login pages and these."""
router.include_router(auth_router)
router.include_router(pages)
