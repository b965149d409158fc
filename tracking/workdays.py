"""The Chinese working-day calendar: national holidays and make-up working days (调休) from the
chinesecalendar package, plus local corrections.

The package knows the years up to its last release (the State Council publishes each year's
schedule in the December before). For a date outside that range :class:`WorkCalendar` does not
fail: it knows weekends and the local corrections only, and says so (:meth:`coverage_note`,
:meth:`describe`), so a deadline in an unpublished year is computed and flagged, never refused.
A correction wins over the package's data in any year.
"""

import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import chinese_calendar

from config.policy import CalendarCorrections

FIRST_YEAR = min(chinese_calendar.holidays).year
LAST_YEAR = max(chinese_calendar.holidays).year
PACKAGE = f"chinesecalendar {chinese_calendar.__version__}"

# The package names holidays in English; offices read the Chinese names.
_CHINESE = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}

# Not strftime("%A"): that follows the process locale, and these lines go into logs and e-mails.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DayKind = Literal["workday", "weekend", "holiday", "make_up", "local_holiday", "local_workday"]


@dataclass(frozen=True)
class DayInfo:
    """What the calendar knows about one day, and why."""

    day: date
    kind: DayKind
    festival: str | None = None  # the holiday's Chinese name, for "holiday" and "make_up"
    in_lieu: bool = False  # a weekday off in exchange for a make-up working day
    covered: bool = True  # inside the package's years

    @property
    def is_workday(self) -> bool:
        return self.kind in ("workday", "make_up", "local_workday")

    @property
    def reason(self) -> str:
        """Short: '国庆节 holiday', 'weekend', for lists of skipped or counted days."""
        return {
            "workday": "working day",
            "weekend": "weekend",
            "holiday": f"{self.festival} holiday",
            "make_up": f"make-up working day (调休) for {self.festival}",
            "local_holiday": "local holiday in the calendar corrections",
            "local_workday": "make-up working day (调休) in the local calendar corrections",
        }[self.kind]


class WorkCalendar:
    """Working days over chinesecalendar's data, with local extra holidays and workdays."""

    def __init__(self, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()):
        self.extra_holidays = frozenset(map(_checked, extra_holidays))
        self.extra_workdays = frozenset(map(_checked, extra_workdays))
        both = self.extra_holidays & self.extra_workdays
        if both:
            raise ValueError(
                f"dates both extra holidays and extra workdays: {', '.join(map(str, sorted(both)))}"
            )
        self._known: dict[date, DayInfo] = {}
        self._counted = _Counts(first_year=0, last_year=-1, base=0, running=())
        self._counting = threading.Lock()

    @classmethod
    def from_corrections(cls, corrections: CalendarCorrections) -> "WorkCalendar":
        return cls(corrections.extra_holidays, corrections.extra_workdays)

    def __repr__(self) -> str:
        return (
            f"WorkCalendar({PACKAGE}, {len(self.extra_holidays)} extra holidays, "
            f"{len(self.extra_workdays)} extra workdays)"
        )

    @staticmethod
    def covers(day: date) -> bool:
        """Whether the package has the national schedule for this day's year."""
        return FIRST_YEAR <= _checked(day).year <= LAST_YEAR

    def coverage_note(self, day: date) -> str | None:
        """None inside the package's years; else what the calendar falls back to, for that year."""
        if self.covers(day):
            return None
        year = day.year
        holidays = sum(1 for d in self.extra_holidays if d.year == year)
        workdays = sum(1 for d in self.extra_workdays if d.year == year)
        if holidays or workdays:
            known = (
                f"weekends plus the local calendar corrections for {year} "
                f"({_count(holidays, 'extra holiday')}, {_count(workdays, 'make-up working day')})"
            )
        else:
            known = f"weekends only: no calendar corrections are configured for {year}"
        return (
            f"{year} is outside {PACKAGE}'s data ({FIRST_YEAR}–{LAST_YEAR}); its public holidays "
            f"are not known, so working days are {known}. Add {year}'s schedule to [calendar] "
            "in the policy, or upgrade chinesecalendar."
        )

    def info(self, day: date) -> DayInfo:
        # chinesecalendar rescans its holiday table on every call (~50 µs); a chase asks about
        # hundreds of days per deadline, so each day's answer is kept.
        found = self._known.get(day)
        if found is None:
            found = self._known[day] = self._look_up(_checked(day))
        return found

    def _look_up(self, day: date) -> DayInfo:
        if day in self.extra_workdays:
            return DayInfo(day, "local_workday", covered=self.covers(day))
        if day in self.extra_holidays:
            return DayInfo(day, "local_holiday", covered=self.covers(day))
        if not self.covers(day):
            return DayInfo(day, "weekend" if day.weekday() >= 5 else "workday", covered=False)
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        festival = _CHINESE.get(name, name) if name else None
        if festival is None:
            return DayInfo(day, "weekend" if on_holiday else "workday")
        if not on_holiday:
            return DayInfo(day, "make_up", festival)
        return DayInfo(day, "holiday", festival, in_lieu=chinese_calendar.is_in_lieu(day))

    def is_workday(self, day: date) -> bool:
        return self.info(day).is_workday

    def next_workday(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def previous_workday(self, day: date) -> date:
        """``day`` itself when it is a working day, else the last working day before it."""
        while not self.is_workday(day):
            day -= timedelta(days=1)
        return day

    def add_workdays(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (``day`` itself does not count); n ≥ 1."""
        return self._step(day, n, +1)

    def subtract_workdays(self, day: date, n: int) -> date:
        """The n-th working day before ``day`` (``day`` itself does not count); n ≥ 1."""
        return self._step(day, n, -1)

    def _step(self, day: date, n: int, direction: int) -> date:
        if n < 1:
            raise ValueError(f"n must be at least 1 (got {n}); next_workday gives the day itself")
        counts = self._cover(_checked(day).year)
        while True:
            counted = counts.running[day.toordinal() - counts.base]
            # Forwards: the first day counted n more than the day. Backwards: the working day
            # with n working days from it up to the day before.
            target = counted + n if direction > 0 else counted - self.is_workday(day) - n + 1
            if 1 <= target <= counts.running[-1]:
                return date.fromordinal(counts.base + bisect_left(counts.running, target))
            counts = self._cover(counts.last_year + 1 if direction > 0 else counts.first_year - 1)

    def workdays_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end``; negative when end < start.

        The inverse of :meth:`add_workdays`: ``workdays_between(d, add_workdays(d, n)) == n``."""
        self._cover(_checked(start).year)
        counts = self._cover(_checked(end).year)  # counts only grow: this one covers both
        return (
            counts.running[end.toordinal() - counts.base]
            - counts.running[start.toordinal() - counts.base]
        )

    def _cover(self, year: int) -> "_Counts":
        """The running count of working days, extended to whole years to include ``year``.

        A chase asks three or four such questions per obligation, spanning months: walking the
        days each time was most of its cost. The counts are rebuilt aside and swapped in whole,
        so that a thread reading them (the web pages share one calendar) never sees them half
        built."""
        counts = self._counted
        if counts.first_year <= year <= counts.last_year:
            return counts
        with self._counting:
            counts = self._counted
            if counts.first_year <= year <= counts.last_year:
                return counts
            if counts.first_year > counts.last_year:
                first, last = year, year
            else:
                first, last = min(counts.first_year, year), max(counts.last_year, year)
            base = date(first, 1, 1).toordinal()
            running, total = [], 0
            for ordinal in range(base, date(last, 12, 31).toordinal() + 1):
                total += self.is_workday(date.fromordinal(ordinal))
                running.append(total)
            self._counted = _Counts(first, last, base, tuple(running))
            return self._counted

    def describe(self, day: date) -> str:
        """One line for people: '2022-10-01 国庆节 holiday', '2023-01-28 Saturday, a make-up
        working day (调休) for 春节'."""
        info = self.info(day)
        weekday = WEEKDAYS[day.weekday()]
        if info.kind == "holiday":
            text = f"{day} {info.festival} holiday"
            if info.in_lieu:
                text += f" ({weekday}, a day off in lieu of a make-up working day: 调休)"
        elif info.kind == "weekend":
            text = f"{day} {weekday}, weekend"
        else:
            text = f"{day} {weekday}, a {info.reason}"
        if not info.covered:
            text += (
                f" [{day.year} is outside {PACKAGE}'s data: weekends and local corrections only]"
            )
        return text


@dataclass(frozen=True)
class _Counts:
    """Working days counted from 1 January of ``first_year``: ``running[i]`` is the number of
    working days from ``base`` (that day's ordinal) up to ``base + i``, inclusive."""

    first_year: int
    last_year: int
    base: int
    running: tuple[int, ...]


def _checked(day: date) -> date:
    # A datetime is a date to Python but never equal to one: refuse it rather than miss a holiday.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}: {day!r}")
    return day


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"
