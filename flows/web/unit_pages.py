"""The unit's page, opened from the link in its digest: no account, the link is the key.

- ``GET /u/{token}``: the unit's items (what it owes, by when, its own reports) and a form per
  open item.
- ``POST /u/{token}/items/{item_id}``: a report (progress, final feedback, or the lead's reply
  with its class), with an optional attachment; recorded with source ``web``, then back to the
  page (303) with a confirmation.
- ``GET /u/{token}/files/{update_id}``: an attachment the unit itself uploaded.

The link decides the unit (flows.web.links): a forged, expired or revoked link gets a refusal
page (403 or 410) that names no unit, and an item that is not the unit's is answered like one
that does not exist (404). A form is accepted only with the signed value its page carried and
not from another site. Every page is sent with headers that keep it out of caches, frames and
Referer headers, and with a policy that runs no script at all.
"""

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session
from starlette.datastructures import FormData

from flows.app import App
from flows.delivery import stage_label
from flows.web.app import SECURITY_HEADERS, duban_of, record_id, render
from flows.web.links import LinkRefused, check_form_token, form_token, unit_of_link
from flows.web.uploads import (
    ATTACHMENTS,
    ATTACHMENTS_NOTE,
    SPREADSHEETS,
    SPREADSHEETS_NOTE,
    StoredFile,
    discard,
    read_upload,
    store_upload,
    stored_path,
    uploads_dir,
)
from tracking.collect import collect_sheet
from tracking.db import transaction
from tracking.errors import ConflictError, InputError, NotFoundError, TrackingError
from tracking.models import ProgressUpdate, Role, Unit, UpdateKind
from tracking.unit_reports import (
    CLAIMS,
    NOT_FOUND,
    TEXT_MAX_CHARS,
    UnitItem,
    UnitReport,
    check_report,
    submit_report,
    unit_items,
)
from tracking.workflow import ROLE_LABELS

router = APIRouter()

KIND_LABELS = {
    UpdateKind.PROGRESS: "落实进展",
    UpdateKind.FINAL: "最终反馈",
    UpdateKind.REPLY: "答复代表委员",
}
SOURCE_LABELS = {
    "web": "在线填报",
    "cli": "督办工作人员录入",
    "import": "汇总表导入",
    "spreadsheet": "表格报送",
}
CROSS_SITE = "提交未被接受：请从本单位的填报页面提交。"
STALE = "该事项刚刚被他人更新，请刷新页面后重新提交。"


def _collect_sheet(duban: App, unit_id: int, stored: StoredFile) -> tuple[int, int, int]:
    """Record what unit ``unit_id`` filled in on its returned spreadsheet (kept at
    ``stored.path`` under the upload folder), each report pointing at the file; returns the
    counts for the confirmation: recorded, unchanged, empty. A TrackingError (row-level
    problems, another unit's sheet) records nothing and is shown to the unit."""
    now = duban.now()
    with transaction(duban.engine) as session:
        unit = session.get(Unit, unit_id)
        report = collect_sheet(
            session,
            uploads_dir(duban.settings) / stored.path,
            name=stored.name,
            unit=unit,
            reported_on=now.date(),
            now=now,
            actor="web",
            source_label="upload",
        )
        for row in report.recorded:
            update = session.get(ProgressUpdate, row.update_id)
            if update is not None:
                update.source = "web"
                update.attachment_path, update.attachment_name = stored.path, stored.name
        return len(report.recorded), report.unchanged, report.empty


@router.get("/u/{token}", response_class=HTMLResponse, name="unit_page")
def unit_page(
    request: Request, token: str, saved: str | None = None, sheet: str | None = None
) -> Response:
    duban = duban_of(request)
    now = duban.now()
    with transaction(duban.engine) as session:
        try:
            unit = unit_of_link(session, duban.settings, token, now=now)
        except LinkRefused as exc:
            return _refused(request, exc)
        confirmation = _confirmation(session, unit, saved)
        return _page(
            request,
            session,
            duban,
            token,
            unit,
            confirmation=confirmation,
            sheet_counts=_sheet_counts(sheet),
        )


@router.post("/u/{token}/items/{item_id}", name="unit_report")
async def post_report(request: Request, token: str, item_id: str) -> Response:
    number = record_id(item_id)
    if number is None:
        return _error(request, NOT_FOUND, 404)
    try:
        post = await _read_post(request, token, max_fields=16)
    except LinkRefused as exc:
        return _refused(request, exc)
    duban, settings, form = post.duban, post.duban.settings, post.form
    values = {name: _field(form, name) for name in ("kind", "claim", "reply_class", "text")}
    values["text"] = values["text"].replace("\r\n", "\n")  # a form sends CRLF line ends
    stored: StoredFile | None = None
    kept = False  # the file stays only with a report that points at it
    try:
        if values["kind"] not in {kind.value for kind in KIND_LABELS}:
            raise InputError("请选择报送类型。")
        report = UnitReport(
            kind=UpdateKind(values["kind"]),
            text=values["text"],
            claim=values["claim"],
            reply_class=values["reply_class"] or None,
        )
        check_report(report, classes=duban.policy.reply_classes)  # before keeping any file
        upload = form.get("attachment")
        if upload is not None and not isinstance(upload, str) and upload.filename:
            data = await read_upload(settings, upload)
            stored = store_upload(settings, post.unit_id, upload.filename, data)
            report = UnitReport(
                kind=report.kind,
                text=report.text,
                claim=report.claim,
                reply_class=report.reply_class,
                attachment_path=stored.path,
                attachment_name=stored.name,
                attachment_bytes=stored.size,
            )
        update_id, duplicate = await run_in_threadpool(_record, duban, token, number, report)
        kept = not duplicate
    except LinkRefused as exc:  # revoked while the form was being sent
        return _refused(request, exc)
    except NotFoundError:
        return _error(request, NOT_FOUND, 404)
    except TrackingError as exc:
        status = 409 if isinstance(exc, ConflictError) else 400
        return await run_in_threadpool(
            _page_again, request, duban, token, number, _unit_words(exc), values, status
        )
    finally:
        if not kept:
            discard(settings, stored)
        await form.close()
    page = request.app.url_path_for("unit_page", token=token)
    return RedirectResponse(f"{page}?saved={update_id}#item-{number}", status_code=303)


@router.get("/u/{token}/files/{update_id}", name="unit_file")
def unit_file(request: Request, token: str, update_id: str) -> Response:
    duban = duban_of(request)
    number = record_id(update_id)
    with transaction(duban.engine) as session:
        try:
            unit = unit_of_link(session, duban.settings, token, now=duban.now())
        except LinkRefused as exc:
            return _refused(request, exc)
        update = session.get(ProgressUpdate, number) if number is not None else None
    if update is None or update.unit_id != unit.id or not update.attachment_path:
        return _error(request, "没有找到该附件。", 404)
    path = stored_path(duban.settings, update.attachment_path)
    if path is None:
        return _error(request, "该附件已不在服务器上，请与督办工作人员联系。", 404)
    return FileResponse(
        path,
        filename=update.attachment_name or path.name,
        content_disposition_type="attachment",
        headers=SECURITY_HEADERS,
    )


@router.post("/u/{token}/sheet", name="unit_sheet")
async def post_sheet(request: Request, token: str) -> Response:
    """The spreadsheet return: the unit's 落实情况填报表, filled in, recorded as its reports."""
    try:
        post = await _read_post(request, token, max_fields=4)
    except LinkRefused as exc:
        return _refused(request, exc)
    duban, settings, form = post.duban, post.duban.settings, post.form
    stored: StoredFile | None = None
    kept = False  # the file stays only with the reports that point at it
    try:
        upload = form.get("sheet")
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise InputError("请选择要上传的表格文件。")
        data = await read_upload(settings, upload)
        stored = store_upload(
            settings,
            post.unit_id,
            upload.filename,
            data,
            allowed=SPREADSHEETS,
            note=SPREADSHEETS_NOTE,
        )
        counts = await run_in_threadpool(_collect_sheet, duban, post.unit_id, stored)
        kept = counts[0] > 0
    except LinkRefused as exc:
        return _refused(request, exc)
    except TrackingError as exc:
        return _error(request, _unit_words(exc), 409 if isinstance(exc, ConflictError) else 400)
    finally:
        if not kept:
            discard(settings, stored)
        await form.close()
    page = request.app.url_path_for("unit_page", token=token)
    shown = "-".join(str(count) for count in counts)
    return RedirectResponse(f"{page}?sheet={shown}#sheet_return", status_code=303)


@dataclass(frozen=True)
class _Post:
    duban: App
    unit_id: int
    form: FormData


async def _read_post(request: Request, token: str, *, max_fields: int) -> _Post:
    """The start of every post of a unit: it comes from a page of this site, through a link
    still valid, and its form (one file at most) carries the signed value its page had.
    LinkRefused otherwise (the form is closed then)."""
    duban = duban_of(request)
    _refuse_cross_site(request)
    unit_id = await run_in_threadpool(_unit_id, duban, token)
    form = await request.form(max_files=1, max_fields=max_fields)
    try:
        check_form_token(duban.settings, token, _field(form, "csrf"), now=duban.now())
    except LinkRefused:
        await form.close()
        raise
    return _Post(duban, unit_id, form)


def _unit_words(exc: TrackingError) -> str:
    """What a unit is told of a refusal: the record changed under it is said in Chinese (the
    message the transaction makes is for the command line)."""
    if isinstance(exc, ConflictError) and isinstance(exc.__cause__, StaleDataError):
        return STALE
    return str(exc)


def _unit_id(duban: App, token: str) -> int:
    with transaction(duban.engine) as session:
        return unit_of_link(session, duban.settings, token, now=duban.now()).id  # type: ignore[return-value]


def _record(duban: App, token: str, item_id: int, report: UnitReport) -> tuple[int, bool]:
    now = duban.now()
    with transaction(duban.engine) as session:
        unit = unit_of_link(session, duban.settings, token, now=now)
        submitted = submit_report(
            session,
            unit,
            item_id,
            report,
            classes=duban.policy.reply_classes,
            on=now.date(),
            now=now,
        )
        return submitted.update.id, submitted.duplicate  # type: ignore[return-value]


def _page_again(
    request: Request,
    duban: App,
    token: str,
    item_id: int,
    message: str,
    values: dict[str, str],
    status: int,
) -> Response:
    """The page again, with the refusal beside the item's form and what was typed kept."""
    with transaction(duban.engine) as session:
        try:
            unit = unit_of_link(session, duban.settings, token, now=duban.now())
        except LinkRefused as exc:
            return _refused(request, exc)
        problem = {"item_id": item_id, "message": message, "values": values}
        return _page(request, session, duban, token, unit, problem=problem, status=status)


def _page(
    request: Request,
    session: Session,
    duban: App,
    token: str,
    unit: Unit,
    *,
    confirmation: dict[str, object] | None = None,
    problem: dict[str, object] | None = None,
    sheet_counts: tuple[int, int, int] | None = None,
    status: int = 200,
) -> Response:
    now = duban.now()
    as_of = now.date()
    items = unit_items(
        session,
        unit,
        as_of=as_of,
        policy=duban.policy,
        calendar=duban.calendar,
        interval_days=duban.settings.report_interval_days,
    )
    url = request.app.url_path_for
    context = {
        "unit_name": unit.name,
        "as_of": as_of,
        "items": [_item_context(item, token, url) for item in items],
        "open_count": sum(item.is_open for item in items),
        "csrf": form_token(duban.settings, token, now=now),
        "claims": CLAIMS,
        "classes": [(c.code, c.label) for c in duban.policy.reply_classes.classes],
        "text_max": TEXT_MAX_CHARS,
        "max_mb": f"{duban.settings.upload_max_mb:g}",
        "allowed_note": ATTACHMENTS_NOTE,
        "accept": ",".join(sorted(ATTACHMENTS)),
        "confirmation": confirmation,
        "problem": problem,
        "sheet_action": url("unit_sheet", token=token),
        "sheet_counts": sheet_counts,
        "sheet_accept": ",".join(sorted(SPREADSHEETS)),
    }
    return _with_headers(render(request, "unit.html", context, status_code=status))


def _item_context(item: UnitItem, token: str, url: Any) -> dict[str, object]:
    return {
        "item_id": item.item_id,
        "year": item.year,
        "category": item.category,
        "number": item.number,
        "title": item.title,
        "lead_label": "提案人" if item.category == "政协提案" else "领衔代表",
        "lead_representative": item.lead_representative,
        "commitment": item.commitment,
        "role_label": ROLE_LABELS.get(Role(item.role), item.role),
        "is_lead": item.role == Role.LEAD,
        "status_label": item.status_label,
        "lead_unit": item.lead_unit,
        "co_units": list(item.co_units),
        "reply_class": item.reply_class,
        "replied_on": item.replied_on,
        "closed_on": item.closed_on,
        "is_open": item.is_open,
        "can_reply": item.can_reply,
        "owes": [
            {
                "label": owed.label,
                "due": owed.due,
                "stage": stage_label(owed),  # type: ignore[arg-type]  # the fields it reads
                "overdue": bool(owed.overdue_workdays),
            }
            for owed in item.owes
        ],
        "reports": [
            {
                "reported_on": report.reported_on,
                "kind": KIND_LABELS.get(UpdateKind(report.kind), report.kind),
                "claim": report.claim,
                "text": report.text,
                "source": SOURCE_LABELS.get(report.source, report.source),
                "attachment": report.attachment_name if report.attachment_path else None,
                "file_url": url("unit_file", token=token, update_id=str(report.id)),
            }
            for report in item.reports
        ],
        "action": url("unit_report", token=token, item_id=str(item.item_id)),
    }


def _sheet_counts(value: str | None) -> tuple[int, int, int] | None:
    """``recorded-unchanged-empty`` from the redirect after a sheet upload; None otherwise."""
    counts = [record_id(part) for part in (value or "").split("-")]
    if len(counts) != 3 or None in counts:
        return None
    recorded, unchanged, empty = counts
    return recorded, unchanged, empty  # type: ignore[return-value]


def _confirmation(session: Session, unit: Unit, saved: str | None) -> dict[str, object] | None:
    """What the page confirms after a report: only one of this unit's own reports."""
    update_id = record_id(saved)
    if update_id is None:
        return None
    update = session.get(ProgressUpdate, update_id)
    if update is None or update.unit_id != unit.id:
        return None
    return {
        "item_id": update.item_id,
        "kind": KIND_LABELS.get(UpdateKind(update.kind), update.kind),
        "reported_on": update.reported_on,
        "attachment": update.attachment_name,
    }


def _refuse_cross_site(request: Request) -> None:
    """A post must come from a page of this site: the browser says so in Sec-Fetch-Site, or
    (older browsers) in Origin. Clients that send neither still need the form value."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site != "same-origin":
            raise LinkRefused(CROSS_SITE, 403)
        return
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = {f"{request.url.scheme}://{request.url.netloc}"}
    base = duban_of(request).settings.resolved_web_base_url
    own.add("/".join(base.split("/", 3)[:3]))
    if origin not in own:
        raise LinkRefused(CROSS_SITE, 403)


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _refused(request: Request, exc: LinkRefused) -> Response:
    return _error(request, exc.message, exc.status_code)


def _error(request: Request, message: str, status: int) -> Response:
    return _with_headers(render(request, "error.html", {"message": message}, status_code=status))


def _with_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
