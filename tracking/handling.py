"""What happens to an item between assignment and resolution, each step checked and recorded.

The callers (the command line, the web pages) pass in what the policy decides, such as whether a
class stays under follow-up or a rating reopens the item; these functions enforce the workflow.

Each step takes an optional ``expected_version``: the item's version (the unit's, for a snooze)
the person saw when deciding, e.g. on a web form. A step on a record someone changed meanwhile
is refused with a ConflictError rather than applied to a state the person never saw.
"""

from datetime import date, datetime

from sqlalchemy import func
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, select

from tracking.audit import record_event, snapshot
from tracking.conflicts import check_version
from tracking.errors import ConflictError, InputError
from tracking.models import (
    Assignment,
    AssignmentStatus,
    ChasePause,
    Extension,
    FollowUpItem,
    ItemStatus,
    Role,
    Unit,
    UpdateKind,
    UpdateSource,
)
from tracking.updates import assignment_of, record_update, resolve_item
from tracking.workflow import is_open, move_assignment, move_item

RATINGS = ("满意", "基本满意", "不满意")


def sign_for(
    session: Session,
    item: FollowUpItem,
    unit: Unit,
    *,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> None:
    """签收: the unit accepts its part; the lead's signature starts the item's handling."""
    check_version(session, item, expected_version)
    assignment = assignment_of(session, item, unit)
    if assignment.status != AssignmentStatus.ASSIGNED:
        raise ConflictError(f"{unit.name} has already signed for item {item.id}")
    move_assignment(
        session, assignment, AssignmentStatus.HANDLING, now=now, actor=actor, reason="签收"
    )
    if assignment.role == Role.LEAD and item.status == ItemStatus.ASSIGNED:
        move_item(session, item, ItemStatus.HANDLING, now=now, actor=actor, reason="主办单位签收")


def object_to_assignment(
    session: Session,
    item: FollowUpItem,
    unit: Unit,
    *,
    on: date,
    reason: str,
    window_ends: date,
    override: bool,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> None:
    """退回: the unit says the item is not its business. Only within the window, unless the
    coordinator overrides it."""
    check_version(session, item, expected_version)
    if not reason.strip():
        raise InputError("say why the item was mis-assigned (--reason)")
    if on > window_ends and not override:
        raise ConflictError(
            f"the window to return item {item.id} closed on {window_ends}; "
            "the coordinator can still accept it with --override"
        )
    assignment = assignment_of(session, item, unit)
    move_assignment(
        session, assignment, AssignmentStatus.RETURNED, now=now, actor=actor, reason=reason
    )
    if assignment.role == Role.LEAD:
        move_item(session, item, ItemStatus.RETURNED, now=now, actor=actor, reason=reason)


def reassign(
    session: Session,
    item: FollowUpItem,
    *,
    from_unit: Unit,
    to_unit: Unit,
    on: date,
    reason: str,
    override: bool,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> Assignment:
    """调整: the coordinator gives ``from_unit``'s part to ``to_unit``; the periods restart on
    ``on``. A unit that did not return the item in time keeps it unless ``override``."""
    check_version(session, item, expected_version)
    old = assignment_of(session, item, from_unit)
    if old.status != AssignmentStatus.RETURNED and not override:
        raise ConflictError(
            f"{from_unit.name} has not returned item {item.id}; reassign with --override"
        )
    taken = session.exec(
        select(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == to_unit.id)
    ).first()
    if taken is not None:
        raise ConflictError(f"{to_unit.name} is already assigned to item {item.id}")
    move_assignment(session, old, AssignmentStatus.REASSIGNED, now=now, actor=actor, reason=reason)
    new = Assignment(item_id=item.id, unit_id=to_unit.id, role=old.role)  # type: ignore[arg-type]
    session.add(new)
    session.flush()
    record_event(
        session,
        at=now,
        actor=actor,
        action="assignment.reassign",
        entity="assignment",
        entity_id=new.id,
        before={"unit": from_unit.name},
        after={"unit": to_unit.name, "role": new.role},
        reason=reason,
    )
    if old.role == Role.LEAD:
        if item.status == ItemStatus.RETURNED:
            move_item(session, item, ItemStatus.ASSIGNED, now=now, actor=actor, reason=reason)
        before = snapshot(item, ["assigned_on"])
        item.assigned_on = on
        session.add(item)
        record_event(
            session,
            at=now,
            actor=actor,
            action="item.assigned_on",
            entity="followupitem",
            entity_id=item.id,
            before=before,
            after=snapshot(item, ["assigned_on"]),
            reason="periods restart with the new lead unit",
        )
    return new


def record_reply(
    session: Session,
    item: FollowUpItem,
    unit: Unit,
    *,
    text: str,
    reply_class: str,
    follows_up: bool,
    on: date,
    source: UpdateSource,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> None:
    """答复: the lead's reply to the deputy or member, with its class. A class that stays under
    follow-up (B, C) moves the item to 跟踪落实; a second reply (再次答复) may change the class."""
    check_version(session, item, expected_version)
    assignment = assignment_of(session, item, unit)
    if assignment.role != Role.LEAD:
        raise ConflictError(f"only the lead unit replies; {unit.name} co-handles item {item.id}")
    if not is_open(item):
        raise ConflictError(f"item {item.id} is resolved; it needs no reply")
    record_update(
        session,
        item=item,
        unit=unit,
        text=text,
        kind=UpdateKind.REPLY,
        reported_on=on,
        source=source,
        reported_by=actor,
        now=now,
    )
    before = snapshot(item, ["reply_class", "replied_on"])
    item.reply_class, item.replied_on = reply_class, on
    item.rating = item.rated_on = None  # a new reply awaits a new rating
    session.add(item)
    record_event(
        session,
        at=now,
        actor=actor,
        action="item.reply",
        entity="followupitem",
        entity_id=item.id,
        before=before,
        after=snapshot(item, ["reply_class", "replied_on"]),
    )
    if item.status != ItemStatus.REPLIED:
        move_item(
            session,
            item,
            ItemStatus.REPLIED,
            now=now,
            actor=actor,
            reason=f"replied, class {reply_class}",
        )
    move_assignment(
        session, assignment, AssignmentStatus.REPORTED, now=now, actor=actor, reason="replied"
    )
    if follows_up:
        move_item(
            session,
            item,
            ItemStatus.FOLLOWING,
            now=now,
            actor=actor,
            reason=f"class {reply_class} stays under follow-up",
        )
        move_assignment(
            session,
            assignment,
            AssignmentStatus.HANDLING,
            now=now,
            actor=actor,
            reason="follow-up until resolved",
        )


def rate_reply(
    session: Session,
    item: FollowUpItem,
    *,
    rating: str,
    reopens: bool,
    on: date,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> None:
    """The proposer's rating of the reply; a rating that reopens it sends it back to the lead
    for 重新办理."""
    check_version(session, item, expected_version)
    if rating not in RATINGS:
        raise InputError(f"rating must be one of {' / '.join(RATINGS)}, not {rating!r}")
    if item.replied_on is None:
        raise ConflictError(f"item {item.id} has no reply to rate yet")
    before = snapshot(item, ["rating", "rated_on"])
    item.rating, item.rated_on = rating, on
    session.add(item)
    record_event(
        session,
        at=now,
        actor=actor,
        action="item.rating",
        entity="followupitem",
        entity_id=item.id,
        before=before,
        after=snapshot(item, ["rating", "rated_on"]),
    )
    if not reopens:
        return
    move_item(session, item, ItemStatus.REOPENED, now=now, actor=actor, reason=f"rated {rating}")
    item.closed_on = item.closed_at = None
    session.add(item)
    for assignment in session.exec(select(Assignment).where(Assignment.item_id == item.id)):
        if assignment.role == Role.LEAD:
            move_assignment(
                session,
                assignment,
                AssignmentStatus.HANDLING,
                now=now,
                actor=actor,
                reason=f"重新办理: rated {rating}",
            )
            assignment.closed_on = None
            session.add(assignment)


def extend_deadline(
    session: Session,
    item: FollowUpItem,
    *,
    months: int,
    reason: str,
    approved_by: str,
    approved_on: date,
    cap_months: int,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> Extension:
    """An approved extension of the reply deadline; all of them together stay within the cap."""
    check_version(session, item, expected_version)
    if months < 1:
        raise InputError("an extension adds at least 1 month")
    if not reason.strip():
        raise InputError("an extension needs a reason (--reason)")
    if not approved_by.strip():
        raise InputError("an extension needs its approver (--approved-by)")
    granted = session.exec(
        select(func.coalesce(func.sum(Extension.months), 0)).where(Extension.item_id == item.id)
    ).one()
    if granted + months > cap_months:
        raise ConflictError(
            f"item {item.id} already has {granted} month(s) of extension; "
            f"{months} more would pass the limit of {cap_months}"
        )
    extension = Extension(
        item_id=item.id,  # type: ignore[arg-type]
        months=months,
        reason=reason.strip(),
        approved_by=approved_by.strip(),
        approved_on=approved_on,
        recorded_at=now,
    )
    session.add(extension)
    # The extension changes the item's deadline, so the item's version moves: a second person
    # extending from the page they loaded before is told, not stacked on top.
    flag_modified(item, "status")
    session.flush()
    record_event(
        session,
        at=now,
        actor=actor,
        action="item.extend",
        entity="followupitem",
        entity_id=item.id,
        after={
            "months": months,
            "approved_by": approved_by,
            "approved_on": approved_on.isoformat(),
        },
        reason=reason,
    )
    return extension


def close_item(
    session: Session,
    item: FollowUpItem,
    *,
    on: date,
    reason: str,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> None:
    """The coordinator marks the item 已落实 (e.g. after the year-end check)."""
    check_version(session, item, expected_version)
    if not reason.strip():
        raise InputError("say why the item is closed (--reason)")
    resolve_item(session, item, on=on, now=now, actor=actor, reason=reason)


def set_pause(session: Session, *, paused: bool, reason: str, now: datetime, actor: str) -> None:
    """The global switch: while paused, the chase plans but sends nothing."""
    row = session.get(ChasePause, 1) or ChasePause(id=1)
    before = {"paused": row.paused}
    row.paused, row.reason, row.changed_by, row.changed_at = paused, reason, actor, now
    session.add(row)
    record_event(
        session,
        at=now,
        actor=actor,
        action="chase.pause" if paused else "chase.resume",
        entity="chase",
        entity_id=None,
        before=before,
        after={"paused": paused},
        reason=reason,
    )


def is_paused(session: Session) -> ChasePause | None:
    row = session.get(ChasePause, 1)
    return row if row is not None and row.paused else None


def snooze_unit(
    session: Session,
    unit: Unit,
    *,
    until: date | None,
    reason: str,
    now: datetime,
    actor: str,
    expected_version: int | None = None,
) -> None:
    """No reminders to ``unit`` up to and including ``until`` (None lifts the snooze)."""
    check_version(session, unit, expected_version)
    if until is not None and not reason.strip():
        raise InputError("a snooze needs a reason (--reason)")
    before = snapshot(unit, ["snoozed_until", "snooze_reason"])
    unit.snoozed_until, unit.snooze_reason = until, reason.strip() if until else ""
    session.add(unit)
    record_event(
        session,
        at=now,
        actor=actor,
        action="unit.snooze",
        entity="unit",
        entity_id=unit.id,
        before=before,
        after=snapshot(unit, ["snoozed_until", "snooze_reason"]),
        reason=reason,
    )
