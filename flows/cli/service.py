"""``duban run`` (the scheduler) and ``duban jobs`` (what it runs, when, and how it went)."""

import signal
import threading
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import inspect

from flows.app import App, use_app
from flows.cli.base import app, console, fail, running
from flows.dispatch import prefect_server, shared_secret_problem
from flows.schedule import JobSpec, describe_trigger, find_spec, job_specs
from tracking.audit import latest_events
from tracking.db import transaction

jobs_app = typer.Typer(
    help="The scheduled jobs: list them (the default), or run one now.",
    invoke_without_command=True,
)
app.add_typer(jobs_app, name="jobs")


@app.command("run")
def run_service() -> None:
    """Run the schedule: the daily chase, retries, the weekly digest, the 回头看 check and the
    year-end compilation. One process leads; a second one on the same database stands by and
    takes over if the first stops. Logs go to <state_dir>/logs; Ctrl-C stops."""
    from flows.logs import configure_service_logging
    from flows.prefect_setup import configure_prefect
    from flows.service import Service

    with running() as duban:
        problem = prefect_server() and shared_secret_problem(duban.settings, "duban run")
        if problem:  # the workers sign the links in the digests: all with the same key
            fail(problem)
        folder = configure_service_logging(duban.settings)
        configure_prefect(duban.settings)
        console.print(f"duban run: logs in {folder}; Ctrl-C to stop", markup=False)
        stop = _stop_on_signals()
        with use_app(duban):
            Service.for_app(duban).run(stop)
        console.print("duban run: stopped", markup=False)


def _stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM (systemd's stop); a second Ctrl-C stops at once."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        console.print("duban run: stopping…", markup=False)
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


@jobs_app.callback()
def list_jobs(ctx: typer.Context) -> None:
    """List the jobs: schedule, next run, last run and its outcome."""
    if ctx.invoked_subcommand is not None:
        return
    with running(writes=False) as duban:
        specs = job_specs(duban.settings, duban.policy)
        stored = _stored_jobs(duban)
        with transaction(duban.engine) as session:
            last = latest_events(session, actions=[f"job:{spec.name}" for spec in specs])
        now = duban.now()
    table = Table("job", "schedule", "next run", "last run", "outcome", title=None)
    for spec in specs:
        event = last.get(f"job:{spec.name}")
        outcome = ""
        if event is not None and event.after:
            outcome = ("ok: " if event.after.get("ok") else "FAILED: ") + str(
                event.after.get("summary", "")
            )
        table.add_row(
            spec.name,
            _schedule(spec, stored),
            _next_run(spec, stored, now),
            f"{event.at.astimezone(duban.settings.zone):%Y-%m-%d %H:%M}" if event else "never",
            outcome,
        )
    console.print(table)
    if not stored:
        console.print(
            "The schedule is not stored yet: `duban run` stores it when it starts.", markup=False
        )


@jobs_app.command("run")
def run_job_now(
    name: Annotated[str, typer.Argument(help="The job: chase, retry, weekly, lookback, year-end.")],
) -> None:
    """Run one job now, in this process, as the scheduler would."""
    from flows.jobs import run_job

    with running() as duban:
        try:
            spec = find_spec(job_specs(duban.settings, duban.policy), name)
        except KeyError as exc:
            fail(str(exc.args[0]))
        outcome = run_job(duban, spec, duban.now())
    console.print(outcome.line(), markup=False)
    if not outcome.ok:
        raise typer.Exit(1)


def _stored_jobs(duban: App) -> dict[str, Any]:
    """The jobs in the job store, by name (APScheduler's Job: its trigger and next run time);
    empty before the first ``duban run``."""
    from flows.scheduler import JOB_TABLE, build_scheduler

    if not inspect(duban.engine).has_table(JOB_TABLE):
        return {}
    scheduler = build_scheduler(duban)
    scheduler.start(paused=True)  # opens the job store; a paused scheduler runs nothing
    try:
        return {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)


def _schedule(spec: JobSpec, stored: dict[str, Any]) -> str:
    """The schedule in force: the stored one, noting when the settings now say otherwise (the
    running ``duban run`` keeps the stored one until it starts again)."""
    job = stored.get(spec.name)
    if job is None or repr(job.trigger) == repr(spec.trigger):
        return spec.when
    return f"{describe_trigger(job.trigger)} (settings now: {spec.when}; from the next start)"


def _next_run(spec: JobSpec, stored: dict[str, Any], now: datetime) -> str:
    if spec.name in stored:
        when = stored[spec.name].next_run_time
        if when is None:
            return "paused"
        if when < now:
            return f"{when:%Y-%m-%d %H:%M} (missed; runs when duban run starts)"
        return f"{when:%Y-%m-%d %H:%M}"
    upcoming = spec.trigger.get_next_fire_time(None, now)
    return f"{upcoming:%Y-%m-%d %H:%M}" if upcoming else "never"
