"""The chase as a Prefect flow: plan and draft in the flow, then deliver.

In this process (``duban chase``, or no Prefect server) the flow delivers with one task per
digest, the tasks sharing one mail connection. When it runs from its deployment on a Prefect
server (a job of ``duban run`` served by ``duban worker``), it starts delivery batches instead,
one flow run per ``batch_units`` units, which the workers share (:mod:`flows.deliver_flow`).
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from prefect import flow, get_run_logger
from prefect.runtime import deployment
from prefect.runtime import flow_run as this_run

from flows import delivery
from flows.app import current_app
from flows.deliver_flow import BATCH_UNITS, deliver_in_tasks, start_batches, unit_batches
from flows.delivery import DeliveryOutcome
from flows.dispatch import prefect_server


@dataclass
class ChaseReport:
    as_of: date
    digests: int = 0
    held: int = 0
    skipped: int = 0
    held_until: datetime | None = None
    problems: list[str] = field(default_factory=list)
    drafted: int = 0
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    #: On a Prefect server (served): the messages left to delivery batches, and the batches'
    #: flow runs.
    served: bool = False
    queued: int = 0
    batches: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    def summary(self) -> str:
        """One line for logs and the console."""
        if self.served:
            delivered = (
                f"{self.queued} messages to send in {len(self.batches)} delivery batches started"
            )
        else:
            delivered = f"{self.count('sent')} sent, {self.count('failed')} failed"
        line = (
            f"chase as of {self.as_of}: {self.drafted} digests drafted, {delivered}, "
            f"{self.held} reminders held, {self.skipped} skipped"
        )
        if self.problems:
            line += f"; {len(self.problems)} items could not be planned"
        return line

    @property
    def fallbacks(self) -> list[DeliveryOutcome]:
        return [o.fallback for o in self.outcomes if o.fallback is not None]


@flow(name="chase-units", flow_run_name="chase-{as_of}")
def chase_units(
    as_of: date, now: datetime | None = None, batch_units: int = BATCH_UNITS
) -> ChaseReport:
    """Send each recipient the one digest of what is due on ``as_of`` by the reminder ladder.

    Messages left unsent by earlier runs (a refusing server, a crash) are delivered too. A
    failure for one recipient is recorded in the ledger and the others go on. On a Prefect
    server, delivery is left to batches of ``batch_units`` units each, one flow run a batch.
    """
    app = current_app()
    now = now or app.now()
    chase = delivery.plan(app, as_of, now)
    report = ChaseReport(
        as_of=as_of,
        digests=len(chase.digests),
        held=sum(d.decision == "held" for d in chase.decisions),
        skipped=sum(d.decision == "skipped" for d in chase.decisions),
        held_until=chase.held_until,
        problems=chase.problems,
    )
    report.drafted = delivery.draft_digests(app, chase, now=now)
    pending = delivery.pending_ids(app)
    if _served():
        report.served, report.queued = True, len(pending)
        report.batches = start_batches(
            unit_batches(app, pending, batch_units),
            now,
            parent_id=str(this_run.id),
            parent_name=str(this_run.name),
        )
        get_run_logger().info(report.summary())  # the worker's log, and the run's in Prefect
        return report
    report.outcomes = deliver_in_tasks(pending, now)
    return report


def _served() -> bool:
    """Whether this run came from its deployment on a Prefect server, whose workers also serve
    the delivery batches' deployment."""
    return prefect_server() is not None and deployment.id is not None
