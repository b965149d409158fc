"""Delivery of ledger messages in batches, so that several workers share a large chase.

The chase, when it runs on a Prefect server's deployment, plans and drafts the digests, then
groups the messages waiting to go out by unit (:func:`unit_batches`) and starts one
:func:`deliver_batch` flow run per batch (:func:`start_batches`); the ``duban worker`` processes
share them. Two batches holding the same message cannot both send it: delivery claims each
message in the ledger first.
"""

from datetime import datetime
from itertools import groupby

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from sqlmodel import col, select

from flows import delivery
from flows.app import App, current_app
from flows.delivery import DeliveryOutcome
from notifications.mail import MailSender
from tracking.db import transaction
from tracking.models import Notification

#: Units per delivery batch by default: a batch is one flow run (a process start, some 3 s).
BATCH_UNITS = 20


# No cache policy: a delivery is never skipped for having been done, and the connection it
# is given cannot be hashed into a cache key.
@task(name="deliver-digest", task_run_name="deliver-{notification_id}", cache_policy=NO_CACHE)
def deliver_task(
    notification_id: int, now: datetime, mail: MailSender | None = None
) -> DeliveryOutcome:
    return delivery.deliver(current_app(), notification_id, now, mail=mail)


def deliver_in_tasks(notification_ids: list[int], now: datetime) -> list[DeliveryOutcome]:
    """One task per message. The tasks run in threads at once and share one mail connection,
    which sends one message at a time; it closes when every task has ended."""
    with current_app().mail.connect() as mail:
        futures = [deliver_task.submit(nid, now, mail) for nid in notification_ids]
        wait(futures)  # none left sending once the block closes the connection
    return [future.result() for future in futures]


@flow(name="deliver-batch")
def deliver_batch(notification_ids: list[int], now: datetime) -> list[DeliveryOutcome]:
    """Send these ledger messages, one task each; a failure is recorded and the others go on."""
    outcomes = deliver_in_tasks(notification_ids, now)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("sent", "failed", "skipped")}
    get_run_logger().info(
        "delivered a batch of %d messages: %d sent, %d failed, %d skipped (another run had them)",
        len(outcomes),
        counts["sent"],
        counts["failed"],
        counts["skipped"],
    )
    return outcomes


def unit_batches(app: App, notification_ids: list[int], batch_units: int) -> list[list[int]]:
    """``notification_ids`` in batches of at most ``batch_units`` units each: a unit's messages
    (its digests, their copies and webhooks) stay together, in ledger order."""
    if batch_units < 1:
        raise ValueError(f"batch_units must be at least 1, not {batch_units}")
    with transaction(app.engine) as session:
        rows = session.exec(
            select(Notification.id, Notification.unit_id)
            .where(col(Notification.id).in_(notification_ids))
            .order_by(col(Notification.unit_id).is_(None), col(Notification.unit_id))
        ).all()
    units = [[nid for nid, _ in group] for _, group in groupby(rows, key=lambda row: row[1])]
    return [
        sorted(nid for unit in units[start : start + batch_units] for nid in unit)
        for start in range(0, len(units), batch_units)
    ]


def start_batches(
    batches: list[list[int]], now: datetime, *, parent_id: str, parent_name: str
) -> list[str]:
    """Create one ``deliver_batch`` flow run per batch on the workers' deployment, without
    waiting; returns their names. A retry of the same parent run creates no second set: each
    batch's idempotency key is the parent's id and the batch's index."""
    from prefect.deployments import run_deployment

    from flows.deployments import deployment_name

    deployment = deployment_name("deliver")
    names = []
    for index, ids in enumerate(batches):
        flow_run = run_deployment(
            name=deployment,
            parameters={"notification_ids": ids, "now": now.isoformat()},
            flow_run_name=f"{parent_name}/batch-{index + 1}-of-{len(batches)}",
            timeout=0,
            idempotency_key=f"{parent_id}:{index}",
        )
        names.append(flow_run.name)
    return names
