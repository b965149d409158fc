"""What a scheduled job does when it fires: start its flow, record the outcome, say one line.

APScheduler stores jobs by reference to :func:`fire`, so this module's path is part of the job
store's contents: keep it importable under this name.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from flows.app import App, current_app
from flows.dispatch import run_flow
from flows.schedule import JobSpec, find_spec, job_specs
from tracking.audit import record_event
from tracking.db import transaction
from tracking.ladder import in_office_window

logger = logging.getLogger("duban.jobs")
traces = logging.getLogger("duban.traces")  # not on the console: tracebacks go to the file


@dataclass(frozen=True)
class JobOutcome:
    name: str
    key: str
    ok: bool
    summary: str
    started: datetime

    def line(self) -> str:
        mark = "ok" if self.ok else "FAILED"
        return f"{self.name} [{mark}] {self.summary}"


def fire(name: str) -> None:
    """The scheduler's entry point for job ``name``; never raises, so the scheduler goes on."""
    app = current_app()
    spec = find_spec(job_specs(app.settings, app.policy), name)
    outcome = run_job(app, spec, app.now())
    (logger.info if outcome.ok else logger.error)(outcome.line())


def run_job(app: App, spec: JobSpec, now: datetime) -> JobOutcome:
    """Run ``spec``'s flow as of ``now`` and record the outcome as an event.

    The outcome is a failure only when the flow failed here or could not be dispatched to the
    Prefect server: a job that finds its work done or under way, or not due (outside office
    hours), has done its part.
    """
    key = spec.key(now)
    try:
        closed = _office_closed(app, spec, now)
        if closed:
            summary = f"{spec.name}: nothing tried, {closed}"
        else:
            summary = run_flow(app, spec.flow, spec.parameters(now), key=key)
        ok = True
    except Exception as exc:  # one job's failure is recorded; the next firing tries again
        traces.exception("job %s (%s) failed", spec.name, key)
        summary = f"{type(exc).__name__}: {exc}"
        ok = False
    outcome = JobOutcome(spec.name, key, ok, summary, now)
    with transaction(app.engine) as session:
        record_event(
            session,
            at=now,
            actor="scheduler",
            action=f"job:{spec.name}",
            entity="job",
            entity_id=None,
            after={"key": key, "ok": ok, "summary": summary},
        )
    return outcome


def _office_closed(app: App, spec: JobSpec, now: datetime) -> str:
    """Why ``spec`` must not run at ``now`` (outside the office window), or "" when it may."""
    if not spec.only_in_office_hours:
        return ""
    local = now.astimezone(app.settings.zone)
    open_now, why = in_office_window(local, app.policy.ladder, app.calendar)
    return "" if open_now else why
