"""The schema under Alembic: the migrations build what the models describe, a database of the
release before Alembic upgrades with its rows intact, and a database behind is refused."""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cli_runner import Duban
from sqlalchemy import MetaData, insert, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel

from config.settings import Settings
from flows.app import build_app
from tracking.db import make_engine
from tracking.errors import SchemaError
from tracking.models import Assignment, FollowUpItem, Proposal, Unit
from tracking.schema import (
    BASELINE,
    MIGRATIONS,
    ensure_schema,
    head,
    include_name,
    revisions,
    schema_status,
    upgrade,
)

DATA = Path(__file__).resolve().parent / "data"
CREATED = datetime(2022, 2, 15, 2, 0, tzinfo=UTC)


@pytest.fixture
def empty(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def schema_differences(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"include_name": include_name})
    return compare_metadata(context, SQLModel.metadata)


def previous_release(engine: Engine) -> dict[str, int]:
    """The schema duban 0.1.0 made (tests/data), with a proposal, unit, item and assignment."""
    ddl = (DATA / f"schema-0001-{engine.dialect.name}.sql").read_text(encoding="utf-8")
    with engine.begin() as connection:
        for statement in ddl.split(";\n"):
            sql = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
            if sql.strip():
                connection.exec_driver_sql(sql)
        tables = MetaData()
        tables.reflect(connection, only=["proposal", "unit", "followupitem", "assignment"])

        def add(table: str, **values: object) -> int:
            return connection.execute(
                insert(tables.tables[table]).values(**values).returning(tables.tables[table].c.id)
            ).scalar_one()

        proposal = add(
            "proposal",
            year=2022,
            category="政协提案",
            number="015",
            lead_representative="张三",
            title="关于社区食堂的提案",
            handling_type="主办",
        )
        unit = add("unit", name="市民政局", aliases=[], emails=["mz@example.org"], snooze_reason="")
        item = add(
            "followupitem",
            proposal_id=proposal,
            ordinal=1,
            position=1,
            commitment="建设社区食堂",
            status="assigned",
            assigned_on=date(2022, 2, 15),
            created_at=CREATED,
        )
        assignment = add("assignment", item_id=item, unit_id=unit, role="lead", status="assigned")
    return {"proposal": proposal, "unit": unit, "item": item, "assignment": assignment}


def test_the_revisions_are_the_scripts_each_named_after_its_revision_in_a_line() -> None:
    scripts = ScriptDirectory(str(MIGRATIONS))
    walked = list(reversed(list(scripts.walk_revisions("base", "heads"))))
    assert tuple(script.revision for script in walked) == revisions()
    assert revisions()[0] == BASELINE
    for before, script in zip([None, *walked], walked, strict=False):
        assert Path(script.path).name.startswith(f"{script.revision}_")
        assert script.down_revision == (before.revision if before else None)
    assert scripts.get_heads() == [head()]


@pytest.mark.parametrize("how", ["migrations", "start"])
def test_an_empty_database_gets_the_models_schema(empty: Engine, how: str) -> None:
    """Either way, running every migration or what every start does (create_all and stamp): the
    schema is the models', at the head, in the URL's own schema on PostgreSQL; a foreign table
    (APScheduler's) neither counts as duban's nor differs."""
    with empty.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY)")
    assert schema_status(empty).current is None

    if how == "migrations":
        assert upgrade(empty).summary() == f"created at {head()}"
    else:
        ensure_schema(empty)

    assert schema_status(empty).at_head
    with empty.connect() as connection:
        assert schema_differences(connection) == []
        if empty.dialect.name == "postgresql":
            placed = set(
                connection.execute(
                    text(
                        "SELECT DISTINCT table_schema FROM information_schema.tables "
                        "WHERE table_name IN ('alembic_version', 'followupitem', 'assignment')"
                    )
                ).scalars()
            )
            # Other tests' schemas (t_…), on this server at the same moment, may hold them too.
            own = connection.execute(text("SELECT current_schema()")).scalar()
            assert own in placed and "public" not in placed
    ensure_schema(empty)  # at the head: passes
    assert upgrade(empty).summary() == f"already at {head()}"


def test_a_database_of_the_previous_release_is_refused_then_upgraded(
    database_url: str, empty: Engine, duban: Duban, settings: Settings
) -> None:
    ids = previous_release(empty)
    status = schema_status(empty)
    assert (status.current, status.tracked, status.at_head) == (BASELINE, False, False)

    with pytest.raises(SchemaError) as refused:
        build_app(settings)
    shown = empty.url.render_as_string(hide_password=True)
    assert str(refused.value) == (
        f"the database {shown} is at schema revision 0001 (made before duban tracked its schema "
        f"revision); this duban needs {head()}: run `duban db upgrade`"
    )
    listed = duban("list")
    assert listed.exit_code == 1
    assert f"error: {refused.value}" in listed.stderr
    before = duban("db", "status")
    assert before.exit_code == 1
    assert "Run `duban db upgrade`." in before.stdout

    upgraded = duban("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.strip() == f"Database schema upgraded from 0001 to {head()}."
    assert duban("db", "upgrade").stdout.strip() == f"Database schema already at {head()}."
    after = duban("db", "status")
    assert after.exit_code == 0
    assert (
        after.stdout.strip()
        == f"The database {shown} is at schema revision {head()}; this duban needs {head()}."
    )

    with empty.connect() as connection:
        assert schema_differences(connection) == []
    with Session(empty) as session:
        proposal = session.get(Proposal, ids["proposal"])
        item = session.get(FollowUpItem, ids["item"])
        unit = session.get(Unit, ids["unit"])
        assignment = session.get(Assignment, ids["assignment"])
        assert proposal is not None and (proposal.number, proposal.title) == (
            "015",
            "关于社区食堂的提案",
        )
        assert item is not None and (item.commitment, item.created_at) == ("建设社区食堂", CREATED)
        assert unit is not None and unit.emails == ["mz@example.org"]
        assert assignment is not None and assignment.role == "lead"
        assert (item.version, unit.version, assignment.version) == (1, 1, 1)

    build_app(settings).engine.dispose()  # accepted now
    signed = duban("sign", "--item", str(ids["item"]), "--unit", "市民政局")
    assert signed.exit_code == 0, signed.output
    with Session(empty) as session:
        assert session.get(Assignment, ids["assignment"]).version == 2  # type: ignore[union-attr]
        assert session.get(FollowUpItem, ids["item"]).version == 2  # type: ignore[union-attr]


def test_a_database_a_newer_duban_upgraded_is_refused(empty: Engine, settings: Settings) -> None:
    ensure_schema(empty)
    with empty.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    message = rf"is at schema revision 0099, which this duban does not know \(it needs {head()}\)"
    with pytest.raises(SchemaError, match=message):
        build_app(settings)
    with pytest.raises(SchemaError, match=message):
        upgrade(empty)


def test_an_upgrade_on_sqlite_leaves_foreign_keys_enforced(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'duban.db'}")
    try:
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
