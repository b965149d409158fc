"""Recording what units report; a lead unit's final feedback closes the item."""

from datetime import date, datetime

from sqlmodel import Session, select

from tracking.audit import record_event, snapshot
from tracking.errors import ConflictError, InputError
from tracking.models import (
    Assignment,
    AssignmentStatus,
    FollowUpItem,
    ItemStatus,
    ProgressUpdate,
    Role,
    Unit,
    UpdateKind,
    UpdateSource,
)


def record_update(
    session: Session,
    *,
    item: FollowUpItem,
    unit: Unit,
    text: str,
    kind: UpdateKind,
    reported_on: date,
    source: UpdateSource,
    reported_by: str,
    now: datetime,
) -> ProgressUpdate:
    """Append a unit's report on an item, with an event.

    A final report from the lead unit closes the item and every assignment on it; a co unit's
    final report closes only its own assignment. Progress on a closed item is refused; a new
    final report on a closed item is accepted as a correction and keeps the item closed.
    """
    text = text.strip()
    if not text:
        raise InputError("the report text is empty")
    assignment = session.exec(
        select(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == unit.id)
    ).first()
    if assignment is None:
        raise InputError(f"{unit.name} is not assigned to item {item.id}")
    if item.status == ItemStatus.CLOSED and kind == UpdateKind.PROGRESS:
        raise ConflictError(
            f"item {item.id} was closed on {item.closed_on}; "
            "record final feedback to correct it, not progress"
        )

    update = ProgressUpdate(
        item_id=item.id,
        unit_id=unit.id,
        text=text,
        kind=kind,
        reported_on=reported_on,
        reported_by=reported_by,
        source=source,
        recorded_at=now,
    )
    session.add(update)
    session.flush()
    record_event(
        session,
        at=now,
        actor=reported_by,
        action=f"update.{kind}",
        entity="followupitem",
        entity_id=item.id,
        after={"unit": unit.name, "reported_on": reported_on.isoformat(), "source": source},
    )
    if assignment.last_reported_on is None or assignment.last_reported_on < reported_on:
        assignment.last_reported_on = reported_on
        session.add(assignment)

    if kind == UpdateKind.FINAL:
        if assignment.role == Role.LEAD:
            _close_item(session, item, reported_on=reported_on, now=now, actor=reported_by)
        elif assignment.status == AssignmentStatus.OPEN:
            _close_assignment(session, assignment, reported_on, now=now, actor=reported_by)
    return update


def _close_item(
    session: Session, item: FollowUpItem, *, reported_on: date, now: datetime, actor: str
) -> None:
    if item.status == ItemStatus.CLOSED:
        return
    before = snapshot(item, ["status", "closed_on"])
    item.status = ItemStatus.CLOSED
    item.closed_on = reported_on
    item.closed_at = now
    session.add(item)
    record_event(
        session,
        at=now,
        actor=actor,
        action="item.close",
        entity="followupitem",
        entity_id=item.id,
        before=before,
        after=snapshot(item, ["status", "closed_on"]),
        reason="lead unit's final feedback",
    )
    for assignment in session.exec(select(Assignment).where(Assignment.item_id == item.id)):
        if assignment.status == AssignmentStatus.OPEN:
            _close_assignment(session, assignment, reported_on, now=now, actor=actor)


def _close_assignment(
    session: Session, assignment: Assignment, reported_on: date, *, now: datetime, actor: str
) -> None:
    assignment.status = AssignmentStatus.CLOSED
    assignment.closed_on = reported_on
    session.add(assignment)
    record_event(
        session,
        at=now,
        actor=actor,
        action="assignment.close",
        entity="assignment",
        entity_id=assignment.id,
        after=snapshot(assignment, ["status", "closed_on"]),
    )
