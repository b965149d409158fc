"""``duban run``: one long-running process that leads the schedule, or waits to.

The process holds the leader lease (:mod:`flows.leader`) while its scheduler runs. A second
``duban run`` on the same database waits as a standby and takes over within
``lease_check_seconds`` of the leader's lease being freed (its process ended or was killed).
The leader checks its lease and its scheduler's thread at the same pace: it stops scheduling the
moment it no longer holds the lease, and restarts a scheduler whose thread died.
"""

import logging
import threading
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler

from flows.app import App
from flows.leader import Lease, lease_for
from flows.schedule import JobSpec, job_specs
from flows.scheduler import JOB_FUNCTION, is_healthy, start_scheduler

logger = logging.getLogger("duban.service")
traces = logging.getLogger("duban.traces")  # not on the console: tracebacks go to the file


@dataclass
class Service:
    app: App
    specs: list[JobSpec] = field(default_factory=list)
    check_seconds: float = 5.0
    lease: Lease | None = None
    job_function: str = JOB_FUNCTION
    scheduler: BackgroundScheduler | None = None

    @classmethod
    def for_app(cls, app: App) -> "Service":
        return cls(
            app,
            specs=job_specs(app.settings, app.policy),
            check_seconds=app.settings.lease_check_seconds,
        )

    def run(self, stop: threading.Event) -> None:
        """Lead or stand by until ``stop`` is set; then stop scheduling and free the lease."""
        if not self.app.policy.ladder.coordinator_emails:
            logger.warning(
                "no coordinator address (policy: ladder.coordinator_emails): the weekly digest, "
                "the 回头看 check and the year-end table will not be mailed"
            )
        lease = self.lease = self.lease or lease_for(self.app.engine, self.app.settings.state_dir)
        said_standby = False
        try:
            while not stop.is_set():
                if self.scheduler is None:
                    if lease.acquire():
                        logger.info("leading: holding %s; the schedule runs here", lease.describe())
                        said_standby = False
                        if not self._start():
                            lease.release()  # let a healthier process lead meanwhile
                    elif not said_standby:
                        logger.info(
                            "standby: another duban run holds %s; trying every %g s",
                            lease.describe(),
                            self.check_seconds,
                        )
                        said_standby = True
                elif not lease.held():
                    logger.warning("lost %s: scheduling stops here; standing by", lease.describe())
                    self._stop()
                elif not is_healthy(self.scheduler):
                    logger.error("the scheduler's thread stopped; starting it again")
                    self._stop()
                    if not self._start():
                        lease.release()
                stop.wait(self.check_seconds)
        finally:
            self._stop()
            lease.release()

    def _start(self) -> bool:
        """Start scheduling; False (with the reason logged) when the job store cannot be
        opened, e.g. the database is down: the next check tries again."""
        try:
            self.scheduler = start_scheduler(self.app, self.specs, self.job_function)
        except Exception as exc:
            logger.error(
                "cannot start the scheduler (%s); trying again in %g s", exc, self.check_seconds
            )
            traces.exception("starting the scheduler failed")  # the traceback, to the log file
            return False
        for job in self.scheduler.get_jobs():  # ordered by next run time
            when = f"{job.next_run_time:%Y-%m-%d %H:%M}" if job.next_run_time else "never"
            logger.info("  %-9s next run %s", job.id, when)
        return True

    def _stop(self) -> None:
        if self.scheduler is not None:
            # A job already running finishes on its own thread; its effects are in the ledger
            # either way, and a repeated firing of the same key does nothing twice.
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
