"""What the coordinator reads: the week's overview, and the 回头看 check after its deadline.

Both are plain data built from the records as of a date; rendering and sending are elsewhere.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session, func, select

from config.policy import Policy
from tracking.chase import OpenObligation, collect_obligations
from tracking.models import FollowUpItem, ProgressUpdate, Proposal, Unit
from tracking.obligations import LABELS, Obligation
from tracking.workdays import WorkCalendar
from tracking.workflow import ITEM_LABELS

UPDATE_LABELS = {"progress": "落实进展", "reply": "答复", "final": "最终落实情况"}


@dataclass(frozen=True)
class OverdueLine:
    unit: str
    number: str
    title: str
    obligation: str
    due: date
    overdue_workdays: int


@dataclass(frozen=True)
class ReportLine:
    unit: str
    number: str
    kind: str
    reported_on: date


@dataclass
class WeeklyOverview:
    as_of: date
    since: date
    status_counts: list[tuple[str, int]] = field(default_factory=list)
    overdue: list[OverdueLine] = field(default_factory=list)
    reports: list[ReportLine] = field(default_factory=list)
    silent_units: list[str] = field(default_factory=list)  # overdue, and nothing this week

    @property
    def overdue_count(self) -> int:
        """Overdue items counted once per unit, however many obligations each has overdue
        (as the dashboard counts them)."""
        return len({(line.unit, line.number) for line in self.overdue})

    @property
    def overdue_units(self) -> list[tuple[str, int]]:
        """Units with overdue items, most first, each item counted once."""
        items = {(line.unit, line.number) for line in self.overdue}
        return Counter(unit for unit, _ in items).most_common()


@dataclass
class LookbackCheck:
    year: int
    as_of: date
    missing: list[OverdueLine] = field(default_factory=list)


def weekly_overview(
    session: Session,
    *,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
    days: int = 7,
) -> WeeklyOverview:
    """Items by status, what is overdue on ``as_of`` by unit, and who reported in the ``days``
    before it."""
    since = as_of - timedelta(days=days)
    overview = WeeklyOverview(as_of=as_of, since=since)
    counts = dict(
        session.exec(select(FollowUpItem.status, func.count()).group_by(FollowUpItem.status)).all()
    )
    overview.status_counts = [
        (label, counts[status]) for status, label in ITEM_LABELS.items() if counts.get(status)
    ]
    open_obligations = collect_obligations(
        session, as_of=as_of, policy=policy, calendar=calendar, interval_days=interval_days
    )
    overview.overdue = [
        _overdue_line(o, as_of, calendar) for o in open_obligations if o.deadline.due < as_of
    ]
    rows = session.exec(
        select(ProgressUpdate, Unit.name, Proposal.number)
        .join(Unit, ProgressUpdate.unit_id == Unit.id)
        .join(FollowUpItem, ProgressUpdate.item_id == FollowUpItem.id)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(ProgressUpdate.reported_on >= since, ProgressUpdate.reported_on <= as_of)
        .order_by(ProgressUpdate.reported_on, ProgressUpdate.id)
    ).all()
    overview.reports = [
        ReportLine(name, number, UPDATE_LABELS.get(update.kind, update.kind), update.reported_on)
        for update, name, number in rows
    ]
    reported = {line.unit for line in overview.reports}
    overview.silent_units = [unit for unit, _ in overview.overdue_units if unit not in reported]
    return overview


def lookback_check(
    session: Session,
    *,
    year: int,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
) -> LookbackCheck:
    """The items of ``year`` whose 回头看 is still owed on ``as_of``."""
    check = LookbackCheck(year=year, as_of=as_of)
    check.missing = [
        _overdue_line(o, as_of, calendar)
        for o in collect_obligations(
            session, as_of=as_of, policy=policy, calendar=calendar, interval_days=interval_days
        )
        if o.obligation == Obligation.YEAR_END_CHECK and o.year == year
    ]
    return check


def _overdue_line(obligation: OpenObligation, as_of: date, calendar: WorkCalendar) -> OverdueLine:
    due = obligation.deadline.due
    return OverdueLine(
        unit=obligation.unit_name,
        number=obligation.number,
        title=obligation.title,
        obligation=LABELS[obligation.obligation],
        due=due,
        overdue_workdays=calendar.workdays_between(due, as_of) if due < as_of else 0,
    )
