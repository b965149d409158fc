"""The working-day calendar on chinesecalendar's 2022–2026 data, and beyond it.

Every holiday and make-up working day asserted here was checked against the package's data
(chinese_calendar.is_workday / get_holiday_detail / is_in_lieu) before it was written down.
"""

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from config.policy import CalendarCorrections
from tracking.workdays import LAST_YEAR, WorkCalendar

CALENDAR = WorkCalendar()
UNKNOWN_2027 = pytest.mark.skipif(
    WorkCalendar.covers(date(2027, 1, 1)),
    reason="chinesecalendar now has 2027's schedule; these tests are about a year it lacks",
)


@pytest.mark.parametrize(
    ("day", "weekday", "festival"),
    [
        (date(2023, 1, 28), "Saturday", "春节"),
        (date(2023, 1, 29), "Sunday", "春节"),
        (date(2024, 2, 4), "Sunday", "春节"),
        (date(2024, 2, 18), "Sunday", "春节"),
        (date(2025, 1, 26), "Sunday", "春节"),
        (date(2025, 2, 8), "Saturday", "春节"),
        (date(2025, 9, 28), "Sunday", "国庆节"),
        (date(2025, 10, 11), "Saturday", "国庆节"),
        (date(2022, 10, 8), "Saturday", "国庆节"),
        (date(2026, 2, 14), "Saturday", "春节"),
        (date(2026, 1, 4), "Sunday", "元旦"),
    ],
)
def test_make_up_weekend_days_are_working_days(day: date, weekday: str, festival: str) -> None:
    assert day.weekday() >= 5  # a weekend day by the week alone
    assert CALENDAR.is_workday(day)
    assert CALENDAR.describe(day) == f"{day} {weekday}, a make-up working day (调休) for {festival}"


@pytest.mark.parametrize(
    ("day", "described"),
    [
        (date(2022, 10, 1), "2022-10-01 国庆节 holiday"),
        (date(2024, 2, 10), "2024-02-10 春节 holiday"),
        (date(2025, 1, 28), "2025-01-28 春节 holiday"),
        (date(2025, 10, 6), "2025-10-06 中秋 holiday"),
        (date(2026, 2, 16), "2026-02-16 春节 holiday"),
    ],
)
def test_holidays_are_named(day: date, described: str) -> None:
    assert not CALENDAR.is_workday(day)
    assert CALENDAR.describe(day) == described


def test_a_weekday_off_in_lieu_says_so() -> None:
    day = date(2023, 1, 26)  # a Thursday of the 2023 春节 holiday, paid for by 01-28 and 01-29
    assert day.weekday() == 3
    assert not CALENDAR.is_workday(day)
    assert CALENDAR.info(day).in_lieu
    assert CALENDAR.describe(day).startswith("2023-01-26 春节 holiday (Thursday, a day off in lieu")


def test_ordinary_days() -> None:
    assert CALENDAR.describe(date(2023, 1, 30)) == "2023-01-30 Monday, a working day"
    assert CALENDAR.describe(date(2023, 2, 4)) == "2023-02-04 Saturday, weekend"
    assert not CALENDAR.is_workday(date(2023, 2, 4))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2023, 1, 30), date(2023, 1, 30)),  # a working day is its own next working day
        (date(2023, 1, 28), date(2023, 1, 28)),  # so is a make-up Saturday
        (date(2023, 10, 1), date(2023, 10, 7)),  # 国庆节 to the make-up Saturday after it
        (date(2024, 2, 10), date(2024, 2, 18)),  # 春节 to the make-up Sunday after it
        (date(2025, 10, 1), date(2025, 10, 9)),  # 国庆节 and 中秋 together, to a Thursday
        (date(2022, 12, 31), date(2023, 1, 3)),  # 元旦 across the year end
    ],
)
def test_next_workday(day: date, expected: date) -> None:
    assert CALENDAR.next_workday(day) == expected


def test_previous_workday() -> None:
    assert CALENDAR.previous_workday(date(2024, 2, 17)) == date(2024, 2, 9)
    assert CALENDAR.previous_workday(date(2024, 2, 9)) == date(2024, 2, 9)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2024, 2, 8), 1, date(2024, 2, 9)),  # 除夕 2024 was a working Friday
        (date(2024, 2, 9), 1, date(2024, 2, 18)),  # then eight days off, back on a Sunday
        (date(2022, 9, 30), 1, date(2022, 10, 8)),  # National Day to its make-up Saturday
        (date(2025, 1, 24), 2, date(2025, 1, 27)),  # 01-26 is a make-up Sunday, 01-27 Monday
        (date(2025, 1, 24), 3, date(2025, 2, 5)),  # then 春节 01-28..02-04
        (date(2023, 10, 6), 1, date(2023, 10, 7)),  # the start itself never counts
    ],
)
def test_add_workdays(start: date, n: int, expected: date) -> None:
    assert CALENDAR.add_workdays(start, n) == expected


def test_subtract_workdays_counts_make_up_days() -> None:
    assert CALENDAR.subtract_workdays(date(2025, 10, 9), 1) == date(2025, 9, 30)
    assert CALENDAR.subtract_workdays(date(2025, 10, 9), 3) == date(2025, 9, 28)  # a Sunday


@pytest.mark.parametrize("n", [0, -1])
def test_adding_fewer_than_one_working_day_is_refused(n: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CALENDAR.add_workdays(date(2024, 1, 2), n)
    with pytest.raises(ValueError, match="at least 1"):
        CALENDAR.subtract_workdays(date(2024, 1, 2), n)


def test_workdays_between_counts_make_up_days_and_skips_holidays() -> None:
    # After Friday 2025-01-24 up to Monday 2025-02-10: 01-26 (make-up), 01-27, 02-05, 02-06,
    # 02-07, 02-08 (make-up), 02-10; the 春节 holiday and 01-25 and 02-09 are skipped.
    assert CALENDAR.workdays_between(date(2025, 1, 24), date(2025, 2, 10)) == 7
    assert CALENDAR.workdays_between(date(2025, 2, 10), date(2025, 1, 24)) == -7
    assert CALENDAR.workdays_between(date(2025, 1, 24), date(2025, 1, 24)) == 0


def test_workdays_between_is_the_inverse_of_add_workdays() -> None:
    starts = [date(2022, 1, 1) + timedelta(days=k) for k in range(0, 5 * 365, 11)]
    for start in starts:
        for n in (1, 3, 5, 10, 22):
            assert CALENDAR.workdays_between(start, CALENDAR.add_workdays(start, n)) == n, start
            assert CALENDAR.workdays_between(CALENDAR.subtract_workdays(start, n), start) == (
                n - (0 if CALENDAR.is_workday(start) else 1)
            ), start


def test_working_day_counts_per_year_match_the_published_schedules() -> None:
    # 2023: 260 weekdays, 18 of them off (元旦 1, 春节 5, 清明 1, 劳动节 3, 端午 2, 中秋 1,
    # 国庆节 5), and 7 make-up weekend days: 249.
    assert CALENDAR.workdays_between(date(2022, 12, 31), date(2023, 12, 31)) == 249
    for year in range(2022, 2027):
        published = chinese_calendar.get_workdays(date(year, 1, 1), date(year, 12, 31))
        assert CALENDAR.workdays_between(date(year - 1, 12, 31), date(year, 12, 31)) == len(
            published
        ), year


def test_a_datetime_is_refused() -> None:
    with pytest.raises(TypeError, match="expected a date"):
        CALENDAR.is_workday(datetime(2024, 2, 18, 9, 0))


def test_the_package_data_ends_where_the_module_says() -> None:
    assert CALENDAR.covers(date(LAST_YEAR, 12, 31))
    assert not CALENDAR.covers(date(LAST_YEAR + 1, 1, 1))
    assert CALENDAR.coverage_note(date(2024, 6, 1)) is None


@UNKNOWN_2027
def test_2027_without_corrections_is_weekends_only_and_says_so() -> None:
    new_year = date(2027, 1, 1)  # a Friday; surely 元旦, but not in the package's data
    assert not CALENDAR.covers(new_year)
    assert CALENDAR.is_workday(new_year)
    assert not CALENDAR.is_workday(date(2027, 1, 2))  # Saturday
    assert "2027 is outside chinesecalendar" in CALENDAR.describe(new_year)
    note = CALENDAR.coverage_note(new_year)
    assert note is not None
    assert "weekends only" in note
    assert "no calendar corrections are configured for 2027" in note
    # Never NotImplementedError, anywhere in the year.
    days = [new_year + timedelta(days=k) for k in range(365)]
    assert sum(CALENDAR.is_workday(d) for d in days) == 261  # 2027 has 261 weekdays
    assert CALENDAR.add_workdays(date(2026, 12, 31), 1) == new_year


@UNKNOWN_2027
def test_2027_with_corrections() -> None:
    calendar = WorkCalendar.from_corrections(
        CalendarCorrections(
            extra_holidays=[date(2027, 1, 1), date(2027, 2, 8)],
            extra_workdays=[date(2027, 2, 20)],  # a Saturday, as a 调休 notice would make it
        )
    )
    assert not calendar.is_workday(date(2027, 1, 1))
    assert calendar.is_workday(date(2027, 2, 20))
    assert calendar.add_workdays(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert calendar.describe(date(2027, 1, 1)).startswith(
        "2027-01-01 Friday, a local holiday in the calendar corrections"
    )
    assert calendar.describe(date(2027, 2, 20)).startswith(
        "2027-02-20 Saturday, a make-up working day (调休) in the local calendar corrections"
    )
    note = calendar.coverage_note(date(2027, 5, 1))
    assert note is not None
    assert "2 extra holidays, 1 make-up working day" in note


def test_corrections_win_over_the_package_in_a_known_year() -> None:
    local = date(2024, 3, 5)  # an ordinary Tuesday nationally
    make_up = date(2024, 2, 18)  # a national make-up Sunday
    calendar = WorkCalendar(extra_holidays=[local, make_up])
    assert CALENDAR.is_workday(local) and CALENDAR.is_workday(make_up)
    assert not calendar.is_workday(local)
    assert not calendar.is_workday(make_up)
    assert calendar.next_workday(local) == date(2024, 3, 6)


def test_a_date_both_holiday_and_workday_is_refused() -> None:
    with pytest.raises(ValueError, match="2027-01-01"):
        WorkCalendar(extra_holidays=[date(2027, 1, 1)], extra_workdays=[date(2027, 1, 1)])


def _walk(calendar: WorkCalendar, day: date, n: int, step: int) -> date:
    """The definition, one day at a time: the n-th working day after (step 1) or before (-1)."""
    while n:
        day += timedelta(days=step)
        n -= calendar.is_workday(day)
    return day


@pytest.mark.parametrize(
    "calendar",
    [
        WorkCalendar(),
        WorkCalendar(
            extra_holidays=[date(2023, 5, 4), date(2027, 2, 8)],
            extra_workdays=[date(2023, 5, 6), date(2027, 2, 13)],
        ),
    ],
    ids=["package", "with-corrections"],
)
def test_counted_answers_match_a_day_by_day_walk(calendar: WorkCalendar) -> None:
    # The calendar answers from a running count of working days; this walks the days as the
    # definition says, on random dates across years (past the package's data too) and spans
    # long enough to cross New Year in both directions.
    rng = random.Random(20221)
    for _ in range(1000):
        start = date(2021, 1, 1) + timedelta(days=rng.randrange(7 * 365))
        n = rng.choice((1, 2, 3, 5, 20, rng.randrange(1, 400)))
        assert calendar.add_workdays(start, n) == _walk(calendar, start, n, +1), (start, n)
        assert calendar.subtract_workdays(start, n) == _walk(calendar, start, n, -1), (start, n)
        end = start + timedelta(days=rng.randrange(-500, 500))
        assert calendar.workdays_between(start, end) == _walk_between(calendar, start, end)


def _walk_between(calendar: WorkCalendar, start: date, end: date) -> int:
    if end < start:
        return -_walk_between(calendar, end, start)
    return sum(
        calendar.is_workday(start + timedelta(days=k)) for k in range(1, (end - start).days + 1)
    )


def test_counts_grow_safely_under_threads() -> None:
    # The web pages share one calendar across threads; years are counted as they are first
    # asked for, and a reader must never see the counts half built.
    calendar = WorkCalendar()
    reference = WorkCalendar()
    days = [date(2010 + k % 17, 1 + k % 12, 1 + k % 28) for k in range(400)]

    def answers(day: date) -> tuple[date, date, int]:
        return (
            calendar.add_workdays(day, 30),
            calendar.subtract_workdays(day, 30),
            calendar.workdays_between(date(2022, 6, 15), day),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(answers, days))
    for day, (after, before, between) in zip(days, got, strict=True):
        assert after == _walk(reference, day, 30, +1), day
        assert before == _walk(reference, day, 30, -1), day
        assert between == reference.workdays_between(date(2022, 6, 15), day), day
