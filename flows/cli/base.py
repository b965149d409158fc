"""What every ``duban`` command shares: the app, the consoles, and turning errors into messages."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from config.settings import ConfigError, Settings, load_settings
from flows.app import App, build_app
from notifications.errors import NotificationError
from tracking.errors import TrackingError

app = typer.Typer(
    help="duban (督办): track follow-up items of NPC suggestions and CPPCC proposals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
units_app = typer.Typer(help="Units and their contacts.", no_args_is_help=True)
feedback_app = typer.Typer(help="The compiled 落实情况反馈 text.", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(feedback_app, name="feedback")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
_state: dict[str, Path | None] = {"config": None}


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2022-06-15"
        ) from None


def parse_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a time; write it as HH:MM, e.g. 09:30"
        ) from None


def date_option(help_text: str, *names: str) -> object:
    return typer.Option(*names, parser=parse_date, metavar="YYYY-MM-DD", help=help_text)


AsOfOption = Annotated[date | None, date_option("The date to act as of (default: today).")]


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option(help="Settings file (TOML); default $DUBAN_CONFIG_FILE or ./duban.toml."),
    ] = None,
) -> None:
    _state["config"] = config


@contextmanager
def running(*, writes: bool = True) -> Iterator[App]:
    """The App for one command; any error a user can act on is printed, not raised.

    A command that only reads refuses to start on a SQLite file that does not exist, rather
    than create an empty database and show nothing.
    """
    duban: App | None = None
    try:
        duban = build_app(command_settings(writes=writes))
        yield duban
    except (ConfigError, TrackingError, NotificationError) as exc:
        fail(str(exc))
    except OperationalError as exc:
        fail(f"cannot use the database (DUBAN_DATABASE_URL): {str(exc.orig).strip()}")
    finally:
        if duban is not None:
            duban.engine.dispose()  # close the pool's connections rather than leave them to GC


def config_file() -> Path | None:
    """The settings file given with ``--config``, if any."""
    return _state["config"]


def command_settings(*, writes: bool) -> Settings:
    """The settings for this command. One that only reads refuses a SQLite file that does not
    exist (raising ConfigError)."""
    settings = load_settings(_state["config"])
    if not writes:
        _require_database(settings)
    return settings


def _require_database(settings: Settings) -> None:
    url = make_url(settings.resolved_database_url)
    file = url.database if url.drivername.startswith("sqlite") else None
    if file and file != ":memory:" and not Path(file).exists():
        raise ConfigError(
            f"no database at {url.database}: import a table first (duban import), or point "
            "DUBAN_STATE_DIR or DUBAN_DATABASE_URL at your workspace "
            "(the demo's is: DUBAN_STATE_DIR=var/demo)"
        )


def fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(1)


def local_now(duban: App, as_of: date | None, at: time | None) -> tuple[date, datetime]:
    """The chase day and moment: today and now, or ``as_of`` at ``at`` (default: now's time)."""
    now = duban.now()
    day = as_of or now.date()
    moment = datetime.combine(day, at or now.time().replace(tzinfo=None), tzinfo=now.tzinfo)
    return day, moment
