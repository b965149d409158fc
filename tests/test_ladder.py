"""The reminder ladder and the office window, pure, on the real 2023–2025 calendars."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from config.policy import LadderPolicy
from tracking.ladder import Stage, current_stage, escalation, in_office_window, next_window
from tracking.workdays import WorkCalendar

CALENDAR = WorkCalendar()
LADDER = LadderPolicy()
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("due", "as_of", "expected"),
    [
        ("2023-05-15", "2023-05-05", None),  # before the first stage
        ("2023-05-15", "2023-05-08", ("before-5", "2023-05-08")),
        ("2023-05-15", "2023-05-14", ("before-5", "2023-05-08")),
        ("2023-05-15", "2023-05-15", ("due", "2023-05-15")),
        ("2023-05-15", "2023-05-17", ("due", "2023-05-15")),
        ("2023-05-15", "2023-05-18", ("overdue-1", "2023-05-18")),
        ("2023-05-15", "2023-05-23", ("overdue-2", "2023-05-23")),
        # Spring Festival 2024 (02-10 to 02-17), with Sunday 02-04 and Sunday 02-18 worked:
        # 5 working days before Thursday 02-22 are 02-21, 02-20, 02-19, Sunday 02-18, 02-09.
        ("2024-02-22", "2024-02-09", ("before-5", "2024-02-09")),
        # National Day 2025 (10-01 to 10-08), Saturday 10-11 worked: 3 working days after
        # Tuesday 09-30 are Thursday 10-09, Friday 10-10 and Saturday 10-11.
        ("2025-09-30", "2025-10-11", ("overdue-1", "2025-10-11")),
        ("2025-09-30", "2025-10-10", ("due", "2025-09-30")),
    ],
)
def test_current_stage(due: str, as_of: str, expected: tuple[str, str] | None) -> None:
    stage = current_stage(date.fromisoformat(due), date.fromisoformat(as_of), LADDER, CALENDAR)
    assert (None if stage is None else (stage.key, stage.on.isoformat())) == expected


def test_several_stages_before() -> None:
    ladder = LadderPolicy(before_due_working_days=(10, 3))
    due = date(2023, 6, 30)
    assert current_stage(due, date(2023, 6, 15), ladder, CALENDAR).key == "before-10"
    assert current_stage(due, date(2023, 6, 27), ladder, CALENDAR).key == "before-3"


@pytest.mark.parametrize(
    ("moment", "is_open", "reason"),
    [
        (datetime(2023, 6, 26, 9, 30), True, ""),
        (datetime(2023, 6, 26, 8, 59), False, "08:59 is outside office hours (09:00–17:30)"),
        (datetime(2023, 6, 26, 17, 30), False, "17:30 is outside office hours (09:00–17:30)"),
        (datetime(2023, 6, 25, 10, 0), True, ""),  # Sunday, a make-up working day for 端午
        (datetime(2023, 6, 22, 10, 0), False, "2023-06-22 端午 holiday is not a working day"),
    ],
)
def test_office_window(moment: datetime, is_open: bool, reason: str) -> None:
    assert in_office_window(moment.replace(tzinfo=ZONE), LADDER, CALENDAR) == (is_open, reason)


@pytest.mark.parametrize(
    ("moment", "opens"),
    [
        (datetime(2023, 6, 26, 8, 0), datetime(2023, 6, 26, 9, 0)),
        (datetime(2023, 6, 21, 18, 0), datetime(2023, 6, 25, 9, 0)),  # past 端午, to the Sunday
        (datetime(2023, 9, 28, 20, 0), datetime(2023, 10, 7, 9, 0)),  # past National Day
        (datetime(2023, 6, 26, 10, 0), datetime(2023, 6, 26, 10, 0)),  # open now
    ],
)
def test_a_held_message_goes_out_at_the_next_opening(moment: datetime, opens: datetime) -> None:
    assert next_window(moment.replace(tzinfo=ZONE), LADDER, CALENDAR) == opens.replace(tzinfo=ZONE)


@pytest.mark.parametrize(
    ("sent_before", "stage_key", "expected"),
    [
        (0, "due", ("liaison",)),
        (5, "before-5", ("liaison",)),  # escalation is for overdue reminders only
        (1, "overdue-2", ("liaison",)),
        (2, "overdue-3", ("liaison", "head")),
        (3, "overdue-4", ("liaison", "head")),
        (4, "overdue-5", ("liaison", "head", "coordinator")),
    ],
)
def test_escalation(sent_before: int, stage_key: str, expected: tuple[str, ...]) -> None:
    overdue = int(stage_key.split("-")[1]) if stage_key.startswith("overdue") else 0
    stage = Stage(stage_key, date(2023, 5, 15), overdue)
    assert escalation(sent_before, stage, LADDER) == expected
