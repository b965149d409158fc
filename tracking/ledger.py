"""The ledger of messages: written before each send, finished after it.

Sending is claimed with a conditional UPDATE (one row changed = yours), so overlapping runs never
send the same message twice at once, and a sender that dies frees its claim when the lease ends.
A crash between the send and :func:`mark_sent` means the message may go out once more: the ledger
prefers a duplicate to a loss.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tracking.models import DeliveryStatus, Notification

CLAIM_LEASE = timedelta(minutes=10)
_UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


@dataclass(frozen=True)
class Draft:
    """A rendered message ready to be written to the ledger."""

    unit_id: int | None
    channel: str
    kind: str
    dedupe_key: str
    recipients: tuple[str, ...]
    subject: str
    body_text: str
    body_html: str
    attachments: tuple[str, ...] = ()  # paths of files read when the message is sent


def record_draft(
    session: Session,
    draft: Draft,
    *,
    now: datetime,
    fallback_of: int | None = None,
    audience: str = "liaison",
) -> Notification | None:
    """Write ``draft`` as pending; None when a message with its key exists already (sent, or
    still being delivered: its retry carries what it was written with).

    Older unsent messages of the same kind to the same unit and audience are superseded: the new
    one carries what is owed now.
    """
    existing = session.exec(
        select(Notification).where(Notification.dedupe_key == draft.dedupe_key)
    ).first()
    if existing is not None and existing.status != DeliveryStatus.SUPERSEDED:
        return None
    note = existing or Notification(
        unit_id=draft.unit_id,
        channel=draft.channel,
        kind=draft.kind,
        dedupe_key=draft.dedupe_key,
        created_at=now,
        subject="",
        body_text="",
    )
    note.recipients = list(draft.recipients)
    note.subject, note.body_text, note.body_html = draft.subject, draft.body_text, draft.body_html
    note.attachments = list(draft.attachments)
    note.status, note.audience, note.fallback_of = DeliveryStatus.PENDING, audience, fallback_of
    # A superseded row taken up again starts afresh.
    note.attempts, note.last_error, note.claimed_until = 0, "", None
    note.permanent_failure = False
    session.add(note)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Another run wrote the same key between our read and our write: theirs stands.
        return None
    if fallback_of is None:
        session.execute(
            update(Notification)
            .where(
                Notification.unit_id == draft.unit_id,  # type: ignore[arg-type]
                Notification.kind == draft.kind,  # type: ignore[arg-type]
                Notification.channel == draft.channel,  # type: ignore[arg-type]
                Notification.audience == audience,  # type: ignore[arg-type]
                Notification.dedupe_key != draft.dedupe_key,  # type: ignore[arg-type]
                Notification.status.in_(_UNSENT),  # type: ignore[attr-defined]
                Notification.permanent_failure == False,  # noqa: E712
                # One being sent right now is left to its sender.
                or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),  # type: ignore[union-attr,operator]
            )
            .values(status=DeliveryStatus.SUPERSEDED)
        )
    return note


def deliverable_ids(session: Session, *, now: datetime, max_attempts: int) -> list[int]:
    """Messages a run should try now: unsent, not failed for good, unclaimed, attempts left."""
    return list(
        session.exec(
            select(Notification.id)
            .where(
                Notification.status.in_(_UNSENT),  # type: ignore[attr-defined]
                Notification.permanent_failure == False,  # noqa: E712
                Notification.attempts < max_attempts,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),  # type: ignore[union-attr,operator]
            )
            .order_by(Notification.id)
        )
    )


def claim(session: Session, notification_id: int, *, now: datetime) -> Notification | None:
    """Take the message for sending; None when another sender has it or it needs no sending.

    One statement: the conditional UPDATE returns the row it changed, so exactly one of
    several claimants gets it (SQLite serializes writers; PostgreSQL re-checks the condition
    on a row another transaction changed meanwhile)."""
    return session.exec(
        update(Notification)
        .where(
            and_(
                Notification.id == notification_id,  # type: ignore[arg-type]
                Notification.status.in_(_UNSENT),  # type: ignore[attr-defined]
                Notification.permanent_failure == False,  # noqa: E712
                or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),  # type: ignore[union-attr,operator]
            )
        )
        .values(
            claimed_until=now + CLAIM_LEASE,
            attempts=Notification.attempts + 1,
            last_attempt_at=now,
        )
        .returning(Notification),
        execution_options={"populate_existing": True},
    ).scalar_one_or_none()


def mark_sent(session: Session, notification_id: int, *, now: datetime) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id)  # type: ignore[arg-type]
        .values(status=DeliveryStatus.SENT, sent_at=now, claimed_until=None, last_error="")
    )


def mark_failed(
    session: Session, notification_id: int, *, error: str, permanent: bool, now: datetime
) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id)  # type: ignore[arg-type]
        .values(
            status=DeliveryStatus.FAILED,
            permanent_failure=permanent,
            last_error=error,
            claimed_until=None,
        )
    )
