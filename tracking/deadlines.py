"""Deadlines on the working-day calendar, each with the explanation of how it was computed.

Pure functions: the dates, the policy's :class:`~config.policy.DeadlineRules` and a
:class:`~tracking.workdays.WorkCalendar` are arguments. A month period ends on the same day of
the month N months later, or on that month's last day when it has no such day (30 November +
3 months = 28/29 February). A due date on a non-working day then moves as
``deadlines.due_on_non_working_day`` says (by default to the next working day: the usual rule
for a period that ends on a holiday). Working-day windows count working days after the start.

Months are always counted from the start (the assignment, or a fixed batch date), never from an
earlier result, so an extension of 3 + 3 months lands where a 6-month period would.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from config.policy import RATINGS, DeadlineRules
from tracking.errors import InputError
from tracking.workdays import WEEKDAYS, WorkCalendar


@dataclass(frozen=True)
class Extension:
    """An approved extension (延期) of the reply deadline."""

    months: int
    reason: str
    approved_by: str
    approved_on: date


@dataclass(frozen=True)
class Deadline:
    due: date
    baseline: date  # the deadline before any extension; equal to due when there is none
    rule: str  # reply, co_opinion, objection, reopen, second_reply, year_end_check
    steps: tuple[str, ...]  # how it was computed, for people, in order

    def explain(self) -> str:
        return "\n".join(self.steps)


def reply_deadline(
    assigned_on: date,
    rules: DeadlineRules,
    calendar: WorkCalendar,
    extensions: Sequence[Extension] = (),
) -> Deadline:
    """The reply to the deputy or member: ``reply_months`` after assignment, or the fixed date
    of the batch the assignment falls in; then any approved extensions, within the cap.

    Raises InputError listing every problem with the extensions."""
    validate_extensions(extensions, assigned_on=assigned_on, rules=rules)
    steps = _Steps(calendar)
    batch = rules.batch_for(assigned_on)
    if batch is None:
        start, base_months = assigned_on, rules.reply_months
        steps.add(
            f"rule reply: the reply to the proposer is due {_months(base_months)} after "
            f"assignment (deadlines.reply_months = {rules.reply_months})"
        )
        steps.add(f"assigned on {_day(assigned_on)}")
    else:
        number, fixed = batch
        start, base_months = fixed.reply_due, 0
        steps.add(
            f"rule reply: fixed batch deadline (deadlines.batches[{number}], {fixed.title}): "
            f"items assigned in it reply by {fixed.reply_due}, instead of "
            f"{_months(rules.reply_months)} after assignment"
        )
        steps.add(f"assigned on {_day(assigned_on)}")
    baseline = _settle(steps, start, base_months, rules, calendar)
    due = baseline
    extended = 0
    for number, extension in enumerate(_in_order(extensions), start=1):
        if extension.approved_on > due:
            late = f" (approved after the deadline it extends, {due})"
        else:
            late = ""
        extended += extension.months
        steps.add(
            f"extension {number}: +{_months(extension.months)}, approved by "
            f"{extension.approved_by.strip()} on {extension.approved_on}{late}; "
            f"reason: {extension.reason.strip()}"
        )
        due = _settle(steps, start, base_months + extended, rules, calendar)
    if extensions:
        steps.add(
            f"extended by {_months(extended)} in all, of at most "
            f"{rules.extension_max_months} (deadlines.extension_max_months); "
            f"baseline (the deadline before extensions): {baseline}"
        )
    steps.add(f"due: {due}")
    return Deadline(due=due, baseline=baseline, rule="reply", steps=steps.done())


def co_opinion_deadline(
    assigned_on: date, rules: DeadlineRules, calendar: WorkCalendar
) -> Deadline:
    """A co-handling unit's written opinion to the lead unit."""
    steps = _Steps(calendar)
    batch = rules.batch_for(assigned_on)
    if batch is not None and batch[1].co_opinion_due is not None:
        number, fixed = batch
        start, months = fixed.co_opinion_due, 0
        steps.add(
            f"rule co_opinion: fixed batch deadline (deadlines.batches[{number}], {fixed.title}): "
            f"co-handling units send their written opinion to the lead unit by {start}"
        )
    else:
        start, months = assigned_on, rules.co_opinion_months
        steps.add(
            "rule co_opinion: a co-handling unit sends its written opinion to the lead unit "
            f"within {_months(months)} of assignment (deadlines.co_opinion_months = {months})"
        )
    steps.add(f"assigned on {_day(assigned_on)}")
    due = _settle(steps, start, months, rules, calendar)
    steps.add(f"due: {due}")
    return Deadline(due=due, baseline=due, rule="co_opinion", steps=steps.done())


def objection_deadline(assigned_on: date, rules: DeadlineRules, calendar: WorkCalendar) -> Deadline:
    """The last day a unit may say an item was mis-assigned: working days after assignment."""
    n = rules.objection_working_days
    steps = _Steps(calendar)
    steps.add(
        "rule objection: a unit that thinks the item was assigned to it by mistake says so "
        f"within {n} working days of assignment (deadlines.objection_working_days = {n})"
    )
    steps.add(f"assigned on {_day(assigned_on)}")
    due = calendar.add_workdays(assigned_on, n)
    first = assigned_on + timedelta(days=1)
    steps.examined(first, due)
    window = list(_days(first, due))
    counted = [day for day in window if calendar.is_workday(day)]
    steps.add(f"counted {n} working days after {assigned_on}: {counted[0]} to {due}")
    unusual = [calendar.describe(day) for day in counted if calendar.info(day).kind != "workday"]
    if unusual:
        steps.add("counted, though not an ordinary weekday: " + "; ".join(unusual))
    skipped = [day for day in window if not calendar.is_workday(day)]
    if skipped:
        steps.add(f"skipped {_skipped(calendar, skipped)}")
    steps.add(f"due: {calendar.describe(due)}")
    return Deadline(due=due, baseline=due, rule="objection", steps=steps.done())


def reopen_deadline(
    rated_on: date, rating: str, rules: DeadlineRules, calendar: WorkCalendar
) -> Deadline:
    """The new reply after the proposer's rating sent the item back for 重新办理.

    Raises InputError when the rating is unknown or does not reopen under this policy."""
    if rating not in RATINGS:
        raise InputError(f"unknown rating {rating!r}; the ratings are {', '.join(RATINGS)}")
    if not rules.reopens(rating):
        raise InputError(
            f"the rating {rating} does not reopen an item under this policy "
            f"(deadlines.reopen_ratings = {', '.join(rules.reopen_ratings) or 'none'})"
        )
    months = rules.reopen_months
    steps = _Steps(calendar)
    steps.add(
        f"rule reopen: rated {rating}, which sends the item back for 重新办理 "
        f"(deadlines.reopen_ratings = {', '.join(rules.reopen_ratings)}); the new reply is due "
        f"{_months(months)} after the rating (deadlines.reopen_months = {months})"
    )
    steps.add(f"rated on {_day(rated_on)}")
    due = _settle(steps, rated_on, months, rules, calendar)
    steps.add(f"due: {due}")
    return Deadline(due=due, baseline=due, rule="reopen", steps=steps.done())


def second_reply_deadline(year: int, rules: DeadlineRules, calendar: WorkCalendar) -> Deadline:
    """The second reply (再次答复) for items of ``year`` answered with a follow-up class."""
    return _fixed_day(
        "second_reply",
        f"items answered as {', '.join(rules.second_reply_classes)} get a second reply "
        "(再次答复) by",
        "second_reply_by",
        rules.second_reply_by,
        year,
        rules,
        calendar,
    )


def year_end_check_deadline(year: int, rules: DeadlineRules, calendar: WorkCalendar) -> Deadline:
    """The year-end check (回头看) of ``year``'s items answered with a follow-up class."""
    return _fixed_day(
        "year_end_check",
        f"items answered as {', '.join(rules.year_end_check_classes)} are reviewed at the "
        "year-end check (回头看) by",
        "year_end_check_by",
        rules.year_end_check_by,
        year,
        rules,
        calendar,
    )


def validate_extensions(
    extensions: Sequence[Extension], *, assigned_on: date, rules: DeadlineRules
) -> None:
    """Raise InputError listing every problem: months, reason, approver, date, the cap."""
    problems = []
    for number, extension in enumerate(_in_order(extensions), start=1):
        where = f"extension {number}"
        if isinstance(extension.months, bool) or not isinstance(extension.months, int):
            problems.append(f"{where}: months must be a whole number (got {extension.months!r})")
        elif extension.months < 1:
            problems.append(f"{where}: months must be at least 1 (got {extension.months})")
        if not (extension.reason or "").strip():
            problems.append(f"{where}: a reason is required")
        if not (extension.approved_by or "").strip():
            problems.append(f"{where}: the approver (approved_by) is required")
        if extension.approved_on < assigned_on:
            problems.append(
                f"{where}: approved on {extension.approved_on}, before the assignment on "
                f"{assigned_on}"
            )
    total = sum(e.months for e in extensions if isinstance(e.months, int))
    cap = rules.extension_max_months
    if extensions and cap == 0:
        problems.append("this policy allows no extension (deadlines.extension_max_months = 0)")
    elif total > cap:
        problems.append(
            f"the extensions add {_months(total)} in all; at most {_months(cap)} are allowed "
            f"(deadlines.extension_max_months = {cap})"
        )
    if problems:
        raise InputError("the reply deadline cannot be extended so:", problems)


class _Steps:
    """The explanation being written, and the years whose calendar it relied on."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.lines: list[str] = []
        self.years: set[int] = set()

    def add(self, line: str) -> None:
        self.lines.append(line)

    def examined(self, first: date, last: date) -> None:
        low, high = sorted((first, last))
        self.years.update(range(low.year, high.year + 1))

    def done(self) -> tuple[str, ...]:
        notes = [self.calendar.coverage_note(date(year, 1, 1)) for year in sorted(self.years)]
        return (*self.lines, *(f"note: {note}" for note in notes if note))


def _settle(
    steps: _Steps, start: date, months: int, rules: DeadlineRules, calendar: WorkCalendar
) -> date:
    """start + months, then moved off a non-working day as the policy says; each step noted."""
    raw = start + relativedelta(months=months)
    if months:
        clamp = ""
        if raw.day != start.day:
            clamp = f" ({raw:%Y-%m} has no day {start.day}: the month's last day)"
        steps.add(f"{start} + {_months(months)} = {raw}{clamp}")
    info = calendar.info(raw)
    if info.is_workday:
        steps.examined(raw, raw)
        steps.add(f"{calendar.describe(raw)}: the date stands")
        return raw
    policy = f'deadlines.due_on_non_working_day = "{rules.due_on_non_working_day}"'
    if rules.due_on_non_working_day == "keep":
        steps.examined(raw, raw)
        steps.add(f"{calendar.describe(raw)}: not a working day, kept as it is ({policy})")
        return raw
    if rules.due_on_non_working_day == "next_workday":
        moved, direction = calendar.next_workday(raw), "next working day"
    else:
        moved, direction = calendar.previous_workday(raw), "working day before"
    steps.examined(raw, moved)
    low, high = sorted((raw, moved))
    skipped = [day for day in _days(low, high) if not calendar.is_workday(day)]
    steps.add(
        f"{calendar.describe(raw)}: not a working day; a due date on a non-working day moves to "
        f"the {direction} ({policy}), past {_skipped(calendar, skipped)}"
    )
    steps.add(f"moved to {calendar.describe(moved)}")
    return moved


def _fixed_day(
    rule: str,
    what: str,
    key: str,
    month_day: str,
    year: int,
    rules: DeadlineRules,
    calendar: WorkCalendar,
) -> Deadline:
    day = date(year, int(month_day[:2]), int(month_day[3:]))
    steps = _Steps(calendar)
    steps.add(f'rule {rule}: {what} {month_day} of the year (deadlines.{key} = "{month_day}")')
    due = _settle(steps, day, 0, rules, calendar)
    steps.add(f"due: {due}")
    return Deadline(due=due, baseline=due, rule=rule, steps=steps.done())


def _skipped(calendar: WorkCalendar, days: Sequence[date]) -> str:
    """'2023-10-01 to 2023-10-06 (国庆节 holiday) and 2 weekend days': holidays by name, runs
    of consecutive days with the same reason together; ordinary weekends only counted."""
    runs: list[list[date]] = []
    reasons: list[str] = []
    weekends = 0
    for day in days:
        info = calendar.info(day)
        if info.kind == "weekend":
            weekends += 1
            continue
        if runs and reasons[-1] == info.reason and runs[-1][-1] == day - timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
            reasons.append(info.reason)
    parts = [
        f"{run[0]} ({reason})" if len(run) == 1 else f"{run[0]} to {run[-1]} ({reason})"
        for run, reason in zip(runs, reasons, strict=True)
    ]
    if weekends:
        parts.append(f"{weekends} weekend day{'s' if weekends > 1 else ''}")
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _in_order(extensions: Iterable[Extension]) -> list[Extension]:
    return sorted(extensions, key=lambda extension: extension.approved_on)


def _months(n: int) -> str:
    return f"{n} month{'s' if n != 1 else ''}"


def _day(day: date) -> str:
    return f"{day} ({WEEKDAYS[day.weekday()]})"


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
