"""Coordinators' login: sessions, CSRF tokens, and slowing down password guessing.

- The session is Starlette's signed cookie (flows.web.app): it holds the coordinator's id, a
  digest of their password hash, the account's session epoch and the time of the login, the
  session's CSRF token and a flash message. Logging in starts a new session (a session made
  before the login is never promoted). The account is read again on every request, and the
  session counts only while the account still has its epoch (tracking.coordinators): logging
  out, disabling the account or a new password raises it, so every copy of the cookie is out at
  its next click. A session ends 8 hours after its login however busy it is.
- CSRF: every session, a signed-in one or not, gets one random token. Every form carries it in a
  hidden field (``csrf_token``) and every POST to these pages is refused with 403 unless the
  field matches (compared in constant time). The login form is protected too.
- Guessing: each failed login waits a moment before the answer, and after ``per_name`` failures
  for one user name (or ``per_client`` from one address) within ``window`` seconds further tries
  are refused until the window passes, whether or not the name exists. A try is counted before
  its password is checked, so guesses sent in parallel get no more checks than that. The answer
  never says whether a name exists.
"""

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from flows.web.app import SECURITY_HEADERS, SESSION_LIFETIME, duban_of, render
from tracking.coordinators import end_sessions, verify_login
from tracking.db import transaction
from tracking.models import Coordinator

SESSION_USER = "coordinator_id"
SESSION_MARK = "credential"
SESSION_EPOCH = "epoch"
SESSION_LOGIN_AT = "login_at"  # seconds since the epoch (UTC) of the login
SESSION_CSRF = "csrf"
SESSION_FLASH = "flash"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_FIELDS = 32  # the largest form here has about ten
CSRF_REFUSED = "请求未通过安全校验（缺少或无效的表单令牌），已拒绝。请返回上一页，刷新后重新提交。"
LOGIN_FAILED = "用户名或密码不正确。"
LOGIN_LIMITED = "登录失败次数过多，请 {minutes} 分钟后再试。"


class LoginRequired(Exception):
    """Raised by :func:`require_coordinator`; answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A POST without the session's CSRF token; answered with 403."""


class CoordinatorRoute(APIRoute):
    """Answers :class:`LoginRequired` with a redirect and :class:`CsrfRefused` with a 403 page,
    wherever the dependencies raise them. A post's form is read here first, with no room for a
    file (these forms take none): what FastAPI reads for the form fields is this form."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                if request.method not in SAFE_METHODS:
                    await form_without_files(request)
                response = await handler(request)
            except LoginRequired as exc:
                target = "/login" if exc.next_path in ("", "/") else login_url(exc.next_path)
                response = RedirectResponse(target, status_code=303)
            except CsrfRefused:
                response = page(request, "error.html", {"message": CSRF_REFUSED}, status_code=403)
            response.headers.update(SECURITY_HEADERS)
            return response

        return guarded


# --- CSRF ---------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def form_without_files(request: Request) -> FormData:
    """The post's form, read once (later reads get the same), refused with :class:`CsrfRefused`
    when it is none of these pages' forms: a file in it, too many fields, broken."""
    try:
        return await request.form(max_files=0, max_fields=MAX_FIELDS)
    except Exception:
        raise CsrfRefused from None


async def check_csrf(request: Request) -> None:
    """Dependency: a POST must carry the session's token in the ``csrf_token`` form field."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(SESSION_CSRF)
    sent = (await form_without_files(request)).get(CSRF_FIELD)
    if not (
        isinstance(expected, str)
        and isinstance(sent, str)
        and expected
        and hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRefused


# --- who is signed in -----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    id: int
    username: str
    display_name: str

    @property
    def name(self) -> str:
        return self.display_name or self.username


def signed_in(request: Request) -> SignedIn | None:
    """The active coordinator of this session, or None."""
    coordinator_id = request.session.get(SESSION_USER)
    if not isinstance(coordinator_id, int):
        return None
    duban = duban_of(request)
    login_at = request.session.get(SESSION_LOGIN_AT)
    if not isinstance(login_at, int | float):
        return None
    if duban.now().timestamp() - login_at >= SESSION_LIFETIME:
        return None  # a working day is over: log in again
    with transaction(duban.engine) as session:
        coordinator = session.get(Coordinator, coordinator_id)
        if coordinator is None or not coordinator.active:
            return None
        if request.session.get(SESSION_EPOCH) != coordinator.session_epoch:
            return None  # logged out (any copy of this session), disabled or a new password
        mark = request.session.get(SESSION_MARK)
        if not isinstance(mark, str) or not hmac.compare_digest(
            mark, credential_mark(coordinator.password_hash)
        ):
            return None  # the password changed since this session logged in
        return SignedIn(coordinator_id, coordinator.username, coordinator.display_name)


def credential_mark(password_hash: str) -> str:
    """A short digest of the password hash, kept in the session: a new password (a new hash)
    ends every session made with the old one."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def require_coordinator(request: Request) -> SignedIn:
    """Dependency: the signed-in coordinator; otherwise a redirect to the login page."""
    found = signed_in(request)
    if found is None:
        request.session.pop(SESSION_USER, None)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" else "/")
    return found


CurrentCoordinator = Annotated[SignedIn, Depends(require_coordinator)]


def flash(request: Request, message: str) -> None:
    """A message shown once, on the next page."""
    request.session[SESSION_FLASH] = message


def page(
    request: Request, template: str, context: dict[str, object], status_code: int = 200
) -> Response:
    """``render`` with what every page of these sides needs: the CSRF token for its forms, the
    flash message, and who is signed in (the caller may pass ``user``)."""
    full = {
        "csrf_token": csrf_token(request),
        "flash_message": request.session.pop(SESSION_FLASH, None),
        "user": None,
        **context,
    }
    return render(request, template, full, status_code=status_code)


def login_url(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='')}"


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this site only (no ``//host``, no scheme)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 32 for ch in value)
    ):
        return "/"
    return value


# --- throttling -----------------------------------------------------------------------------


class LoginThrottle:
    """Failed logins per user name and per client address, in a sliding window (in memory: one
    process's view, which is what `duban web` runs).

    A try is counted before its password is checked (:meth:`reserve`), so guesses sent in
    parallel cannot all get through before the first failure is noted: at most ``per_name``
    checks of one name (``per_client`` from one address) are under way or failed in a window.
    The try then ends as :meth:`failed` (it stays counted), :meth:`succeeded` (it is released,
    and so are the name's earlier failures) or :meth:`released` (an error: it does not count).
    """

    def __init__(
        self,
        *,
        per_name: int = 5,
        per_client: int = 30,
        window: float = 15 * 60,
        failure_delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_name, self.per_client = per_name, per_client
        self.window, self.failure_delay = window, failure_delay
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._pending: dict[str, int] = {}  # tries reserved and not yet decided
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, client: str) -> tuple[str, str]:
        return f"name:{username.strip().casefold()[:64]}", f"client:{client}"

    def _limit(self, key: str) -> int:
        return self.per_name if key.startswith("name:") else self.per_client

    def retry_after(self, keys: tuple[str, ...]) -> float | None:
        """Seconds until ``keys`` may try again, or None if they may try now."""
        with self._lock:
            return self._wait(keys, self._clock())

    def reserve(self, keys: tuple[str, ...]) -> float | None:
        """Count a try for ``keys`` before its password is checked: None when it may go ahead
        (the caller must then end it with failed, succeeded or released), else the seconds to
        wait (nothing is counted)."""
        now = self._clock()
        with self._lock:
            wait = self._wait(keys, now)
            if wait is None:
                for key in keys:
                    self._pending[key] = self._pending.get(key, 0) + 1
            return wait

    def failed(self, keys: tuple[str, ...]) -> None:
        """The reserved try failed: it counts in the window from now."""
        now = self._clock()
        with self._lock:
            self._settle(keys)
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # forget keys with nothing recent
                for key in [k for k, v in self._failures.items() if not self._prune(v, now)]:
                    del self._failures[key]

    def succeeded(self, keys: tuple[str, ...]) -> None:
        """The reserved try logged in: released, and the name's failures are forgotten."""
        with self._lock:
            self._settle(keys)
            self._failures.pop(keys[0], None)

    def released(self, keys: tuple[str, ...]) -> None:
        """The reserved try ended in an error before any answer: it does not count."""
        with self._lock:
            self._settle(keys)

    def _wait(self, keys: tuple[str, ...], now: float) -> float | None:
        waits = []
        for key in keys:
            recent = self._recent(key, now)
            if len(recent) + self._pending.get(key, 0) >= self._limit(key):
                # A try still under way holds its place until it is decided: a moment.
                waits.append(recent[0] + self.window - now if recent else 1.0)
        return max(waits) if waits else None

    def _settle(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            left = self._pending.get(key, 0) - 1
            if left > 0:
                self._pending[key] = left
            else:
                self._pending.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        self._prune(recent, now)
        return recent

    def _prune(self, recent: deque[float], now: float) -> deque[float]:
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        return recent


def throttle_of(request: Request) -> LoginThrottle:
    """The app's throttle, made on first use (a test may set ``app.state.login_throttle``)."""
    state = request.app.state
    if getattr(state, "login_throttle", None) is None:
        state.login_throttle = LoginThrottle()
    return state.login_throttle


# --- the pages ------------------------------------------------------------------------------

router = APIRouter(route_class=CoordinatorRoute, dependencies=[Depends(check_csrf)])


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if signed_in(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "login.html", {"next": safe_next(next), "error": None, "username": ""})


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    throttle = throttle_of(request)
    client = request.client.host if request.client else "unknown"
    keys = throttle.keys(username, client)
    context = {"next": safe_next(next), "username": username}
    wait = throttle.reserve(keys)  # counted before the check: parallel guesses queue here
    if wait is not None:
        minutes = max(1, int(wait // 60) + 1)
        response = page(
            request,
            "login.html",
            {**context, "error": LOGIN_LIMITED.format(minutes=minutes)},
            status_code=429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    duban = duban_of(request)

    def check() -> tuple[SignedIn, str, int] | None:
        with transaction(duban.engine) as session:
            found = verify_login(session, username, password, now=duban.now())
            if found is None:
                return None
            who = SignedIn(found.id, found.username, found.display_name)  # type: ignore[arg-type]
            return who, credential_mark(found.password_hash), found.session_epoch

    try:
        checked = await run_in_threadpool(check)
    except BaseException:
        throttle.released(keys)
        raise
    if checked is None:
        throttle.failed(keys)
        await asyncio.sleep(throttle.failure_delay)
        return page(request, "login.html", {**context, "error": LOGIN_FAILED}, status_code=401)
    throttle.succeeded(keys)
    coordinator, mark, epoch = checked
    request.session.clear()  # a new session: nothing from before the login carries over
    request.session[SESSION_USER] = coordinator.id
    request.session[SESSION_MARK] = mark
    request.session[SESSION_EPOCH] = epoch
    request.session[SESSION_LOGIN_AT] = int(duban.now().timestamp())
    csrf_token(request)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    """Ends the coordinator's sessions for good: a copy of the cookie no longer signs in."""
    found = signed_in(request)
    if found is not None:
        with transaction(duban_of(request).engine) as session:
            end_sessions(session, found.id)
    request.session.clear()
    flash(request, "已退出登录。")
    return RedirectResponse("/login", status_code=303)
