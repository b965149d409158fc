"""The reminder ladder: the dates on which a deadline is reminded, as data. Pure.

For a due date D (default policy): 5 working days before, on D, then every 3 working days after
(逾期 1, 2, 3…). On any day the ladder asks for at most one stage: the latest one reached. Stages
missed while the service was down are not sent one by one; the latest stands for them.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from config.policy import LadderPolicy
from tracking.workdays import WorkCalendar


@dataclass(frozen=True)
class Stage:
    key: str  # before-5, due, overdue-1, overdue-2…
    on: date
    overdue: int  # 0 before and on the due date; n for the n-th overdue stage


def current_stage(
    due: date, as_of: date, ladder: LadderPolicy, calendar: WorkCalendar
) -> Stage | None:
    """The latest stage reached on ``as_of``, or None before the first one."""
    reached: Stage | None = None
    for days in sorted(ladder.before_due_working_days, reverse=True):
        on = calendar.subtract_workdays(due, days)
        if on <= as_of:
            reached = Stage(f"before-{days}", on, 0)
    if ladder.on_due_day and due <= as_of:
        reached = Stage("due", due, 0)
    if as_of <= due:
        return reached
    # Overdue stages fall every N working days after the due date.
    elapsed = calendar.workdays_between(due, as_of)
    number = elapsed // ladder.overdue_every_working_days
    if number == 0:
        return reached
    on = calendar.add_workdays(due, number * ladder.overdue_every_working_days)
    return Stage(f"overdue-{number}", on, number)


def in_office_window(
    now: datetime, ladder: LadderPolicy, calendar: WorkCalendar
) -> tuple[bool, str]:
    """Whether a message may go out at ``now`` (local time), and if not, why."""
    day = now.date()
    if ladder.working_days_only and not calendar.is_workday(day):
        return False, f"{calendar.describe(day)} is not a working day"
    clock = now.time().replace(tzinfo=None)
    if not (ladder.office_hours_start <= clock < ladder.office_hours_end):
        start, end = ladder.office_hours_start, ladder.office_hours_end
        return False, f"{clock:%H:%M} is outside office hours ({start:%H:%M}–{end:%H:%M})"
    return True, ""


def next_window(now: datetime, ladder: LadderPolicy, calendar: WorkCalendar) -> datetime:
    """When a held message will go out: the next opening of the office window."""
    if in_office_window(now, ladder, calendar)[0]:
        return now
    day = now.date()
    if now.time().replace(tzinfo=None) >= ladder.office_hours_end:
        day += timedelta(days=1)
    if ladder.working_days_only:
        day = calendar.next_workday(day)
    return datetime.combine(day, ladder.office_hours_start, tzinfo=now.tzinfo)


def escalation(overdue_sent_before: int, stage: Stage, ladder: LadderPolicy) -> tuple[str, ...]:
    """Who gets this reminder: the liaison always; after N overdue reminders have gone out,
    the unit's head too, and later the coordinator."""
    audiences = ["liaison"]
    if stage.overdue and overdue_sent_before >= ladder.escalate_to_head_after:
        audiences.append("head")
    if stage.overdue and overdue_sent_before >= ladder.escalate_to_coordinator_after:
        audiences.append("coordinator")
    return tuple(audiences)
