"""``duban db``: the database schema's revision, and upgrading it after installing a new duban.

These commands do not build the App: every other command refuses a database whose schema is
behind, and ``duban db upgrade`` is what brings it forward.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from config.settings import ConfigError
from flows.cli.base import app, command_settings, console, fail
from tracking.db import make_engine
from tracking.errors import TrackingError
from tracking.schema import schema_status, upgrade

db_app = typer.Typer(
    help="The database schema: its revision, and upgrading it.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@contextmanager
def _database(*, writes: bool) -> Iterator[Engine]:
    """The configured database's engine; errors a user can act on are printed, not raised."""
    engine: Engine | None = None
    try:
        engine = make_engine(command_settings(writes=writes).resolved_database_url)
        yield engine
    except (ConfigError, TrackingError) as exc:
        fail(str(exc))
    except OperationalError as exc:
        fail(f"cannot use the database (DUBAN_DATABASE_URL): {str(exc.orig).strip()}")
    finally:
        if engine is not None:
            engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database's schema to the revision this duban needs (back it up first)."""
    with _database(writes=True) as engine:
        done = upgrade(engine)
    console.print(f"Database schema {done.summary()}.", markup=False)


@db_app.command("status")
def db_status() -> None:
    """Show the schema's revision and the one this duban needs; exit 1 if it must upgrade."""
    with _database(writes=False) as engine:
        status = schema_status(engine)
    line = f"{status.describe()}; this duban needs {status.head}."
    console.print(line[0].upper() + line[1:], markup=False)
    if status.current is not None and not status.at_head:
        hint = "Run `duban db upgrade`." if status.known else "A newer duban upgraded it."
        console.print(hint, markup=False)
        raise typer.Exit(1)
