"""The scheduler of ``duban run``: APScheduler 3 with its jobs stored in duban's database.

Jobs run one at a time on one worker thread: jobs are short next to their intervals, and two
flows starting at once in one process would each start a temporary Prefect server.

At every start the jobs are registered anew from :func:`flows.schedule.job_specs`. A stored job
whose schedule is unchanged is kept as it is, so that its next run time (perhaps in the past,
after downtime) survives the restart and the missed run happens, once.
"""

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from flows.app import App
from flows.schedule import JobSpec

JOB_FUNCTION = "flows.jobs:fire"
JOB_TABLE = "apscheduler_jobs"


def build_scheduler(app: App) -> BackgroundScheduler:
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=app.engine, tablename=JOB_TABLE)},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        timezone=app.settings.zone,
    )


def start_scheduler(
    app: App, specs: list[JobSpec], function: str = JOB_FUNCTION
) -> BackgroundScheduler:
    """A running scheduler with ``specs`` registered, each firing ``function(name)``."""
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)  # the job store opens; nothing fires until resume()
    try:
        register(scheduler, specs, function)
    except BaseException:
        scheduler.shutdown(wait=False)
        raise
    scheduler.resume()
    return scheduler


def register(
    scheduler: BackgroundScheduler, specs: list[JobSpec], function: str = JOB_FUNCTION
) -> None:
    """Make the stored jobs match ``specs``: keep the unchanged, replace the changed, add the
    new, remove the ones no longer defined."""
    stored = {job.id: job for job in scheduler.get_jobs()}
    for spec in specs:
        job = stored.pop(spec.name, None)
        if (
            job is not None
            and job.func_ref == function
            and tuple(job.args) == (spec.name,)
            and repr(job.trigger) == repr(spec.trigger)
        ):
            continue
        scheduler.add_job(
            function,
            trigger=spec.trigger,
            args=[spec.name],
            id=spec.name,
            name=spec.description,
            replace_existing=True,
        )
    for leftover in stored:
        scheduler.remove_job(leftover)


def is_healthy(scheduler: BackgroundScheduler) -> bool:
    """Whether the scheduler's thread is alive. APScheduler 3 lets that thread die on an error
    (a job-store lock held over 5 s, for one) while its state still says running."""
    thread = getattr(scheduler, "_thread", None)  # private in APScheduler 3; no public probe
    return bool(scheduler.running and thread is not None and thread.is_alive())
