"""The web application's frame: served on loopback, opened in a real headless Chromium."""

from web_support import serving

from flows.web.app import create_web_app
from flows.web.keys import secret_key


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
