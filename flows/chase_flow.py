"""The chase as a Prefect flow: plan and draft in the flow, one delivery task per digest."""

from dataclasses import dataclass, field
from datetime import date, datetime

from prefect import flow, task

from flows import delivery
from flows.app import current_app
from flows.delivery import DeliveryOutcome


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

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    def summary(self) -> str:
        """One line for logs and the console."""
        line = (
            f"chase as of {self.as_of}: {self.drafted} digests drafted, {self.count('sent')} sent, "
            f"{self.count('failed')} failed, {self.held} reminders held, {self.skipped} skipped"
        )
        if self.problems:
            line += f"; {len(self.problems)} items could not be planned"
        return line

    @property
    def fallbacks(self) -> list[DeliveryOutcome]:
        return [o.fallback for o in self.outcomes if o.fallback is not None]


@task(name="deliver-digest", task_run_name="deliver-{notification_id}")
def deliver_task(notification_id: int, now: datetime) -> DeliveryOutcome:
    return delivery.deliver(current_app(), notification_id, now)


@flow(name="chase-units", flow_run_name="chase-{as_of}")
def chase_units(as_of: date, now: datetime | None = None) -> ChaseReport:
    """Send each recipient the one digest of what is due on ``as_of`` by the reminder ladder.

    Messages left unsent by earlier runs (a refusing server, a crash) are delivered too. A
    failure for one recipient is recorded in the ledger and the others go on.
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
    futures = [deliver_task.submit(nid, now) for nid in delivery.pending_ids(app)]
    report.outcomes = [future.result() for future in futures]
    return report
