"""The web application's frame: served on loopback, opened in a real headless Chromium; and
``duban web`` behind a proxy."""

import re
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
import uvicorn
from cli_runner import Duban
from web_support import serving

from flows.web.app import create_web_app
from flows.web.auth import LoginThrottle
from flows.web.keys import secret_key

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_the_app_is_served_and_answers_a_browser(make_app, page) -> None:
    app = make_app()
    with serving(create_web_app(app)) as base:
        response = page.goto(f"{base}/healthz")
        assert response is not None and response.status == 200
        assert '"status":"ok"' in page.content()


def test_the_secret_key_is_made_once_and_kept_private(make_app) -> None:
    settings = make_app().settings
    first = secret_key(settings)
    assert secret_key(settings) == first and len(first) >= 48
    assert settings.secret_key_file.stat().st_mode & 0o777 == 0o600


def serve_web_command(
    duban: Duban, monkeypatch: pytest.MonkeyPatch, check: Callable[[str], None]
) -> dict[str, object]:
    """Run ``duban web`` with uvicorn serving for real only while ``check(base_url)`` runs (a
    login throttle of 3 failures per client, without delay); returns uvicorn's options."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    used: dict[str, object] = {}

    def run(app, **options) -> None:  # type: ignore[no-untyped-def]
        used.update(options)
        app.state.login_throttle = LoginThrottle(per_name=10, per_client=3, failure_delay=0)
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **options))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "the web server did not start"
            time.sleep(0.02)
        try:
            check(f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            thread.join(10)

    monkeypatch.setattr(uvicorn, "run", run)
    result = duban("web", "--port", str(port))
    assert result.exit_code == 0, result.output
    return used


def failed_logins(base: str, client: str, times: int) -> list[int]:
    """``times`` wrong passwords from a browser the proxy says is at ``client``."""
    with httpx.Client(base_url=base, headers={"X-Forwarded-For": client}) as browser:
        token = TOKEN.search(browser.get("/login").text).group(1)  # type: ignore[union-attr]
        form = {"username": "wang", "password": "not the password", "csrf_token": token}
        return [browser.post("/login", data=form).status_code for _ in range(times)]


def test_behind_a_proxy_failed_logins_count_by_the_client_it_names(
    duban: Duban, monkeypatch: pytest.MonkeyPatch
) -> None:
    def one_client_each(base: str) -> None:
        assert failed_logins(base, "203.0.113.5", 4) == [401, 401, 401, 429]
        assert failed_logins(base, "203.0.113.6", 1) == [401]  # another client: not locked out

    used = serve_web_command(duban, monkeypatch, one_client_each)  # the proxy: 127.0.0.1
    assert (used["proxy_headers"], used["forwarded_allow_ips"]) == (True, "127.0.0.1")

    # A proxy on another host is named; what anyone else says in the header is not believed.
    monkeypatch.setenv("DUBAN_WEB_FORWARDED_ALLOW_IPS", "10.1.2.3")

    def all_the_same_client(base: str) -> None:
        assert failed_logins(base, "203.0.113.5", 3) == [401, 401, 401]
        assert failed_logins(base, "203.0.113.6", 1) == [429]  # loopback, whatever it claims

    used = serve_web_command(duban, monkeypatch, all_the_same_client)
    assert used["forwarded_allow_ips"] == "10.1.2.3"
