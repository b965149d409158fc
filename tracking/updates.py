"""Recording what units report; a lead unit's final feedback resolves the item."""

from datetime import date, datetime

from sqlmodel import Session, select

from tracking.audit import record_event
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
from tracking.workflow import is_open, move_assignment, move_item


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
    """Append a unit's report on an item, with an event, and move the workflow on.

    A unit's first report signs for its assignment (待签收 → 办理中). A final report from the lead
    resolves the item and closes every assignment on it; a co unit's final report is its written
    opinion (已提交意见). Progress on a resolved item is refused; a new final report on it is
    accepted as a correction and keeps it resolved.
    """
    text = text.strip()
    if not text:
        raise InputError("the report text is empty")
    assignment = assignment_of(session, item, unit)
    if assignment.status == AssignmentStatus.RETURNED:
        raise ConflictError(
            f"{unit.name} returned item {item.id} as mis-assigned; the coordinator must reassign it"
        )
    if not is_open(item) and kind != UpdateKind.FINAL:
        raise ConflictError(
            f"item {item.id} was resolved on {item.closed_on}; "
            "record final feedback to correct it, not progress"
        )

    update = ProgressUpdate(
        item_id=item.id,  # type: ignore[arg-type]
        unit_id=unit.id,  # type: ignore[arg-type]
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

    if not is_open(item):
        return update
    if assignment.status == AssignmentStatus.ASSIGNED:
        move_assignment(
            session,
            assignment,
            AssignmentStatus.HANDLING,
            now=now,
            actor=reported_by,
            reason="first report",
        )
    if item.status == ItemStatus.ASSIGNED and assignment.role == Role.LEAD:
        move_item(
            session,
            item,
            ItemStatus.HANDLING,
            now=now,
            actor=reported_by,
            reason="the lead unit's first report",
        )
    if kind == UpdateKind.FINAL:
        if assignment.role == Role.LEAD:
            resolve_item(
                session,
                item,
                on=reported_on,
                now=now,
                actor=reported_by,
                reason="the lead unit's final feedback",
            )
        else:
            move_assignment(
                session,
                assignment,
                AssignmentStatus.REPORTED,
                now=now,
                actor=reported_by,
                reason="the co unit's written opinion",
            )
    return update


def assignment_of(session: Session, item: FollowUpItem, unit: Unit) -> Assignment:
    assignment = session.exec(
        select(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == unit.id)
    ).first()
    if assignment is None:
        raise InputError(f"{unit.name} is not assigned to item {item.id}")
    return assignment


def resolve_item(
    session: Session, item: FollowUpItem, *, on: date, now: datetime, actor: str, reason: str
) -> None:
    """已落实: the item and every assignment on it are done as of ``on``."""
    move_item(session, item, ItemStatus.RESOLVED, now=now, actor=actor, reason=reason)
    item.closed_on = on
    item.closed_at = now
    session.add(item)
    for assignment in session.exec(select(Assignment).where(Assignment.item_id == item.id)):
        if assignment.status not in (AssignmentStatus.CLOSED, AssignmentStatus.REASSIGNED):
            move_assignment(
                session, assignment, AssignmentStatus.CLOSED, now=now, actor=actor, reason=reason
            )
            assignment.closed_on = on
            session.add(assignment)
