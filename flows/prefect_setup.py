"""Prefect, set up quiet and contained. Call :func:`configure_prefect` before importing prefect.

Without a Prefect server configured (PREFECT_API_URL), the first flow run in a process starts a
temporary server (7 to 15 s; on a fresh PREFECT_HOME it also creates its database, which can
outlast Prefect's 20 s default start-up timeout). Its state lives under duban's state folder,
apart from duban's own database, and telemetry is off.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from config.settings import Settings

QUIET_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # The temporary server logs cancelled event flushes as errors when it is stopped at exit.
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_UI_ENABLED": "false",
}


def configure_prefect(settings: Settings) -> None:
    """Point Prefect at duban's state folder and silence it, unless the user set these already."""
    home = settings.prefect_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    for name, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(name, value)


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs without the heartbeat thread, which adds about 1 s to every sync flow run.

    Heartbeats let a server notice a crashed run; our runs are short and their effects are
    recorded in duban's own ledger, so nothing is lost without them.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
