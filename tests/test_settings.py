"""Settings: environment over an optional TOML file; a bad value names the setting."""

from pathlib import Path

import pytest

from config.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("DUBAN_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no ./duban.toml unless a test writes one


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings()
    assert settings.resolved_database_url == "sqlite:///var/duban.db"
    assert settings.resolved_outbox_dir == Path("var/outbox")
    assert settings.mail_backend == "outbox"
    assert settings.timezone == "Asia/Shanghai"


def test_environment_wins_over_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "duban.toml").write_text(
        'mail_backend = "smtp"\nsmtp_host = "mail.example.org"\nsmtp_port = 2525\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DUBAN_SMTP_PORT", "587")

    settings = load_settings()

    assert (settings.mail_backend, settings.smtp_host, settings.smtp_port) == (
        "smtp",
        "mail.example.org",
        587,
    )


def test_config_file_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('timezone = "Asia/Urumqi"\n', encoding="utf-8")
    monkeypatch.setenv("DUBAN_CONFIG_FILE", str(other))
    assert load_settings().timezone == "Asia/Urumqi"

    monkeypatch.setenv("DUBAN_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="DUBAN_CONFIG_FILE: no such file"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DUBAN_SMTP_PORT", "abc", "DUBAN_SMTP_PORT: Input should be a valid integer"),
        ("DUBAN_TIMEZONE", "Mars/Base", "DUBAN_TIMEZONE: not a known time zone"),
        ("DUBAN_MAIL_BACKEND", "pigeon", "DUBAN_MAIL_BACKEND: Input should be 'outbox' or 'smtp'"),
        ("DUBAN_DATABASE_URL", "mysql://x", "DUBAN_DATABASE_URL: must start with"),
        ("DUBAN_REPORT_INTERVAL_DAYS", "0", "DUBAN_REPORT_INTERVAL_DAYS: Input should be greater"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert repr(value) in str(caught.value)


def test_a_bad_file_value_names_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "duban.toml").write_text('smtp_port = "many"\nsmtp_hots = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    text = str(caught.value)
    assert "duban.toml: smtp_port: Input should be a valid integer" in text
    assert "duban.toml: smtp_hots: unknown setting" in text


def test_a_broken_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "duban.toml").write_text("smtp_port = = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"duban.toml: not valid TOML"):
        load_settings()


def test_starttls_and_ssl_exclude_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_SMTP_STARTTLS", "true")
    monkeypatch.setenv("DUBAN_SMTP_SSL", "true")
    with pytest.raises(ConfigError, match="smtp_starttls and smtp_ssl exclude each other"):
        load_settings()


def test_a_misspelt_variable_is_refused_with_a_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_REPORT_INTERVALDAYS", "10")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "unknown setting(s) in the environment: DUBAN_REPORT_INTERVALDAYS "
        "(did you mean DUBAN_REPORT_INTERVAL_DAYS?)"
    )


@pytest.mark.parametrize(("written", "hour", "minute"), [("9:30", 9, 30), (" 09:05 ", 9, 5)])
def test_times_of_day_are_read_as_people_write_them(
    monkeypatch: pytest.MonkeyPatch, written: str, hour: int, minute: int
) -> None:
    monkeypatch.setenv("DUBAN_CHASE_AT", written)
    chase_at = load_settings().chase_at
    assert (chase_at.hour, chase_at.minute) == (hour, minute)


@pytest.mark.parametrize("written", ["25:00", "9.30", "09:30:45", ""])
def test_a_time_that_is_not_hh_mm_is_refused_plainly(
    monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("DUBAN_COMPILE_AT", written)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "DUBAN_COMPILE_AT: must be a time of day as HH:MM, e.g. 09:30" in str(refused.value)


def test_a_toml_time_is_taken_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "duban.toml"
    path.write_text("weekly_digest_at = 08:45:00\n")
    assert load_settings(path).weekly_digest_at.strftime("%H:%M") == "08:45"
