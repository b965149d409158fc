"""Engines and transactions for SQLite (the embedded default) and PostgreSQL; the schema is
tracking.schema's."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, create_engine

from tracking.conflicts import remember_versions, stale_message
from tracking.errors import ConflictError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created, and WAL and BEGIN IMMEDIATE set.

    SQLite's default deferred transactions lose read-then-write updates when two processes race:
    both read, then one write fails or overwrites. BEGIN IMMEDIATE takes the write lock up front,
    and the busy timeout makes the second writer wait instead of failing.
    """
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not parsed.drivername.startswith("sqlite"):
        return create_engine(parsed, pool_pre_ping=True)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class _Session(Session):
    """A session that notes the versions it writes, to name the record in a conflict."""


event.listen(_Session, "before_flush", remember_versions)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits together at the end of the block, or not at all.

    A write to a unit, item or assignment that someone else changed since this session read it
    fails with a ConflictError naming the record (tracking.conflicts); nothing is written.
    """
    with _Session(engine, expire_on_commit=False) as session:
        try:
            with session.begin():
                yield session
        except StaleDataError as exc:
            with Session(engine) as fresh:
                message = stale_message(fresh, session)
            raise ConflictError(message) from exc


def insert_returning_ids(
    session: Session, model: Any, rows: Sequence[Mapping[str, Any]], *, key: Sequence[str]
) -> dict[tuple[Any, ...], int]:
    """Insert ``rows`` into ``model``'s table in as few statements as the driver allows
    (multi-row ``INSERT … RETURNING``: SQLite ≥ 3.35, PostgreSQL); each new row's id by its
    values of the ``key`` columns, a unique key of the table.

    By key rather than by position: SQLite does not promise to return rows in the order of the
    VALUES, and asking SQLAlchemy to sort them (``sort_by_parameter_order``) makes it send one
    statement per row there. A Core statement on the table: no model is constructed or
    validated, nothing enters the session, and the ORM's per-row bookkeeping is skipped, so each
    row must carry every value the model's constructor would fill in that is not NULL,
    ``version`` included.
    """
    if not rows:
        return {}
    table = model.__table__
    statement = insert(table).returning(table.c.id, *(table.c[name] for name in key))
    return {tuple(values): row_id for row_id, *values in session.execute(statement, list(rows))}
