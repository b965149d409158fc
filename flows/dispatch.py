"""Run a job's flow and say in one line what it did.

The scheduler (``duban run``) and ``duban jobs run`` start flows by name through
:func:`run_flow`, so that how a flow runs is decided in one place. Flow modules import Prefect,
which is slow to import: they are loaded only when a flow runs.
"""

from importlib import import_module
from typing import Any

from flows.app import App, use_app

#: name -> (module, flow function). Every flow a job can start.
FLOWS: dict[str, tuple[str, str]] = {
    "chase": ("flows.chase_flow", "chase_units"),
    "compile": ("flows.compile_flow", "compile_feedback"),
    "retry": ("flows.retry_flow", "retry_deliveries"),
    "weekly": ("flows.report_flows", "weekly_digest"),
    "lookback": ("flows.report_flows", "lookback"),
    "year-end": ("flows.year_end_flow", "year_end"),
}


def load_flow(name: str) -> Any:
    """The Prefect flow registered under ``name``."""
    module, attribute = FLOWS[name]
    return getattr(import_module(module), attribute)


def run_flow(app: App, name: str, parameters: dict[str, Any], *, key: str) -> str:
    """Run flow ``name`` with ``parameters`` and return a one-line summary of what it did.

    ``key`` names this firing of the job (e.g. ``chase:2026-12-03``): a second start with the
    same key must not do the work twice. In this process the ledger's unique keys already make a
    repeated run harmless, so the key only labels the run.
    """
    from flows.prefect_setup import configure_prefect, without_heartbeats

    configure_prefect(app.settings)
    flow = load_flow(name)
    with use_app(app), without_heartbeats():
        result = flow.with_options(flow_run_name=key)(**parameters)
    return summarize(result)


def summarize(result: object) -> str:
    """A flow result in one line: its own ``summary()`` when it has one."""
    summary = getattr(result, "summary", None)
    if callable(summary):
        return str(summary())
    if isinstance(result, dict):  # the compile flow's {format: path}
        return "wrote " + ", ".join(str(path) for path in result.values())
    return "done"
