"""The FastAPI application: one per process, over one duban App."""

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from flows.app import App
from flows.web.keys import secret_key
from flows.web.limits import BodyLimit, request_limits
from flows.web.rendering import page_templates
from tracking.errors import ConflictError, InputError, NotFoundError, TrackingError

STATUS_OF = {NotFoundError: 404, ConflictError: 409, InputError: 400}
SESSION_LIFETIME = 8 * 3600  # a working day: a session ends this long after its login
# The pages run no script and load nothing from elsewhere; they must not be framed (their
# forms act), nor kept in a cache (they hold the session's CSRF token, a unit's link and the
# records). Same-origin requests keep their Origin header (checked on a unit's posts); a link
# never leaves the site in a Referer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HTTP_REFUSALS = {
    404: "没有找到该页面或记录。",
    405: "不支持该请求方式。",
}
BAD_REQUEST = "请求的内容有误，已拒绝。请返回上一页，刷新后重新提交。"
_RECORD_ID = re.compile(r"[0-9]{1,9}")


def create_web_app(duban: App) -> FastAPI:
    web = FastAPI(title="duban", docs_url=None, redoc_url=None, openapi_url=None)
    web.state.duban = duban
    templates = web.state.templates = page_templates(duban.settings)
    web.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(duban.settings),
        session_cookie="duban_session",
        max_age=SESSION_LIFETIME,
        same_site="strict",
        https_only=duban.settings.resolved_web_base_url.startswith("https://"),
    )
    # Added last: the outermost, so no body is read before it is counted.
    web.add_middleware(
        BodyLimit,
        limit_of=request_limits(duban.settings),
        refusal=lambda message: templates.get_template("error.html").render(
            message=message, body_name=duban.settings.body_name
        ),
        headers=SECURITY_HEADERS,
    )

    @web.exception_handler(TrackingError)
    async def tracking_error(request: Request, exc: TrackingError) -> HTMLResponse:
        status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400)
        return error_page(request, str(exc), status)

    @web.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> HTMLResponse:
        message = HTTP_REFUSALS.get(exc.status_code, BAD_REQUEST)
        response = error_page(request, message, exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @web.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
        return error_page(request, BAD_REQUEST, 400)

    from flows.web import coordinator_pages  # imports render from here: imported late

    web.include_router(coordinator_pages.router)

    @web.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from flows.web import unit_pages  # imports render from here: imported late

    web.include_router(unit_pages.router)
    return web


def duban_of(request: Request) -> App:
    return request.app.state.duban


def render(
    request: Request, template: str, context: dict[str, object], status_code: int = 200
) -> HTMLResponse:
    """A page from ``template``; every page gets the body's name for its header."""
    templates = request.app.state.templates
    full = {"body_name": duban_of(request).settings.body_name, **context}
    return templates.TemplateResponse(request, template, full, status_code=status_code)


def error_page(request: Request, message: str, status_code: int) -> HTMLResponse:
    """The refusal page, with the security headers every page carries."""
    response = render(request, "error.html", {"message": message}, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def record_id(text: str | None) -> int | None:
    """A record's id (or a year) as a URL or form carries it: 1 to 9 ASCII digits, else None
    (so "²", "-1" or twenty digits are no record, not an error from ``int`` or the database)."""
    if text is None or not _RECORD_ID.fullmatch(text):
        return None
    return int(text)
