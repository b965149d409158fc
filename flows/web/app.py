"""The FastAPI application: one per process, over one duban App."""

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.middleware.sessions import SessionMiddleware

from flows.app import App
from flows.web.keys import secret_key
from flows.web.rendering import page_templates
from tracking.errors import ConflictError, InputError, NotFoundError, TrackingError

STATUS_OF = {NotFoundError: 404, ConflictError: 409, InputError: 400}
SESSION_LIFETIME = 8 * 3600  # a working day: a session ends this long after its login


def create_web_app(duban: App) -> FastAPI:
    web = FastAPI(title="duban", docs_url=None, redoc_url=None, openapi_url=None)
    web.state.duban = duban
    web.state.templates = page_templates(duban.settings)
    web.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(duban.settings),
        session_cookie="duban_session",
        max_age=SESSION_LIFETIME,
        same_site="strict",
        https_only=duban.settings.resolved_web_base_url.startswith("https://"),
    )

    @web.exception_handler(TrackingError)
    async def tracking_error(request: Request, exc: TrackingError) -> HTMLResponse:
        status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400)
        return render(request, "error.html", {"message": str(exc)}, status_code=status)

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
