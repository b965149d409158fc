"""Deadlines on the 2022–2026 calendars: periods, month ends, holidays, extensions, batches.

Holidays and make-up working days used here were checked against chinesecalendar's data.
"""

import dataclasses
from datetime import date

import pytest

from config.policy import DeadlineRules, FixedBatch, load_policy
from tracking.deadlines import (
    Deadline,
    Extension,
    co_opinion_deadline,
    objection_deadline,
    reopen_deadline,
    reply_deadline,
    second_reply_deadline,
    year_end_check_deadline,
)
from tracking.errors import InputError
from tracking.workdays import WorkCalendar

RULES = DeadlineRules()
CALENDAR = WorkCalendar()
UNKNOWN_2027 = pytest.mark.skipif(
    WorkCalendar.covers(date(2027, 1, 1)),
    reason="chinesecalendar now has 2027's schedule; these tests are about a year it lacks",
)


def ext(
    months: int = 3, reason: str = "涉及多部门协调", by: str = "市政府办公厅", on: str = ""
) -> Extension:
    return Extension(months, reason, by, date.fromisoformat(on or "2023-09-20"))


def test_a_period_ending_on_national_day_moves_to_the_make_up_saturday() -> None:
    deadline = reply_deadline(date(2023, 7, 1), RULES, CALENDAR)
    assert (deadline.due, deadline.baseline, deadline.rule) == (
        date(2023, 10, 7),
        date(2023, 10, 7),
        "reply",
    )
    text = deadline.explain()
    assert "deadlines.reply_months = 3" in text
    assert "2023-07-01 + 3 months = 2023-10-01" in text
    assert "2023-10-01 国庆节 holiday: not a working day" in text
    assert "2023-10-01 to 2023-10-06 (国庆节 holiday)" in text
    assert "moved to 2023-10-07 Saturday, a make-up working day (调休) for 国庆节" in text
    assert deadline.steps[-1] == "due: 2023-10-07"


@pytest.mark.parametrize(
    ("assigned", "due", "skipped"),
    [
        (date(2024, 10, 29), date(2025, 2, 5), "2025-01-29 to 2025-02-04 (春节 holiday)"),
        (date(2023, 11, 11), date(2024, 2, 18), "2024-02-11 to 2024-02-17 (春节 holiday)"),
        (date(2022, 10, 31), date(2023, 1, 31), None),  # the week after 春节: a plain Tuesday
    ],
)
def test_spring_festival(assigned: date, due: date, skipped: str | None) -> None:
    deadline = reply_deadline(assigned, RULES, CALENDAR)
    assert deadline.due == due
    if skipped:
        assert skipped in deadline.explain()
    else:
        assert "the date stands" in deadline.explain()


def test_2024_deadline_on_a_spring_festival_sunday_make_up_day() -> None:
    deadline = reply_deadline(date(2023, 11, 11), RULES, CALENDAR)
    assert deadline.due == date(2024, 2, 18)
    assert deadline.due.weekday() == 6
    assert "moved to 2024-02-18 Sunday, a make-up working day (调休) for 春节" in deadline.steps


@pytest.mark.parametrize(
    ("assigned", "due", "clamped"),
    [
        (date(2023, 11, 30), date(2024, 2, 29), "2023-11-30 + 3 months = 2024-02-29"),  # leap
        (date(2022, 11, 30), date(2023, 2, 28), "2022-11-30 + 3 months = 2023-02-28"),
        # clamped to 2024-11-30, a Saturday, then moved to Monday
        (date(2024, 8, 31), date(2024, 12, 2), "2024-08-31 + 3 months = 2024-11-30"),
    ],
)
def test_month_end_clamping(assigned: date, due: date, clamped: str) -> None:
    deadline = reply_deadline(assigned, RULES, CALENDAR)
    assert deadline.due == due
    assert any(
        step.startswith(clamped) and "the month's last day" in step for step in deadline.steps
    )


def test_an_extension_keeps_the_baseline_and_names_approver_and_reason() -> None:
    deadline = reply_deadline(date(2023, 7, 1), RULES, CALENDAR, [ext(3)])
    assert deadline.baseline == date(2023, 10, 7)
    assert deadline.due == date(2024, 1, 2)  # 2024-01-01 is 元旦
    text = deadline.explain()
    assert (
        "extension 1: +3 months, approved by 市政府办公厅 on 2023-09-20; reason: 涉及多部门协调"
        in text
    )
    assert "2023-07-01 + 6 months = 2024-01-01" in text
    assert "2024-01-01 元旦 holiday" in text
    assert "baseline (the deadline before extensions): 2023-10-07" in text


def test_extension_months_count_from_the_assignment_not_from_the_clamped_date() -> None:
    # 11-30 + 3 months is clamped to 02-29; + 3 more from there would give 05-29.
    deadline = reply_deadline(
        date(2023, 11, 30), RULES, CALENDAR, [ext(2, on="2024-02-01"), ext(1, on="2024-04-01")]
    )
    assert deadline.baseline == date(2024, 2, 29)
    assert deadline.due == date(2024, 5, 30)
    assert "extension 2: +1 month" in deadline.explain()


def test_an_extension_approved_after_the_deadline_is_recorded_and_flagged() -> None:
    deadline = reply_deadline(date(2023, 7, 1), RULES, CALENDAR, [ext(1, on="2023-10-09")])
    assert deadline.due == date(2023, 11, 1)
    assert "approved after the deadline it extends, 2023-10-07" in deadline.explain()


def test_extensions_beyond_the_cap_are_refused() -> None:
    with pytest.raises(InputError) as caught:
        reply_deadline(date(2023, 7, 1), RULES, CALENDAR, [ext(2), ext(2, on="2023-12-01")])
    assert "the extensions add 4 months in all; at most 3 months are allowed" in str(caught.value)
    assert "deadlines.extension_max_months = 3" in str(caught.value)


def test_a_policy_without_extensions_refuses_any() -> None:
    rules = DeadlineRules(extension_max_months=0)
    with pytest.raises(InputError, match="allows no extension"):
        reply_deadline(date(2023, 7, 1), rules, CALENDAR, [ext(1)])


def test_every_problem_with_an_extension_is_listed() -> None:
    bad = [
        Extension(0, " ", "", date(2023, 6, 1)),
        Extension(1, "补充调研", "市政府办公厅", date(2023, 8, 1)),
    ]
    with pytest.raises(InputError) as caught:
        reply_deadline(date(2023, 7, 1), RULES, CALENDAR, bad)
    assert caught.value.problems == [
        "extension 1: months must be at least 1 (got 0)",
        "extension 1: a reason is required",
        "extension 1: the approver (approved_by) is required",
        "extension 1: approved on 2023-06-01, before the assignment on 2023-07-01",
    ]


@pytest.mark.parametrize(
    ("months", "assigned", "due"),
    [
        (1, date(2025, 9, 1), date(2025, 10, 9)),  # 10-01..10-08 国庆节 and 中秋
        (1, date(2025, 8, 31), date(2025, 9, 30)),  # clamped, a Tuesday
        (2, date(2025, 8, 1), date(2025, 10, 9)),  # the cities that allow 2 months
        (2, date(2025, 8, 31), date(2025, 10, 31)),
    ],
)
def test_co_opinion(months: int, assigned: date, due: date) -> None:
    rules = DeadlineRules(co_opinion_months=months)
    deadline = co_opinion_deadline(assigned, rules, CALENDAR)
    assert (deadline.due, deadline.baseline, deadline.rule) == (due, due, "co_opinion")
    assert f"deadlines.co_opinion_months = {months}" in deadline.steps[0]


@pytest.mark.parametrize(
    ("days", "due"),
    [
        (3, date(2025, 9, 30)),
        (5, date(2025, 10, 10)),
        (7, date(2025, 10, 13)),
        (10, date(2025, 10, 16)),
    ],
)
def test_objection_window_across_national_day_2025(days: int, due: date) -> None:
    # From Friday 2025-09-26: 09-28 (make-up Sunday), 09-29, 09-30, then 10-01..10-08 off,
    # 10-09, 10-10, 10-11 (make-up Saturday), 10-13, ...
    rules = DeadlineRules(objection_working_days=days)
    deadline = objection_deadline(date(2025, 9, 26), rules, CALENDAR)
    assert deadline.due == due
    assert deadline.rule == "objection"
    assert "2025-09-28 Sunday, a make-up working day (调休) for 国庆节" in deadline.explain()


def test_objection_explanation_names_the_holidays_skipped() -> None:
    deadline = objection_deadline(date(2022, 9, 29), RULES, CALENDAR)
    assert deadline.due == date(2022, 10, 11)
    text = deadline.explain()
    assert "counted 5 working days after 2022-09-29: 2022-09-30 to 2022-10-11" in text
    assert "2022-10-08 Saturday, a make-up working day (调休) for 国庆节" in text
    assert "2022-10-09 Sunday, a make-up working day (调休) for 国庆节" in text
    assert "skipped 2022-10-01 to 2022-10-07 (国庆节 holiday)" in text


def test_reopen_after_an_unsatisfied_rating() -> None:
    deadline = reopen_deadline(date(2024, 1, 15), "不满意", RULES, CALENDAR)
    assert deadline.due == date(2024, 2, 18)  # 02-15 is 春节; 02-18 the make-up Sunday
    assert deadline.rule == "reopen"
    assert "rated 不满意" in deadline.steps[0]


def test_basically_satisfied_reopens_only_where_configured() -> None:
    with pytest.raises(InputError, match="does not reopen"):
        reopen_deadline(date(2024, 1, 15), "基本满意", RULES, CALENDAR)
    rules = DeadlineRules(reopen_ratings=["不满意", "基本满意"], reopen_months=2)
    assert reopen_deadline(date(2024, 1, 15), "基本满意", rules, CALENDAR).due == date(2024, 3, 15)
    with pytest.raises(InputError, match="unknown rating"):
        reopen_deadline(date(2024, 1, 15), "很满意", rules, CALENDAR)


@pytest.mark.parametrize(
    ("year", "due"),
    [(2022, date(2022, 11, 21)), (2023, date(2023, 11, 20)), (2025, date(2025, 11, 20))],
)
def test_second_reply_and_year_end_check_default_to_20_november(year: int, due: date) -> None:
    second = second_reply_deadline(year, RULES, CALENDAR)
    check = year_end_check_deadline(year, RULES, CALENDAR)
    assert (second.due, check.due) == (due, due)
    assert (second.rule, check.rule) == ("second_reply", "year_end_check")
    assert 'deadlines.year_end_check_by = "11-20"' in check.steps[0]
    assert "B, C" in second.steps[0]


@pytest.mark.parametrize(
    ("roll", "due"),
    [
        ("next_workday", date(2024, 12, 2)),
        ("previous_workday", date(2024, 11, 29)),
        ("keep", date(2024, 11, 30)),
    ],
)
def test_a_fixed_date_on_a_weekend_follows_the_policy(roll: str, due: date) -> None:
    rules = DeadlineRules(year_end_check_by="11-30", due_on_non_working_day=roll)
    deadline = year_end_check_deadline(2024, rules, CALENDAR)  # 2024-11-30 is a Saturday
    assert deadline.due == due
    assert f'deadlines.due_on_non_working_day = "{roll}"' in deadline.explain()


BATCHED = DeadlineRules(
    batches=[
        FixedBatch(
            name="第一批",
            assigned_from=date(2024, 3, 1),
            assigned_to=date(2024, 3, 31),
            reply_due=date(2024, 6, 30),  # a Sunday
            co_opinion_due=date(2024, 5, 31),
        )
    ]
)


def test_a_fixed_batch_deadline_replaces_the_period() -> None:
    inside = reply_deadline(date(2024, 3, 15), BATCHED, CALENDAR)
    assert inside.due == date(2024, 7, 1)
    assert "deadlines.batches[1], 第一批 (2024-03-01 to 2024-03-31)" in inside.steps[0]
    assert co_opinion_deadline(date(2024, 3, 15), BATCHED, CALENDAR).due == date(2024, 5, 31)
    outside = reply_deadline(date(2024, 4, 1), BATCHED, CALENDAR)
    assert outside.due == date(2024, 7, 1)  # 04-01 + 3 months, a Monday, by the period rule
    assert "deadlines.reply_months = 3" in outside.steps[0]
    assert reply_deadline(date(2024, 3, 31), BATCHED, CALENDAR).due == date(2024, 7, 1)
    assert reply_deadline(date(2024, 2, 29), BATCHED, CALENDAR).due == date(2024, 5, 29)


def test_an_extension_adds_to_the_fixed_batch_date() -> None:
    deadline = reply_deadline(date(2024, 3, 15), BATCHED, CALENDAR, [ext(2, on="2024-06-01")])
    assert deadline.baseline == date(2024, 7, 1)
    assert deadline.due == date(2024, 8, 30)
    assert "2024-06-30 + 2 months = 2024-08-30" in deadline.explain()


@UNKNOWN_2027
def test_a_2027_deadline_without_and_with_calendar_corrections() -> None:
    assigned = date(2026, 12, 1)
    plain = co_opinion_deadline(assigned, RULES, CALENDAR)
    assert plain.due == date(2027, 1, 1)  # a Friday: weekends are all that is known
    assert plain.steps[-1].startswith("note: 2027 is outside chinesecalendar")
    assert "weekends only" in plain.steps[-1]

    corrected = WorkCalendar(extra_holidays=[date(2027, 1, 1)])
    deadline = co_opinion_deadline(assigned, RULES, corrected)
    assert deadline.due == date(2027, 1, 4)
    text = deadline.explain()
    assert "2027-01-01 (local holiday in the calendar corrections) and 2 weekend days" in text
    assert "weekends plus the local calendar corrections for 2027 (1 extra holiday" in text


def test_no_note_inside_the_known_years() -> None:
    deadline = reply_deadline(date(2024, 10, 29), RULES, CALENDAR)
    assert not any(step.startswith("note:") for step in deadline.steps)


def test_a_deadline_is_frozen() -> None:
    deadline = reply_deadline(date(2024, 10, 29), RULES, CALENDAR)
    assert isinstance(deadline, Deadline)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deadline.due = date(2030, 1, 1)  # type: ignore[misc]


def test_the_shipped_policy_gives_the_default_reply_deadline() -> None:
    rules = load_policy().deadlines
    assert reply_deadline(date(2023, 7, 1), rules, CALENDAR).due == date(2023, 10, 7)
