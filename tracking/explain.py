"""``duban explain``: every date of an item, and how it was computed."""

from datetime import date

from sqlmodel import Session, select

from config.policy import Policy
from tracking.chase import collect_obligations
from tracking.deadlines import Extension as DeadlineExtension
from tracking.deadlines import objection_deadline, reply_deadline
from tracking.models import Extension, FollowUpItem
from tracking.obligations import LABELS
from tracking.workdays import WorkCalendar
from tracking.workflow import item_label


def explain_item(
    session: Session,
    item: FollowUpItem,
    *,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
) -> str:
    lines = [f"Item {item.id} (now {item_label(item.status)}); deadlines as of {as_of}"]
    extensions = [
        DeadlineExtension(e.months, e.reason, e.approved_by, e.approved_on)
        for e in session.exec(select(Extension).where(Extension.item_id == item.id))
    ]
    if item.assigned_on is not None:
        rules = policy.deadlines
        for title, deadline in (
            ("Objection window (退回)", objection_deadline(item.assigned_on, rules, calendar)),
            ("Reply (答复)", reply_deadline(item.assigned_on, rules, calendar, extensions)),
        ):
            lines += ["", f"{title}: {deadline.due}"]
            if deadline.baseline != deadline.due:
                lines.append(f"  baseline before extensions: {deadline.baseline}")
            lines += [f"  {step}" for step in deadline.steps]
    else:
        lines += ["", "No 交办 date is recorded, so no reply deadline applies."]
    found = collect_obligations(
        session,
        as_of=as_of,
        policy=policy,
        calendar=calendar,
        interval_days=interval_days,
        item_ids=(item.id,),  # type: ignore[arg-type]
    )
    for obligation in found:
        deadline = obligation.deadline
        lines += [
            "",
            f"{obligation.unit_name} owes {LABELS[obligation.obligation]} by {deadline.due}",
            *(f"  {step}" for step in deadline.steps),
        ]
    if not found:
        lines += ["", f"Nothing is owed on this item as of {as_of}."]
    return "\n".join(lines)
