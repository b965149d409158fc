"""The web application's frame: served on loopback, opened in a real headless Chromium."""

import pytest
from web_support import serving

from config.settings import ConfigError, load_settings
from flows.web.app import create_web_app
from flows.web.keys import _create, secret_key


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


def test_a_short_secret_key_is_refused_without_echoing_it(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_SECRET_KEY", "short-but-secret")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "DUBAN_SECRET_KEY: must be at least 32 characters" in str(refused.value)
    assert "short-but-secret" not in str(refused.value)
    monkeypatch.setenv("DUBAN_SECRET_KEY", "")  # a blank line in an environment file
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load_settings()


def test_an_empty_or_cut_key_file_is_refused_not_used(make_app) -> None:
    settings = make_app().settings
    settings.secret_key_file.parent.mkdir(parents=True, exist_ok=True)
    settings.secret_key_file.write_text("\n")
    with pytest.raises(ConfigError, match="shorter than 32 characters"):
        secret_key(settings)


def test_a_second_process_creating_the_key_keeps_the_first(tmp_path) -> None:
    path = tmp_path / "secret.key"
    _create(path)
    first = path.read_text()
    _create(path)  # as if another process raced us: the file is not replaced
    assert path.read_text() == first and len(first.strip()) >= 48
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"]  # no temporary left
