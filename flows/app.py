"""The running application: settings, database, renderer and mail backend, built once per process.

Prefect flows take only plain parameters, so they find their dependencies here: the command line
(or a test) installs an App with :func:`use_app`, and flows call :func:`current_app`. A flow run
that a ``duban worker`` starts in a fresh process finds none installed: there :func:`current_app`
builds one from the settings (the environment and the settings file), once per process.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine

from config.policy import Policy, load_policy
from config.settings import Settings, load_settings
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
_from_settings: App | None = None
_building = threading.Lock()


def current_app() -> App:
    """The App installed with :func:`use_app`; else the one built from the settings for this
    process (a served flow run), built on first use."""
    global _from_settings
    if _current is not None:
        return _current
    with _building:
        if _from_settings is None:
            _from_settings = build_app(load_settings())
        return _from_settings


@contextmanager
def use_app(app: App) -> Iterator[App]:
    """Make ``app`` the one flows use, for the duration of the block."""
    global _current
    previous, _current = _current, app
    try:
        yield app
    finally:
        _current = previous
