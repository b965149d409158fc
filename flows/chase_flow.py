"""The chase as a Prefect flow: plan and draft in the flow, one delivery task per unit."""

from dataclasses import dataclass, field
from datetime import date, datetime

from prefect import flow, task

from flows import delivery
from flows.app import current_app
from flows.delivery import DeliveryOutcome


@dataclass
class ChaseReport:
    as_of: date
    units_owing: int = 0
    drafted: int = 0
    outcomes: list[DeliveryOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)


@task(name="deliver-digest", task_run_name="deliver-{notification_id}")
def deliver_task(notification_id: int, now: datetime) -> DeliveryOutcome:
    return delivery.deliver(current_app(), notification_id, now)


@flow(name="chase-units", flow_run_name="chase-{as_of}", log_prints=False)
def chase_units(as_of: date, now: datetime | None = None) -> ChaseReport:
    """Send each unit that owes reports as of ``as_of`` its one digest.

    Messages left unsent by earlier runs (a refusing server, a crash) are delivered too. A
    failure for one unit is recorded in the ledger and the others go on.
    """
    app = current_app()
    now = now or app.now()
    digests = delivery.plan(app, as_of)
    report = ChaseReport(as_of=as_of, units_owing=len(digests))
    report.drafted = delivery.draft_digests(app, digests, as_of=as_of, now=now)
    futures = [deliver_task.submit(nid, now) for nid in delivery.pending_ids(app, now)]
    report.outcomes = [future.result() for future in futures]
    return report
