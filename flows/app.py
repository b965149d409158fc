"""The running application: settings, database, renderer and mail backend, built once per process.

Prefect flows take only plain parameters, so they find their dependencies here: the command line
(or a test) installs an App with :func:`use_app`, and flows call :func:`current_app`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine

from config.policy import Policy, load_policy
from config.settings import Settings
from notifications.mail import MailBackend, backend_from_settings
from notifications.render import EmailRenderer
from tracking.db import make_engine
from tracking.schema import ensure_schema
from tracking.workdays import WorkCalendar


@dataclass
class App:
    settings: Settings
    engine: Engine
    renderer: EmailRenderer
    mail: MailBackend
    policy: Policy
    calendar: WorkCalendar

    def now(self) -> datetime:
        """The current time in the configured zone: only the edges read the clock."""
        return datetime.now(self.settings.zone)

    def today(self) -> date:
        return self.now().date()


def build_app(
    settings: Settings, *, mail: MailBackend | None = None, policy: Policy | None = None
) -> App:
    policy = policy or load_policy(settings.policy_file)
    engine = make_engine(settings.resolved_database_url)
    try:
        ensure_schema(engine)  # creates an empty database; refuses one `duban db upgrade` must fix
    except Exception:
        engine.dispose()
        raise
    return App(
        settings=settings,
        engine=engine,
        renderer=EmailRenderer(settings.templates_dir),
        mail=mail or backend_from_settings(settings),
        policy=policy,
        calendar=WorkCalendar.from_corrections(policy.calendar),
    )


_current: App | None = None


def current_app() -> App:
    if _current is None:
        raise RuntimeError("no duban App installed; call flows.app.use_app() first")
    return _current


@contextmanager
def use_app(app: App) -> Iterator[App]:
    """Make ``app`` the one flows use, for the duration of the block."""
    global _current
    previous, _current = _current, app
    try:
        yield app
    finally:
        _current = previous
