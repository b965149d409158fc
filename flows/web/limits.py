"""A cap on the size of every request body, counted as it streams in.

Nothing reads a body before this middleware has counted it: a body declared larger than its
path's limit is refused before any of it is read, and one sent without a length (chunked) is
refused at the byte that passes the limit, whatever the page was doing with it (a form being
parsed, a file being spooled). The refusal is a 413 page in Chinese; the page's own answer, if it
tried one, is dropped.

The limits (:func:`request_limits`): a unit's post (``/u/…``) may carry one attachment
(``upload_max_mb``) and its form; everything else a few fields of text.
"""

from collections.abc import Callable, Mapping

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import Settings
from flows.web.uploads import max_bytes, too_large

FORM_LIMIT = 64 * 1024  # a coordinator's form or a login: a few fields of text
FORM_OVERHEAD_BYTES = 1024 * 1024  # the text fields and multipart framing around a file
TOO_LARGE = "提交的内容过大，已拒绝。请返回上一页，检查后重新提交。"

Limits = Callable[[str, str], tuple[int, str]]


def request_limits(settings: Settings) -> Limits:
    """``(method, path) -> (largest body in bytes, the refusal's words)``."""
    upload = max_bytes(settings) + FORM_OVERHEAD_BYTES
    upload_refusal = str(too_large(settings))

    def limit_of(method: str, path: str) -> tuple[int, str]:
        if method == "POST" and path.startswith("/u/"):
            return upload, upload_refusal
        return FORM_LIMIT, TOO_LARGE

    return limit_of


class BodyTooLarge(Exception):
    """Raised into the page reading a body that went past its limit."""


class BodyLimit:
    """ASGI middleware: ``limit_of(method, path)`` is the largest body, in bytes, a request may
    carry and what the refusal says; ``refusal(message)`` is the HTML page sent with the 413,
    with ``headers``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_of: Limits,
        refusal: Callable[[str], str],
        headers: Mapping[str, str],
    ) -> None:
        self.app = app
        self.limit_of = limit_of
        self.refusal = refusal
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = self.limit_of(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, message)
            return

        received = 0
        refused = False
        started = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge
            incoming = await receive()
            if incoming["type"] == "http.request":
                received += len(incoming.get("body", b""))
                if received > limit:
                    refused = True
                    raise BodyTooLarge
            return incoming

        async def answer(outgoing: Message) -> None:
            nonlocal started
            if refused:
                return  # the page's own answer to the cut-off body: ours goes instead
            started = started or outgoing["type"] == "http.response.start"
            await send(outgoing)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await self._refuse(scope, receive, send, message)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response = HTMLResponse(
            self.refusal(message),
            status_code=413,
            headers={**self.headers, "Connection": "close"},  # the rest of the body is not read
        )
        await response(scope, receive, send)
