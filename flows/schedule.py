"""The service's jobs: what runs when, defined in code and registered anew at every start.

Each job starts one flow (see :mod:`flows.dispatch`). Its parameters and its key are worked out
when it fires, from the moment it fires: the key names the firing (``chase:2026-12-03``), so a
job fired twice for the same day, week or year is one piece of work.

Every job coalesces missed runs into one and has no misfire grace limit: after downtime a
missed chase runs once, not once per missed day, and a missed year-end compilation still runs,
however late (APScheduler's default grace of 1 s would silently skip it).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.policy import Policy
from config.settings import Settings
from tracking.workdays import WorkCalendar


class WorkdayTrigger(BaseTrigger):
    """Fires at ``at`` local time on each working day of the Chinese calendar (调休 make-up
    Saturdays included, holidays skipped), with the policy's local corrections."""

    def __init__(
        self,
        at: time,
        zone: str,
        extra_holidays: tuple[date, ...] = (),
        extra_workdays: tuple[date, ...] = (),
    ) -> None:
        self.at = at
        self.zone = zone
        self.extra_holidays = tuple(sorted(extra_holidays))
        self.extra_workdays = tuple(sorted(extra_workdays))
        self._calendar: WorkCalendar | None = None

    @property
    def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            self._calendar = WorkCalendar(self.extra_holidays, self.extra_workdays)
        return self._calendar

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        zone = ZoneInfo(self.zone)
        # After a fire, the next one is strictly later; before any, now itself may fire.
        start = previous_fire_time + timedelta(seconds=1) if previous_fire_time else now
        start = start.astimezone(zone)
        day = start.date()
        for _ in range(400):  # the longest holiday run is far shorter than a year
            candidate = datetime.combine(day, self.at, tzinfo=zone)
            if candidate >= start and self.calendar.is_workday(day):
                return candidate
            day += timedelta(days=1)
        return None

    def __getstate__(self) -> dict[str, Any]:
        # Stored in the job store: the settings only, not the calendar's cache.
        return {
            "version": 1,
            "at": self.at,
            "zone": self.zone,
            "extra_holidays": self.extra_holidays,
            "extra_workdays": self.extra_workdays,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["at"], state["zone"], state["extra_holidays"], state["extra_workdays"]
        )

    def __str__(self) -> str:
        return f"working days at {self.at:%H:%M}"

    def __repr__(self) -> str:
        return (
            f"<WorkdayTrigger (at='{self.at:%H:%M}', zone='{self.zone}', "
            f"extra_holidays={[d.isoformat() for d in self.extra_holidays]}, "
            f"extra_workdays={[d.isoformat() for d in self.extra_workdays]})>"
        )


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: when it fires, which flow it starts and with what."""

    name: str
    description: str
    flow: str
    trigger: BaseTrigger
    parameters: Callable[[datetime], dict[str, Any]]
    key: Callable[[datetime], str]
    #: Fires only in the office window (``tracking.ladder.in_office_window``): outside it the
    #: job records why and starts no flow, so no flow run (on a server, a worker's process) is
    #: created just to find the office closed.
    only_in_office_hours: bool = False

    @property
    def when(self) -> str:
        """The schedule in words, for ``duban jobs``."""
        return describe_trigger(self.trigger)


def job_specs(settings: Settings, policy: Policy) -> list[JobSpec]:
    """Every job of the service, from the settings and the policy."""
    zone = settings.timezone
    weekday = settings.weekly_digest_day
    compile_month, compile_day = (int(part) for part in settings.compile_on.split("-"))
    check_month, check_day = _day_after(policy.deadlines.year_end_check_by)
    retry = settings.retry_every_minutes

    def compiled_year(now: datetime) -> int:
        # The year of the compilation day nearest to the firing: a run made up after downtime
        # across New Year still compiles the old year, and a run by hand a few days early
        # compiles this one. A day in January to June compiles the year before it.
        year = _year_of_nearest(compile_month, compile_day, now.date())
        return year if compile_month >= 7 else year - 1

    def checked_year(now: datetime) -> int:
        # The year whose 回头看 deadline this firing follows (the day after it, or later).
        deadline_month, deadline_day = _month_day(policy.deadlines.year_end_check_by)
        return _year_of_last(deadline_month, deadline_day, now.date() - timedelta(days=1))

    return [
        JobSpec(
            name="chase",
            description="Remind units of what they owe (the reminder ladder)",
            flow="chase",
            trigger=WorkdayTrigger(
                settings.chase_at,
                zone,
                policy.calendar.extra_holidays,
                policy.calendar.extra_workdays,
            ),
            parameters=lambda now: {"as_of": now.date().isoformat(), "now": now.isoformat()},
            key=lambda now: f"chase:{now.date().isoformat()}",
        ),
        JobSpec(
            name="retry",
            description="Retry deliveries that failed (in office hours)",
            flow="retry",
            # A fixed start keeps the slots on the clock (:00, :15, ...) across restarts, and
            # the trigger equal to the stored one, so a restart does not reschedule it.
            trigger=IntervalTrigger(
                minutes=retry, start_date=datetime(2000, 1, 1, tzinfo=ZoneInfo(zone)), timezone=zone
            ),
            parameters=lambda now: {"now": now.isoformat()},
            key=lambda now: f"retry:{_floor(now, retry):%Y-%m-%dT%H:%M}",
            only_in_office_hours=True,
        ),
        JobSpec(
            name="weekly",
            description="The coordinator's weekly digest: what is overdue, who replied",
            flow="weekly",
            trigger=CronTrigger(
                day_of_week=weekday,
                hour=settings.weekly_digest_at.hour,
                minute=settings.weekly_digest_at.minute,
                timezone=zone,
            ),
            parameters=lambda now: {"as_of": now.date().isoformat(), "now": now.isoformat()},
            key=lambda now: "weekly:{}-W{:02d}".format(*now.isocalendar()[:2]),
        ),
        JobSpec(
            name="lookback",
            description="The 回头看 check: items still owing it after its deadline",
            flow="lookback",
            trigger=CronTrigger(month=check_month, day=check_day, hour=9, minute=0, timezone=zone),
            parameters=lambda now: {"year": checked_year(now), "now": now.isoformat()},
            key=lambda now: f"lookback:{checked_year(now)}",
        ),
        JobSpec(
            name="year-end",
            description="Compile the year's summary table and mail it to the coordinator",
            flow="year-end",
            trigger=CronTrigger(
                month=compile_month,
                day=compile_day,
                hour=settings.compile_at.hour,
                minute=settings.compile_at.minute,
                timezone=zone,
            ),
            parameters=lambda now: {
                "year": compiled_year(now),
                # Absolute: a worker elsewhere (another working directory) writes it.
                "out_dir": str((settings.resolved_compile_dir / str(compiled_year(now))).resolve()),
                "now": now.isoformat(),
            },
            key=lambda now: f"year-end:{compiled_year(now)}",
        ),
    ]


def find_spec(specs: list[JobSpec], name: str) -> JobSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    names = ", ".join(spec.name for spec in specs)
    raise KeyError(f"no job named {name!r}; the jobs are: {names}")


def describe_trigger(trigger: BaseTrigger) -> str:
    if isinstance(trigger, IntervalTrigger):
        return f"every {int(trigger.interval.total_seconds() // 60)} minutes"
    if isinstance(trigger, CronTrigger):
        fields = {field.name: str(field) for field in trigger.fields}
        clock = f"{int(fields['hour']):02d}:{int(fields['minute']):02d}"
        if fields["day_of_week"] != "*":
            return f"every {fields['day_of_week']} at {clock}"
        return f"every year on {int(fields['month']):02d}-{int(fields['day']):02d} at {clock}"
    return str(trigger)


def _month_day(value: str) -> tuple[int, int]:
    month, day = (int(part) for part in value.split("-"))
    return month, day


def _year_of_last(month: int, day: int, on: date) -> int:
    """The year of the latest ``month``-``day`` on or before ``on``."""
    return on.year if (on.month, on.day) >= (month, day) else on.year - 1


def _year_of_nearest(month: int, day: int, on: date) -> int:
    """The year of the ``month``-``day`` nearest to ``on``, before or after it."""
    return min(
        (on.year - 1, on.year, on.year + 1),
        key=lambda year: abs((date(year, month, day) - on).days),
    )


def _day_after(month_day: str) -> tuple[int, int]:
    month, day = _month_day(month_day)
    after = date(2023, month, day) + timedelta(days=1)
    return after.month, after.day


def _floor(moment: datetime, minutes: int) -> datetime:
    """The start of the ``minutes``-long slot ``moment`` falls in, counted from midnight."""
    since_midnight = moment.hour * 60 + moment.minute
    start = since_midnight - since_midnight % minutes
    return moment.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)
