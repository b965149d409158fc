"""Shared fixtures: a database on each backend, an App wired to it, the seed table.

Database tests run twice, on SQLite and on PostgreSQL (127.0.0.1:5432, database ``test``; each test
gets a schema of its own). Outside CI an unreachable PostgreSQL skips those runs with a message;
with CI=true it fails them.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import Duban, clear_duban_environment, runner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from config.settings import Settings
from flows.app import App, build_app
from flows.prefect_setup import configure_prefect
from notifications.mail import MailBackend, MemoryBackend
from tracking.db import make_engine
from tracking.schema import ensure_schema

pytest_plugins = ("web_support",)  # the web server and browser fixtures

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "config" / "demo" / "seed-2022.txt"
PG_SERVER = os.environ.get("DUBAN_TEST_POSTGRES", "postgresql+psycopg://127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        probe = create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with probe.connect() as connection:
            connection.execute(text("select 1"))
        probe.dispose()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def postgres_problem() -> str | None:
    return _postgres_reachable()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'duban.db'}"
        return
    problem = request.getfixturevalue("postgres_problem")
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_SERVER} is required in CI: {problem}")
        pytest.skip(f"PostgreSQL at {PG_SERVER} is not reachable: {problem}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as connection:
        connection.execute(text(f"create schema {schema}"))
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        database_url=database_url,
        body_name="市民政局",
    )


@pytest.fixture
def memory_mail() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def make_app(settings: Settings) -> Iterator:
    """Build an App on the test database with the mail backend a test chooses."""
    apps: list[App] = []

    def build(mail: MailBackend | None = None, **overrides: object) -> App:
        app = build_app(settings.model_copy(update=overrides), mail=mail)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.engine.dispose()


@pytest.fixture
def seed() -> Path:
    return SEED


@pytest.fixture
def duban(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Duban:
    """The command line on the test database (SQLite and PostgreSQL)."""
    clear_duban_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("DUBAN_DATABASE_URL", database_url)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "state"))
    return runner()


@pytest.fixture
def duban_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Duban:
    """The command line on the default SQLite database in its state folder."""
    clear_duban_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "state"))
    return runner()


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One Prefect test harness (a temporary server, ~15 s to start) for the whole session."""
    configure_prefect(Settings(state_dir=tmp_path_factory.mktemp("prefect-state")))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
