"""The ``duban`` command line.

Quick commands (import, units, assign, update, list, show, plan, why, explain, jobs and the workflow
steps) never import Prefect: only ``chase``, ``compile`` and ``demo`` do, and only when they run.
"""

from flows.cli import (  # noqa: F401
    chasing,
    collect,
    database,
    handling,
    links,
    records,
    service,
    users,
    web,
    worker,
)
from flows.cli.base import app

__all__ = ["app"]
