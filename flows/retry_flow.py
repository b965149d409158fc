"""Retrying what did not go out: every unsent message in the ledger, in office hours."""

from dataclasses import dataclass, field
from datetime import datetime

from prefect import flow

from flows import delivery
from flows.app import current_app
from flows.delivery import DeliveryOutcome
from tracking.ladder import in_office_window


@dataclass
class RetryReport:
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    waiting: str = ""  # why nothing was tried, when outside office hours

    def summary(self) -> str:
        if self.waiting:
            return f"retry: nothing tried, {self.waiting}"
        sent = sum(o.status == "sent" for o in self.outcomes)
        failed = sum(o.status == "failed" for o in self.outcomes)
        return f"retry: {len(self.outcomes)} messages tried, {sent} sent, {failed} failed"


@flow(name="retry-deliveries", flow_run_name="retry-{now:%Y%m%d-%H%M}")
def retry_deliveries(now: datetime) -> RetryReport:
    """Send the ledger's unsent messages again (each up to ``max_delivery_attempts``), but only
    in the office window: a reminder is never delivered at night."""
    app = current_app()
    local = now.astimezone(app.settings.zone)
    open_now, why = in_office_window(local, app.policy.ladder, app.calendar)
    if not open_now:
        return RetryReport(waiting=why)
    return RetryReport(outcomes=delivery.deliver_each(app, delivery.pending_ids(app), local))
