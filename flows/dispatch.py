"""Run a job's flow and say in one line what it did.

The scheduler (``duban run``) and ``duban jobs run`` start flows by name through
:func:`run_flow`, so that how a flow runs is decided in one place:

- with no Prefect server configured, the flow runs here, in this process (Prefect starts a
  temporary local server for it);
- with a Prefect server configured (``PREFECT_API_URL`` in the environment), :func:`run_flow`
  creates a flow run of the flow's deployment and returns at once; one of the ``duban worker``
  processes serving the deployments (:mod:`flows.deployments`) runs it.

:data:`FLOWS` is the one registry: every entry is dispatched here and deployed by the workers.
Flow modules import Prefect, which is slow to import: they are loaded only when a flow runs.
"""

import os
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

from pydantic_core import to_jsonable_python

from config.settings import Settings
from flows.app import App, use_app

#: name -> (module, flow function). Every flow duban runs: jobs start them by name, and each
#: ``duban worker`` serves one deployment of each.
FLOWS: dict[str, tuple[str, str]] = {
    "chase": ("flows.chase_flow", "chase_units"),
    "compile": ("flows.compile_flow", "compile_feedback"),
    "deliver": ("flows.deliver_flow", "deliver_batch"),
    "retry": ("flows.retry_flow", "retry_deliveries"),
    "weekly": ("flows.report_flows", "weekly_digest"),
    "lookback": ("flows.report_flows", "lookback"),
    "year-end": ("flows.year_end_flow", "year_end"),
}

#: The environment variable (Prefect's own setting) that names the Prefect server.
API_URL = "PREFECT_API_URL"

#: Between a job's key and the attempt number of a re-run: ``year-end:2026#2``.
ATTEMPT_MARK = "#"


def prefect_server() -> str | None:
    """The Prefect server's API URL when one is configured in the environment, else None.

    Only the environment counts: a Prefect settings context set up in this process (a test
    harness, the temporary local server) does not select the server path.
    """
    return os.environ.get(API_URL) or None


def shared_secret_problem(settings: Settings, command: str) -> str | None:
    """Why ``command`` must not run in a scaled-out installation with these settings, or None.

    Flow runs on workers, on any machine, mail the units links that ``duban web`` checks: each
    process signs with ``secret_key``, which by default is a random key created per machine
    (``state_dir/secret.key``), so every process must be given the same one.
    """
    if settings.secret_key is not None:
        return None
    return (
        f"{command} with a Prefect server needs DUBAN_SECRET_KEY (secret_key in the settings "
        "file): set DUBAN_SECRET_KEY to the same value on every duban process (web, run, "
        "workers): the unit links in the digests are signed with it (see docs/deploy.md)"
    )


def load_flow(name: str) -> Any:
    """The Prefect flow registered under ``name``."""
    module, attribute = FLOWS[name]
    return getattr(import_module(module), attribute)


def run_flow(app: App, name: str, parameters: dict[str, Any], *, key: str) -> str:
    """Run flow ``name`` with ``parameters`` and return a one-line summary of what it did.

    ``key`` names this firing of the job (e.g. ``chase:2026-12-03``): a second start with the
    same key must not do the work twice. In this process the ledger's unique keys already make a
    repeated run harmless, so the key only labels the run; on a Prefect server it is also the
    flow run's idempotency key, so the server creates one flow run per key (and one more for
    each time the last one ended without completing: see :func:`create_flow_run`).
    """
    from flows.prefect_setup import configure_prefect, without_heartbeats

    configure_prefect(app.settings)
    if prefect_server():
        return create_flow_run(name, parameters, key=key)
    flow = load_flow(name)
    with use_app(app), without_heartbeats():
        result = flow.with_options(flow_run_name=key)(**parameters)
    return summarize(result)


def create_flow_run(name: str, parameters: dict[str, Any], *, key: str) -> str:
    """Create a flow run of flow ``name``'s deployment on the Prefect server, without waiting
    for it, and say what happened.

    ``key`` is the flow run's idempotency key, so a second call finds the first run instead of
    creating another: while that run is waiting or running, or once it has completed, nothing
    new is started. A run that ended without completing (Failed, Crashed, Cancelled) is run
    again, under the key with an attempt number (``year-end:2026#2``, then ``#3``…), so that
    fixing the cause and starting the job again does the work; the ledger still sends each
    message once.
    """
    from flows.deployments import deployment_name

    deployment = deployment_name(name)
    attempt, ended = 1, None  # ended: the last attempt found that ended without completing
    while True:
        attempt_key = key if attempt == 1 else f"{key}{ATTEMPT_MARK}{attempt}"
        flow_run, created = _create_or_find(deployment, parameters, attempt_key)
        # Named by its key: a flow run's name changes to the flow's own once it runs.
        label = f"flow run {attempt_key} ({flow_run.id}) on {deployment}"
        if created:
            if ended is None:
                return f"created {label}"
            return (
                f"created {label}: a re-run, as {ended.idempotency_key} ({ended.id}) ended "
                f"{_state_name(ended)}"
            )
        state = flow_run.state
        if state is not None and state.is_final() and not state.is_completed():
            ended, attempt = flow_run, attempt + 1
            continue
        if state is not None and state.is_completed():
            return f"{label} exists already ({_state_name(flow_run)}): nothing new started"
        return (
            f"{label} exists already ({_state_name(flow_run)}), not finished yet: "
            "nothing new started"
        )


def _create_or_find(deployment: str, parameters: dict[str, Any], key: str) -> tuple[Any, bool]:
    """The flow run for idempotency ``key`` on ``deployment``, created now if there was none,
    and whether it was created now."""
    from prefect.deployments import run_deployment

    # The start time we ask for marks the run we create: a run the server had already for this
    # key keeps the start time it was created with.
    asked_for = datetime.now(UTC)
    flow_run = run_deployment(
        name=deployment,
        parameters=to_jsonable_python(parameters),  # dates as ISO text; the flow coerces them
        scheduled_time=asked_for,
        flow_run_name=key,
        timeout=0,
        idempotency_key=key,
        as_subflow=False,
    )
    return flow_run, flow_run.expected_start_time == asked_for


def _state_name(flow_run: Any) -> str:
    return flow_run.state.name if flow_run.state else "no state"


def summarize(result: object) -> str:
    """A flow result in one line: its own ``summary()`` when it has one."""
    summary = getattr(result, "summary", None)
    if callable(summary):
        return str(summary())
    if isinstance(result, dict):  # the compile flow's {format: path}
        return "wrote " + ", ".join(str(path) for path in result.values())
    return "done"
