"""The chase's plain steps, testable without Prefect: plan and draft the digests, deliver one.

Drafting renders each unit's digest and writes it to the ledger in a short transaction; delivery
claims one message, sends it outside any transaction, and records the outcome.
"""

from dataclasses import dataclass
from datetime import date, datetime

from flows.app import App
from notifications.errors import DeliveryError
from notifications.mail import OutgoingEmail
from tracking.chase import OwedItem, UnitDigest, digest_key, plan_digests
from tracking.db import transaction
from tracking.ledger import Draft, claim, deliverable_ids, mark_failed, mark_sent, record_draft
from tracking.models import Role
from tracking.rules import reply_by

DIGEST = "digest"
ROLE_LABELS = {Role.LEAD: "主办", Role.CO: "协办"}


@dataclass(frozen=True)
class DeliveryOutcome:
    notification_id: int
    unit_id: int | None
    recipients: tuple[str, ...]
    status: str  # "sent", "failed", or "skipped" when another sender had it
    error: str = ""


def plan(app: App, as_of: date) -> list[UnitDigest]:
    with transaction(app.engine) as session:
        return plan_digests(session, as_of=as_of, interval_days=app.settings.report_interval_days)


def draft_digests(app: App, digests: list[UnitDigest], *, as_of: date, now: datetime) -> int:
    """Render and record each unit's digest; returns how many were new or still unsent."""
    drafted = 0
    for digest in digests:
        rendered = app.renderer.render(DIGEST, digest_context(app, digest, as_of))
        draft = Draft(
            unit_id=digest.unit_id,
            channel="email",
            kind=DIGEST,
            dedupe_key=digest_key(digest.unit_id, as_of),
            recipients=digest.emails,
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
        )
        with transaction(app.engine) as session:
            drafted += record_draft(session, draft, now=now) is not None
    return drafted


def pending_ids(app: App, now: datetime) -> list[int]:
    with transaction(app.engine) as session:
        return deliverable_ids(session, now=now, max_attempts=app.settings.max_delivery_attempts)


def deliver(app: App, notification_id: int, now: datetime) -> DeliveryOutcome:
    """Send one ledger message; a failure is recorded, never raised."""
    with transaction(app.engine) as session:
        message = claim(session, notification_id, now=now)
    if message is None:
        return DeliveryOutcome(notification_id, None, (), "skipped")
    recipients = tuple(message.recipients)
    email = OutgoingEmail(
        to=recipients,
        subject=message.subject,
        text=message.body_text,
        html=message.body_html,
        sender=app.settings.mail_from,
        key=message.dedupe_key,
    )
    try:
        app.mail.send(email)
    except DeliveryError as exc:
        with transaction(app.engine) as session:
            mark_failed(session, notification_id, error=str(exc), permanent=exc.permanent, now=now)
        return DeliveryOutcome(notification_id, message.unit_id, recipients, "failed", str(exc))
    with transaction(app.engine) as session:
        mark_sent(session, notification_id, now=now)
    return DeliveryOutcome(notification_id, message.unit_id, recipients, "sent")


def digest_context(app: App, digest: UnitDigest, as_of: date) -> dict[str, object]:
    return {
        "unit_name": digest.unit_name,
        "as_of": as_of,
        "reply_by": reply_by(as_of, app.settings.reply_within_days),
        "body_name": app.settings.body_name,
        "reply_instructions": app.settings.reply_instructions,
        "items": [_item_context(item) for item in digest.items],
    }


def _item_context(item: OwedItem) -> dict[str, object]:
    return {
        "item_id": item.item_id,
        "category": item.category,
        "number": item.number,
        "title": item.title,
        "lead_representative": item.lead_representative,
        "commitment": item.commitment,
        "role_label": ROLE_LABELS.get(Role(item.role), item.role),
        "lead_unit": item.lead_unit,
        "co_units": list(item.co_units),
        "due_date": item.due_date,
        "last_reported_on": item.last_reported_on,
    }
