"""The handling workflow: which status moves are allowed, and recording each one as an event.

Items: 待签收 → 办理中 → 已答复 → 跟踪落实 → 已落实, with 退回 (a unit says it was mis-assigned;
the coordinator reassigns) and 重新办理 (the proposer was not satisfied) as branches. A lead's final
feedback resolves an item from any open state, as the year-end tables record it.
"""

from datetime import datetime

from sqlmodel import Session

from tracking.audit import record_event
from tracking.errors import ConflictError
from tracking.models import Assignment, AssignmentStatus, FollowUpItem, ItemStatus, Role

ITEM_LABELS = {
    ItemStatus.ASSIGNED: "待签收",
    ItemStatus.HANDLING: "办理中",
    ItemStatus.REPLIED: "已答复",
    ItemStatus.FOLLOWING: "跟踪落实",
    ItemStatus.RESOLVED: "已落实",
    ItemStatus.RETURNED: "退回",
    ItemStatus.REOPENED: "重新办理",
}
ROLE_LABELS = {Role.LEAD: "主办", Role.CO: "协办"}
ASSIGNMENT_LABELS = {
    AssignmentStatus.ASSIGNED: "待签收",
    AssignmentStatus.HANDLING: "办理中",
    AssignmentStatus.REPORTED: "已答复",
    AssignmentStatus.RETURNED: "退回",
    AssignmentStatus.CLOSED: "已办结",
    AssignmentStatus.REASSIGNED: "已调整",
}

_OPEN = {
    ItemStatus.ASSIGNED,
    ItemStatus.HANDLING,
    ItemStatus.REPLIED,
    ItemStatus.FOLLOWING,
    ItemStatus.RETURNED,
    ItemStatus.REOPENED,
}
ITEM_MOVES: dict[ItemStatus, set[ItemStatus]] = {
    ItemStatus.ASSIGNED: {
        ItemStatus.HANDLING,
        ItemStatus.RETURNED,
        ItemStatus.REPLIED,
        ItemStatus.RESOLVED,
    },
    ItemStatus.HANDLING: {ItemStatus.REPLIED, ItemStatus.RETURNED, ItemStatus.RESOLVED},
    ItemStatus.RETURNED: {ItemStatus.ASSIGNED},
    ItemStatus.REPLIED: {ItemStatus.FOLLOWING, ItemStatus.RESOLVED, ItemStatus.REOPENED},
    ItemStatus.FOLLOWING: {ItemStatus.RESOLVED, ItemStatus.REOPENED, ItemStatus.REPLIED},
    ItemStatus.REOPENED: {ItemStatus.REPLIED, ItemStatus.RESOLVED},
    ItemStatus.RESOLVED: {ItemStatus.REOPENED},
}
ASSIGNMENT_MOVES: dict[AssignmentStatus, set[AssignmentStatus]] = {
    AssignmentStatus.ASSIGNED: {
        AssignmentStatus.HANDLING,
        AssignmentStatus.REPORTED,
        AssignmentStatus.RETURNED,
        AssignmentStatus.CLOSED,
        AssignmentStatus.REASSIGNED,
    },
    AssignmentStatus.HANDLING: {
        AssignmentStatus.REPORTED,
        AssignmentStatus.RETURNED,
        AssignmentStatus.CLOSED,
        AssignmentStatus.REASSIGNED,
    },
    AssignmentStatus.REPORTED: {
        AssignmentStatus.HANDLING,
        AssignmentStatus.CLOSED,
        AssignmentStatus.REASSIGNED,
    },
    AssignmentStatus.RETURNED: {AssignmentStatus.CLOSED, AssignmentStatus.REASSIGNED},
    AssignmentStatus.CLOSED: {AssignmentStatus.HANDLING, AssignmentStatus.REASSIGNED},
    AssignmentStatus.REASSIGNED: set(),
}


def is_open(item: FollowUpItem) -> bool:
    return item.status in _OPEN


def item_label(status: str) -> str:
    return ITEM_LABELS.get(ItemStatus(status), status)


def move_item(
    session: Session,
    item: FollowUpItem,
    to: ItemStatus,
    *,
    now: datetime,
    actor: str,
    reason: str,
) -> None:
    """Move ``item`` to ``to``, or refuse with a message naming both states and the allowed ones."""
    current = ItemStatus(item.status)
    if to == current:
        return
    if to not in ITEM_MOVES[current]:
        allowed = "、".join(ITEM_LABELS[s] for s in sorted(ITEM_MOVES[current])) or "none"
        raise ConflictError(
            f"item {item.id} is {ITEM_LABELS[current]} ({current}); it cannot move to "
            f"{ITEM_LABELS[to]} ({to}). From here it can move to: {allowed}"
        )
    item.status = to
    session.add(item)
    record_event(
        session,
        at=now,
        actor=actor,
        action="item.status",
        entity="followupitem",
        entity_id=item.id,
        before={"status": current.value},
        after={"status": to.value},
        reason=reason,
    )


def move_assignment(
    session: Session,
    assignment: Assignment,
    to: AssignmentStatus,
    *,
    now: datetime,
    actor: str,
    reason: str,
) -> None:
    current = AssignmentStatus(assignment.status)
    if to == current:
        return
    if to not in ASSIGNMENT_MOVES[current]:
        raise ConflictError(
            f"assignment {assignment.id} is {ASSIGNMENT_LABELS[current]} ({current}); "
            f"it cannot move to {ASSIGNMENT_LABELS[to]} ({to})"
        )
    assignment.status = to
    session.add(assignment)
    record_event(
        session,
        at=now,
        actor=actor,
        action="assignment.status",
        entity="assignment",
        entity_id=assignment.id,
        before={"status": current.value},
        after={"status": to.value},
        reason=reason,
    )
