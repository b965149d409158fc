"""duban's settings: environment variables with the prefix ``DUBAN_`` over an optional TOML file.

The TOML file is ``$DUBAN_CONFIG_FILE`` when set, else ``./duban.toml`` when it exists. Its keys are
the setting names in lower case without the prefix (``database_url = "..."``). An environment
variable wins over the file. Settings are read by :func:`load_settings`, never at import time, and a
bad value fails there with a :class:`ConfigError` that names the setting.
"""

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "DUBAN_"
CONFIG_FILE_ENV = "DUBAN_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("duban.toml")


MIN_SECRET_KEY_LENGTH = 32
SECRET_SETTINGS = {"secret_key", "smtp_password"}  # never echoed in an error


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the setting and where it came from."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    state_dir: Path = Field(
        Path("var"), description="Folder for the default database, outbox and Prefect's own state."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite in state_dir."
    )
    outbox_dir: Path | None = Field(
        None, description="Folder of .eml files; default state_dir/outbox."
    )
    mail_backend: Literal["outbox", "smtp"] = "outbox"
    mail_from: str = "duban@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = Field(30.0, gt=0)
    timezone: str = "Asia/Shanghai"
    templates_dir: Path | None = Field(
        None, description="Folder of templates that override the shipped ones, file by file."
    )
    policy_file: Path | None = Field(
        None, description="The reminder and deadline policy (TOML); default config/policy.toml."
    )
    report_interval_days: int = Field(
        30, ge=1, description="A unit owes a report when it has reported nothing for this long."
    )
    reply_within_days: int = Field(7, ge=1, description="The reply-by date a digest asks for.")
    attach_unit_sheet: bool = Field(
        True,
        description="Attach each unit's 落实情况填报表 (XLSX) to its digest, to fill in.",
    )
    max_delivery_attempts: int = Field(5, ge=1)
    body_name: str = Field("建议提案办理工作办公室", description="Who signs the reminders.")
    reply_instructions: str = Field(
        "请登录督办系统填报，或直接回复本邮件",
        description="How units reply; shown in every reminder.",
    )

    # The service's schedule (duban run), in the time zone above.
    chase_at: time = Field(
        time(9, 30), description="When the daily chase runs, on working days (HH:MM)."
    )
    retry_every_minutes: int = Field(
        15, ge=1, le=720, description="How often failed deliveries are retried."
    )
    weekly_digest_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        "mon", description="The day the coordinator's weekly digest goes out."
    )
    weekly_digest_at: time = Field(time(9, 0), description="When the weekly digest goes out.")
    compile_on: str = Field(
        "12-10",
        description="The day (MM-DD) the year's summary table is compiled and mailed; a day in "
        "January to June compiles the year before.",
    )
    compile_at: time = Field(time(10, 0), description="When the year-end compilation runs.")
    compile_dir: Path | None = Field(
        None, description="Where the year-end compilation writes; default state_dir/compiled."
    )
    # The web side (duban web).
    web_host: str = Field("127.0.0.1", description="Where `duban web` listens.")
    web_port: int = Field(8080, ge=1, le=65535)
    web_forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="The proxies (comma-separated addresses, or *) whose X-Forwarded-For and "
        "X-Forwarded-Proto `duban web` believes: the client's own address then counts.",
    )
    web_base_url: str | None = Field(
        None,
        description="The address units open, as they reach it (put in the digests' links); "
        "default http://<web_host>:<web_port>.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs unit links and coordinator sessions; default a random key kept in "
        "state_dir/secret.key.",
    )
    link_valid_days: int = Field(90, ge=1, le=730, description="How long a unit's link works.")
    upload_max_mb: float = Field(10.0, gt=0, le=200, description="Largest attachment accepted.")
    lease_check_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="How often a standby `duban run` tries to take over, and the leader checks "
        "that it still holds the lease.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file's values arrive as init arguments; the environment must win over them.
        return (env_settings, init_settings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("not a known time zone (e.g. Asia/Shanghai)") from exc
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_SECRET_KEY_LENGTH} characters (it signs the units' "
                "links); e.g. the output of: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'"
            )
        return value

    @field_validator("web_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                "must start with http:// or https:// (e.g. https://duban.example.gov.cn)"
            )
        return value

    @field_validator("chase_at", "weekly_digest_at", "compile_at", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        """A time of day as people write it: ``9:30`` or ``09:30`` (no seconds)."""
        if not isinstance(value, str):
            return value
        match = re.fullmatch(r"\s*(\d{1,2})[:：](\d{2})\s*", value)
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError("must be a time of day as HH:MM, e.g. 09:30")
        return time(int(match[1]), int(match[2]))

    @field_validator("compile_on")
    @classmethod
    def _month_day(cls, value: str) -> str:
        try:
            month, day = (int(part) for part in value.split("-"))
            date(2023, month, day)  # not a leap year: 02-29 would skip three years in four
        except ValueError:
            raise ValueError("must be a day of the year as MM-DD, e.g. 12-10") from None
        return f"{month:02d}-{day:02d}"

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "postgresql:", "postgresql+")):
            raise ValueError(
                "must start with sqlite:/// or postgresql:// (e.g. postgresql+psycopg://)"
            )
        return value

    @model_validator(mode="after")
    def _tls_choice(self) -> "Settings":
        if self.smtp_starttls and self.smtp_ssl:
            raise ValueError("smtp_starttls and smtp_ssl exclude each other; set one")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'duban.db'}"

    @property
    def resolved_outbox_dir(self) -> Path:
        return self.outbox_dir or self.state_dir / "outbox"

    @property
    def resolved_compile_dir(self) -> Path:
        return self.compile_dir or self.state_dir / "compiled"

    @property
    def resolved_web_base_url(self) -> str:
        return (self.web_base_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    @property
    def secret_key_file(self) -> Path:
        return self.state_dir / "secret.key"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def prefect_home(self) -> Path:
        return self.state_dir / "prefect"


def load_settings(config_file: Path | None = None) -> Settings:
    """Read the settings once, at start-up. Raises ConfigError naming the bad setting."""
    environ = os.environ
    _check_environment_names(environ)
    path = config_file or _config_file_from(environ)
    file_values = _read_toml(path) if path else {}
    try:
        return Settings(**file_values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, environ)) from None


def _check_environment_names(environ: Mapping[str, str]) -> None:
    """A misspelt DUBAN_ variable would be ignored without a word; refuse it instead."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | {CONFIG_FILE_ENV}
    # Variables the test suite and tools set for themselves, not settings.
    known |= {"DUBAN_TEST_POSTGRES"}
    unknown = sorted(name for name in environ if name.startswith(ENV_PREFIX) and name not in known)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hints.append(name + (f" (did you mean {close[0]}?)" if close else ""))
        raise ConfigError("unknown setting(s) in the environment: " + ", ".join(hints))


def _config_file_from(environ: Mapping[str, str]) -> Path | None:
    if environ.get(CONFIG_FILE_ENV):
        path = Path(environ[CONFIG_FILE_ENV])
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV}: no such file: {path}")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the settings file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _describe(exc: ValidationError, path: Path | None, environ: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        if not field:  # a rule across settings, such as the TLS choice
            lines.append(error["msg"].removeprefix("Value error, "))
            continue
        env_name = ENV_PREFIX + field.upper()
        where = env_name if env_name in environ or path is None else f"{path}: {field}"
        if error["type"] == "extra_forbidden":
            lines.append(f"{path}: {field}: unknown setting")
        else:
            message = error["msg"].removeprefix("Value error, ")
            shown = "hidden" if field in SECRET_SETTINGS else repr(error.get("input"))
            lines.append(f"{where}: {message} (got {shown})")
    return "invalid settings:\n  " + "\n  ".join(lines)
