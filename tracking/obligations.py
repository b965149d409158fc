"""What a unit owes on an item, and by when: the deadlines the rules put on each assignment.

Pure: the item's facts, the policy and the calendar are arguments.

- Before the reply (待签收, 办理中): the lead owes the reply to the proposer (答复); each co unit
  owes its written opinion to the lead (协办意见), until it gives it.
- 重新办理: the lead owes a new reply, a period after the unsatisfied rating.
- 跟踪落实: every unit still on the item owes a progress report (落实进展) every
  ``interval_days`` after its last one; the lead also owes the second reply (再次答复) and the
  year-end check (回头看) for the classes the policy names. A table imported as published is
  under follow-up with no class: both apply.
- 已答复 awaits the proposer's rating; 退回 awaits the coordinator; 已落实 owes nothing.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from config.policy import Policy
from tracking.deadlines import (
    Deadline,
    Extension,
    co_opinion_deadline,
    reopen_deadline,
    reply_deadline,
    second_reply_deadline,
    year_end_check_deadline,
)
from tracking.models import AssignmentStatus, ItemStatus, Role
from tracking.workdays import WorkCalendar


class Obligation(StrEnum):
    REPLY = "reply"
    CO_OPINION = "co_opinion"
    REOPEN_REPLY = "reopen_reply"
    PROGRESS = "progress"
    SECOND_REPLY = "second_reply"
    YEAR_END_CHECK = "year_end_check"


LABELS = {
    Obligation.REPLY: "答复代表委员",
    Obligation.CO_OPINION: "向主办单位提交协办意见",
    Obligation.REOPEN_REPLY: "重新办理并再次答复",
    Obligation.PROGRESS: "报送落实进展",
    Obligation.SECOND_REPLY: "再次答复",
    Obligation.YEAR_END_CHECK: "年终回头看",
}
_CLOSED_ASSIGNMENTS = {
    AssignmentStatus.RETURNED,
    AssignmentStatus.CLOSED,
    AssignmentStatus.REASSIGNED,
}


@dataclass(frozen=True)
class ItemFacts:
    """What the rules need to know about one assignment of an item, as of a date."""

    year: int
    status: ItemStatus
    role: Role
    assignment_status: AssignmentStatus
    assigned_on: date | None
    reply_class: str | None
    replied_on: date | None
    reply_count: int
    rating: str | None
    rated_on: date | None
    last_reported_on: date | None
    extensions: tuple[Extension, ...] = ()


def owed(
    facts: ItemFacts,
    *,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
) -> list[tuple[Obligation, Deadline]]:
    """Every obligation of this assignment, with its deadline."""
    rules = policy.deadlines
    if facts.assignment_status in _CLOSED_ASSIGNMENTS:
        return []
    lead = facts.role == Role.LEAD
    if facts.status in (ItemStatus.ASSIGNED, ItemStatus.HANDLING):
        if facts.assigned_on is None:
            return []
        if lead:
            return [
                (
                    Obligation.REPLY,
                    reply_deadline(facts.assigned_on, rules, calendar, facts.extensions),
                )
            ]
        if facts.assignment_status == AssignmentStatus.REPORTED:
            return []
        return [(Obligation.CO_OPINION, co_opinion_deadline(facts.assigned_on, rules, calendar))]
    if facts.status == ItemStatus.REOPENED and lead and facts.rated_on and facts.rating:
        return [
            (
                Obligation.REOPEN_REPLY,
                reopen_deadline(facts.rated_on, facts.rating, rules, calendar),
            )
        ]
    if facts.status != ItemStatus.FOLLOWING:
        return []
    result = [(Obligation.PROGRESS, progress_deadline(facts, calendar, interval_days))]
    if lead:
        unclassified = facts.reply_class is None
        if facts.reply_class in rules.second_reply_classes and facts.reply_count < 2:
            result.append(
                (Obligation.SECOND_REPLY, second_reply_deadline(facts.year, rules, calendar))
            )
        if unclassified or facts.reply_class in rules.year_end_check_classes:
            result.append(
                (Obligation.YEAR_END_CHECK, year_end_check_deadline(facts.year, rules, calendar))
            )
    return result


def progress_deadline(facts: ItemFacts, calendar: WorkCalendar, interval_days: int) -> Deadline:
    """The next progress report: ``interval_days`` after the unit's last report or the reply,
    whichever is later (follow-up begins with the reply), else after the assignment, else after
    the start of the year (a table imported as published carries no earlier date)."""
    known = [
        (day, source)
        for day, source in (
            (facts.last_reported_on, "the unit's last report"),
            (facts.replied_on, "the reply"),
        )
        if day is not None
    ]
    if known:
        start, source = max(known)
    elif facts.assigned_on is not None:
        start, source = facts.assigned_on, "the assignment"
    else:
        start, source = date(facts.year, 1, 1), "the start of the year (no earlier date known)"
    target = start + timedelta(days=interval_days)
    due = calendar.next_workday(target)
    steps = [
        f"rule progress: a report every {interval_days} days under follow-up "
        "(DUBAN_REPORT_INTERVAL_DAYS)",
        f"counted from {source}: {start}",
        f"{start} + {interval_days} days = {target}",
    ]
    if due != target:
        steps.append(f"{calendar.describe(target)} → next working day {due}")
    return Deadline(due=due, baseline=due, rule="progress", steps=tuple(steps))
