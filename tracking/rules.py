"""The rules that decide who owes what as of a date. Pure: every date is an argument."""

from datetime import date, timedelta


def is_open_on(closed_on: date | None, as_of: date) -> bool:
    """Open as of ``as_of`` unless closed by a report dated on or before it."""
    return closed_on is None or closed_on > as_of


def reply_by(as_of: date, reply_within_days: int) -> date:
    """The date a digest sent on ``as_of`` asks the unit to reply by."""
    return as_of + timedelta(days=reply_within_days)
