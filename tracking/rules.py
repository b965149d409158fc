"""The rules that decide who owes what as of a date. Pure: every date is an argument."""

from datetime import date, timedelta


def is_open_on(closed_on: date | None, as_of: date) -> bool:
    """Open as of ``as_of`` unless closed by a report dated on or before it."""
    return closed_on is None or closed_on > as_of


def owes_report(
    *,
    item_closed_on: date | None,
    assignment_closed_on: date | None,
    last_reported_on: date | None,
    as_of: date,
    interval_days: int,
) -> bool:
    """A unit owes a report on an open assignment of an open item when it has reported nothing
    in the ``interval_days`` up to and including ``as_of``. Reports dated after ``as_of`` are
    not seen: the caller passes the last report on or before it."""
    if not (is_open_on(item_closed_on, as_of) and is_open_on(assignment_closed_on, as_of)):
        return False
    return last_reported_on is None or last_reported_on <= as_of - timedelta(days=interval_days)


def reply_by(as_of: date, reply_within_days: int) -> date:
    """The date a digest sent on ``as_of`` asks the unit to reply by."""
    return as_of + timedelta(days=reply_within_days)
