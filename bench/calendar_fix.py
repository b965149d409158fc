"""What-if: the working-day calendar with the rest of the fix docs/benchmarks.md proposes.

duban's :class:`~tracking.workdays.WorkCalendar` keeps each day's answer (chinesecalendar's own
lookup rescans its holiday table, ~40 µs a call), but ``workdays_between`` and
``add_workdays``/``subtract_workdays`` still walk the calendar day by day, and the chase makes
three or four such calls per obligation (about 130 days each for a deadline in February seen
from June). This subclass answers them from a running count of working days built once per
year: ``workdays_between`` is a subtraction and stepping n working days a bisection. The bench
hands it to the App (``app.calendar``) like any calendar and checks that the ledger the chase
writes is the same with both.
"""

from bisect import bisect_left
from datetime import date

from tracking.workdays import WorkCalendar


class CountingCalendar(WorkCalendar):
    def __init__(self, calendar: WorkCalendar) -> None:
        super().__init__(calendar.extra_holidays, calendar.extra_workdays)
        self._years = (0, -1)  # the first and last year counted
        self._base = 0  # the ordinal of 1 January of the first year counted
        self._counts: list[int] = []  # working days from the base up to each day, inclusive

    def workdays_between(self, start: date, end: date) -> int:
        self._cover(start.year)  # first, so that counting the end cannot move the base
        return self._count(end) - self._count(start)

    def _step(self, day: date, n: int, direction: int) -> date:
        if n < 1:
            raise ValueError(f"n must be at least 1 (got {n}); next_workday gives the day itself")
        if direction > 0:  # the first day counted n more than the day
            while (target := self._count(day) + n) > self._counts[-1]:
                self._cover(self._years[1] + 1)
        else:  # the working day with n working days from it up to the day before
            while (target := self._count(day) - self.is_workday(day) - n + 1) < 1:
                self._cover(self._years[0] - 1)
        return date.fromordinal(self._base + bisect_left(self._counts, target))

    def _count(self, day: date) -> int:
        self._cover(day.year)
        return self._counts[day.toordinal() - self._base]

    def _cover(self, year: int) -> None:
        first, last = self._years
        if first <= year <= last:
            return
        first, last = (year, year) if first > last else (min(first, year), max(last, year))
        self._years, self._base = (first, last), date(first, 1, 1).toordinal()
        self._counts, total = [], 0
        for ordinal in range(self._base, date(last, 12, 31).toordinal() + 1):
            total += self.is_workday(date.fromordinal(ordinal))
            self._counts.append(total)
