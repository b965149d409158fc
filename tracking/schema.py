"""The database schema's revision, managed with Alembic (the scripts are in tracking/migrations).

Every start calls :func:`ensure_schema`: an empty database is created at the head revision, a
database at the head passes, and one behind it is refused until ``duban db upgrade`` (that is,
:func:`upgrade`) brings it there. A database the release before Alembic made has duban's tables
but no alembic_version table: it counts as the baseline revision.

Alembic itself is imported only to create, upgrade or compare a schema: the check on a database
at the head is two catalogue queries, so quick commands start quickly.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from tracking import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from tracking.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the schema of the release before Alembic
VERSION_TABLE = "alembic_version"
# Held while a PostgreSQL schema is created or upgraded, so two starting processes take turns.
_PG_LOCK_KEY = 0x6475_6261_6E  # "duban"


@cache
def revisions() -> tuple[str, ...]:
    """The revisions, oldest first. Each script is named after its revision (0002_….py) and
    revises the one before it: a test checks both, so this needs no Alembic."""
    scripts = (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    return tuple(sorted(path.name.split("_", 1)[0] for path in scripts))


def head() -> str:
    return revisions()[-1]


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands: ``current`` is None for an empty database."""

    url: str  # without the password
    current: str | None
    head: str
    tracked: bool = True  # False: duban's tables without alembic_version (the first release)

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    @property
    def known(self) -> bool:
        return self.current is None or self.current in revisions()

    def describe(self) -> str:
        if self.current is None:
            return f"the database {self.url} is empty (duban creates it at revision {self.head})"
        untracked = "" if self.tracked else " (made before duban tracked its schema revision)"
        return f"the database {self.url} is at schema revision {self.current}{untracked}"


@dataclass(frozen=True)
class Upgrade:
    before: str | None
    after: str

    def summary(self) -> str:
        if self.before == self.after:
            return f"already at {self.after}"
        if self.before is None:
            return f"created at {self.after}"
        return f"upgraded from {self.before} to {self.after}"


def include_name(name: str | None, type_: str, _parents: dict[str, str | None]) -> bool:
    """Alembic looks only at duban's tables: others (APScheduler's jobs) share the database."""
    return type_ != "table" or name in SQLModel.metadata.tables


def schema_status(engine: Engine) -> SchemaStatus:
    with engine.connect() as connection:
        return _status(connection)


def ensure_schema(engine: Engine) -> None:
    """Create an empty database at the head revision; refuse one that is not at the head.

    Creating the tables from the models and stamping the head is much quicker than running every
    migration, and gives the same schema (a test compares them).
    """
    status = schema_status(engine)
    if status.at_head:
        return
    if status.current is None:
        with engine.begin() as connection:
            _lock(connection)
            if _status(connection).current is None:  # no other process created it meanwhile
                SQLModel.metadata.create_all(connection)
                _migration_context(connection).stamp(_scripts(), head())
                return
        status = schema_status(engine)
    _refuse_unless_at_head(status)


def upgrade(engine: Engine) -> Upgrade:
    """Bring the database to the head revision (an empty one is created by the migrations)."""
    from alembic import command

    with engine.connect() as connection, _foreign_keys_off(connection):
        with connection.begin():
            _lock(connection)
            before = _status(connection)
            if not before.known:
                _refuse_unless_at_head(before)
            if not before.at_head:
                config = _alembic_config(connection)
                if not before.tracked:
                    command.stamp(config, BASELINE)
                command.upgrade(config, "head")
            _check_foreign_keys(connection)
            after = _status(connection)
        return Upgrade(before=before.current, after=after.current or head())


def _refuse_unless_at_head(status: SchemaStatus) -> None:
    if status.at_head:
        return
    if not status.known:
        raise SchemaError(
            f"{status.describe()}, which this duban does not know (it needs {status.head}): "
            "a newer duban has upgraded it; use that one"
        )
    raise SchemaError(
        f"{status.describe()}; this duban needs {status.head}: run `duban db upgrade`"
    )


def _status(connection: Connection) -> SchemaStatus:
    url = connection.engine.url.render_as_string(hide_password=True)
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables:
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
        if current := ", ".join(sorted(rows)):
            return SchemaStatus(url=url, current=current, head=head())
    if tables & set(SQLModel.metadata.tables):
        return SchemaStatus(url=url, current=BASELINE, head=head(), tracked=False)
    return SchemaStatus(url=url, current=None, head=head())


def _lock(connection: Connection) -> None:
    """PostgreSQL: wait for any other process creating or upgrading the schema. SQLite's BEGIN
    IMMEDIATE already did."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


@contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: a batch migration copies a table, drops it and renames the copy, which foreign
    keys would refuse; SQLite's own recipe turns them off outside the transaction and checks
    them before the commit (:func:`_check_foreign_keys`)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    dbapi.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        dbapi.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise SchemaError(
            f"the upgrade would leave {len(broken)} row(s) pointing at rows that do not exist "
            f"(first: table {broken[0][0]}, row {broken[0][1]}); nothing was changed"
        )


def _alembic_config(connection: Connection) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> "ScriptDirectory":
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def _migration_context(connection: Connection, **options: Any) -> Any:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection, opts={"include_name": include_name, **options})
