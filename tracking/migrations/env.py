"""Alembic's environment for duban: run on the connection ``tracking.schema`` passes in.

There is no alembic.ini and no URL here: the caller opens the connection on duban's own engine
(SQLite with BEGIN IMMEDIATE, or PostgreSQL with the schema its URL puts first in search_path,
where alembic_version goes too) and sets ``config.attributes["connection"]``.
"""

from alembic import context
from sqlmodel import SQLModel

from tracking import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from tracking.schema import include_name

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "duban's migrations run on a connection: use `duban db upgrade` (tracking.schema)"
    )
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    include_name=include_name,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
