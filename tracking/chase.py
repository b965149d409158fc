"""Planning a chase: every obligation's reminder stage as of a date, decided and grouped into one
digest per recipient.

Each decision carries the rule that made it, so that ``duban plan`` and ``duban why`` can say
why a reminder went out or did not. The ledger is consulted so that a stage already reminded is
not reminded again, and a re-plan after a run shows what a run would still send.
"""

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from sqlalchemy import Row, func
from sqlmodel import Session, select

from config.policy import Policy
from tracking.deadlines import Deadline
from tracking.deadlines import Extension as DeadlineExtension
from tracking.errors import TrackingError
from tracking.handling import is_paused
from tracking.ladder import Stage, current_stage, escalation, in_office_window, next_window
from tracking.models import (
    Assignment,
    AssignmentStatus,
    DeliveryStatus,
    Extension,
    FollowUpItem,
    ItemStatus,
    Notification,
    ProgressUpdate,
    Proposal,
    ReminderLog,
    Role,
    Unit,
    UpdateKind,
)
from tracking.obligations import LABELS, ItemFacts, Obligation, owed
from tracking.rules import is_open_on
from tracking.workdays import WorkCalendar

LIAISON, DEPUTY, HEAD, COORDINATOR = "liaison", "deputy", "head", "coordinator"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a digest: an item, what is owed on it, by when, at which stage."""

    assignment_id: int
    unit_id: int
    unit_name: str
    item_id: int
    obligation: Obligation
    due: date
    stage: Stage
    role: str
    category: str
    number: str
    title: str
    lead_representative: str
    commitment: str
    lead_unit: str
    co_units: tuple[str, ...]
    last_reported_on: date | None
    overdue_workdays: int
    days_left: int  # working days from the run to the due date (0 on it and after)
    audiences: tuple[str, ...] = (LIAISON,)

    @property
    def obligation_label(self) -> str:
        return LABELS[self.obligation]


@dataclass(frozen=True, slots=True)
class Decision:
    """A stage that was reached but not sent, and why: skipped (for good) or held (till later)."""

    entry: Entry
    decision: str  # "skipped" or "held"
    rule: str


@dataclass(frozen=True, slots=True)
class Digest:
    """One message: everything one recipient is reminded of in this run."""

    audience: str
    unit_id: int | None  # None for the coordinator's digest
    unit_name: str
    recipients: tuple[str, ...]
    entries: tuple[Entry, ...]
    key: str


@dataclass
class ChasePlan:
    as_of: date
    digests: list[Digest] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    held_until: datetime | None = None
    problems: list[str] = field(default_factory=list)  # items whose deadlines cannot be computed


def digest_key(audience: str, unit_id: int | None, as_of: date) -> str:
    """One digest per recipient and day: a second run that day finds the key and sends nothing."""
    if audience == LIAISON:
        return f"digest:{unit_id}:{as_of.isoformat()}"
    if audience == COORDINATOR:
        return f"digest-coordinator:{as_of.isoformat()}"
    return f"digest-{audience}:{unit_id}:{as_of.isoformat()}"


def plan_chase(
    session: Session,
    *,
    as_of: date,
    now: datetime,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
) -> ChasePlan:
    """Decide every reminder due on ``as_of``. ``now`` (local time) decides the office window."""
    plan = ChasePlan(as_of=as_of)
    entries = _reached_stages(
        session,
        as_of=as_of,
        policy=policy,
        calendar=calendar,
        interval_days=interval_days,
        problems=plan.problems,
    )
    if not entries:
        return plan
    history = _ReminderHistory.load(session, {e.assignment_id for e in entries}, as_of)
    pause = is_paused(session)
    units = {unit.id: unit for unit in session.exec(select(Unit))}
    window_open, window_reason = in_office_window(now, policy.ladder, calendar)

    sendable: list[Entry] = []
    for entry in entries:
        key = (entry.assignment_id, entry.obligation, entry.due)
        if history.in_hand(key, entry.stage.key):
            continue
        unit = units[entry.unit_id]
        last_reminder = history.last_delivered_on(key)
        reported = entry.last_reported_on  # the unit's last report on or before as_of
        if pause is not None:
            rule = f"reminders are paused by {pause.changed_by}: {pause.reason or 'no reason'}"
            plan.decisions.append(Decision(entry, "skipped", rule))
        elif not unit.emails and not unit.deputy_email:
            rule = f"{unit.name} has no e-mail on file (see `duban units check`)"
            plan.decisions.append(Decision(entry, "skipped", rule))
        elif unit.snoozed_until is not None and unit.snoozed_until >= as_of:
            rule = f"{unit.name} is snoozed until {unit.snoozed_until}: {unit.snooze_reason}"
            plan.decisions.append(Decision(entry, "skipped", rule))
        elif (
            entry.obligation != Obligation.PROGRESS
            and last_reminder is not None
            and reported is not None
            and reported > last_reminder
            and (as_of - reported).days < interval_days
        ):
            # The unit answered the last reminder; it is left alone while its answer is recent
            # (a report period), after which the ladder takes it up again.
            rule = f"{unit.name} reported on {reported}, after the last reminder on {last_reminder}"
            plan.decisions.append(Decision(entry, "skipped", rule))
        elif not window_open:
            plan.held_until = next_window(now, policy.ladder, calendar)
            rule = (
                f"held: {window_reason}; it goes out with the first run after "
                f"{plan.held_until:%Y-%m-%d %H:%M}"
            )
            plan.decisions.append(Decision(entry, "held", rule))
        else:
            audiences = escalation(history.overdue_delivered(key), entry.stage, policy.ladder)
            sendable.append(_with_audiences(entry, audiences))
    plan.digests = _group(sendable, units, policy, as_of)
    return plan


def _with_audiences(entry: Entry, audiences: tuple[str, ...]) -> Entry:
    return replace(entry, audiences=audiences)


def _group(
    entries: list[Entry], units: dict[int | None, Unit], policy: Policy, as_of: date
) -> list[Digest]:
    grouped: dict[tuple[str, int | None], list[Entry]] = defaultdict(list)
    for entry in entries:
        for audience in entry.audiences:
            unit_id = None if audience == COORDINATOR else entry.unit_id
            grouped[(audience, unit_id)].append(entry)
    digests = []
    order = {LIAISON: 0, HEAD: 1, COORDINATOR: 2}
    for (audience, unit_id), items in sorted(
        grouped.items(),
        key=lambda pair: (order[pair[0][0]], units[pair[0][1]].name if pair[0][1] else ""),
    ):
        if audience == COORDINATOR:
            recipients, name = tuple(policy.ladder.coordinator_emails), "督办工作负责人"
        else:
            unit = units[unit_id]
            name = unit.name
            if audience == LIAISON:  # no liaison on file: the deputy stands in
                recipients = tuple(unit.emails) or (unit.deputy_email,)  # type: ignore[assignment]
            else:
                recipients = (unit.head_email,) if unit.head_email else ()
        if audience != LIAISON and not recipients:
            continue  # no head or coordinator address configured: the liaison's digest stands
        digests.append(
            Digest(
                audience=audience,
                unit_id=unit_id,
                unit_name=name,
                recipients=recipients,
                entries=tuple(items),
                key=digest_key(audience, unit_id, as_of),
            )
        )
    return digests


@dataclass(frozen=True, slots=True)
class OpenObligation:
    """An obligation of one assignment, with the facts a reminder or a listing shows.

    Plain values, not records: a chase holds one per open obligation of the year (175,000 at
    50,000 items), and the strings of an item are shared by all its obligations."""

    assignment_id: int
    unit_id: int
    unit_name: str
    role: str
    item_id: int
    commitment: str
    year: int
    category: str
    number: str
    title: str
    lead_representative: str
    lead_unit: str
    co_units: tuple[str, ...]
    last_reported_on: date | None
    obligation: Obligation
    deadline: Deadline


_GONE = (AssignmentStatus.RETURNED, AssignmentStatus.REASSIGNED)


def collect_obligations(
    session: Session,
    *,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
    problems: list[str] | None = None,
    unit_id: int | None = None,
    item_ids: Collection[int] | None = None,
) -> list[OpenObligation]:
    """Every obligation open on ``as_of``, in the order of the year's table: of one unit's
    assignments with ``unit_id``, on the given items with ``item_ids``. Items whose deadlines
    cannot be computed are left out and described in ``problems``."""
    problems = [] if problems is None else problems
    items_query = (
        select(
            FollowUpItem.id,
            FollowUpItem.status,
            FollowUpItem.closed_on,
            FollowUpItem.assigned_on,
            FollowUpItem.reply_class,
            FollowUpItem.replied_on,
            FollowUpItem.rating,
            FollowUpItem.rated_on,
            FollowUpItem.commitment,
            Proposal.year,
            Proposal.category,
            Proposal.number,
            Proposal.title,
            Proposal.lead_representative,
        )
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .order_by(Proposal.year, FollowUpItem.position, FollowUpItem.id)
    )
    assignments_query = (
        select(
            Assignment.id,
            Assignment.item_id,
            Assignment.unit_id,
            Assignment.role,
            Assignment.status,
        )
        .where(Assignment.status.not_in(_GONE))  # type: ignore[attr-defined]
        .order_by(Assignment.id)
    )
    # The lead's and co units' names need every assignment of an item, not only the unit's.
    if unit_id is not None:
        of_unit = select(Assignment.item_id).where(Assignment.unit_id == unit_id)
        items_query = items_query.where(FollowUpItem.id.in_(of_unit))  # type: ignore[union-attr]
        assignments_query = assignments_query.where(Assignment.item_id.in_(of_unit))  # type: ignore[attr-defined]
    if item_ids is not None:
        wanted = sorted(item_ids)
        items_query = items_query.where(FollowUpItem.id.in_(wanted))  # type: ignore[union-attr]
        assignments_query = assignments_query.where(Assignment.item_id.in_(wanted))  # type: ignore[attr-defined]
    items = [
        item
        for item in session.exec(items_query)
        if item.status != ItemStatus.RESOLVED or is_open_on(item.closed_on, as_of)
    ]
    if not items:
        return []
    units = dict(session.exec(select(Unit.id, Unit.name)).all())
    of_item: dict[int, list[Row]] = defaultdict(list)
    lead_of: dict[int, str] = {}
    co_of: dict[int, list[str]] = defaultdict(list)
    for assignment in session.exec(assignments_query):
        of_item[assignment.item_id].append(assignment)
        if assignment.role == Role.LEAD:
            lead_of[assignment.item_id] = units[assignment.unit_id]
        else:
            co_of[assignment.item_id].append(units[assignment.unit_id])
    last_reports = _report_dates(session, as_of)
    extensions: dict[int, list[DeadlineExtension]] = defaultdict(list)
    for extension in session.exec(select(Extension).where(Extension.approved_on <= as_of)):
        extensions[extension.item_id].append(
            DeadlineExtension(
                extension.months, extension.reason, extension.approved_by, extension.approved_on
            )
        )
    replies = dict(
        session.exec(
            select(ProgressUpdate.item_id, func.count())
            .where(ProgressUpdate.kind == UpdateKind.REPLY, ProgressUpdate.reported_on <= as_of)
            .group_by(ProgressUpdate.item_id)
        ).all()
    )

    # Most assignments share their facts (a year imported at once: all of them), and the rules
    # are pure: each distinct set of facts is worked out once, keyed by the raw values before
    # any record of them is built, and its deadlines are shared.
    worked_out: dict[tuple, list[tuple[Obligation, Deadline]]] = {}
    found = []
    for item in items:
        resolved_later = item.status == ItemStatus.RESOLVED  # after as_of: still followed then
        item_extensions = tuple(
            # An extension approved before a reassignment restarted the periods no longer applies.
            e
            for e in extensions.get(item.id, ())
            if item.assigned_on is None or e.approved_on >= item.assigned_on
        )
        item_facts = (
            item.year,
            ItemStatus.FOLLOWING if resolved_later else item.status,
            item.assigned_on,
            item.reply_class,
            item.replied_on,
            replies.get(item.id, 0),
            item.rating,
            item.rated_on,
            item_extensions,
        )
        lead_unit, co_units = lead_of.get(item.id, ""), tuple(co_of.get(item.id, ()))
        for assignment in of_item.get(item.id, ()):
            if unit_id is not None and assignment.unit_id != unit_id:
                continue
            last = last_reports.get((item.id, assignment.unit_id))
            status = AssignmentStatus.HANDLING if resolved_later else assignment.status
            key = (item_facts, assignment.role, status, last)
            obligations = worked_out.get(key)
            if obligations is None:
                (
                    year,
                    item_status,
                    assigned_on,
                    reply_class,
                    replied_on,
                    replied,
                    rating,
                    rated_on,
                    _,
                ) = item_facts
                facts = ItemFacts(
                    year=year,
                    status=ItemStatus(item_status),
                    role=Role(assignment.role),
                    assignment_status=AssignmentStatus(status),
                    assigned_on=assigned_on,
                    reply_class=reply_class,
                    replied_on=replied_on,
                    reply_count=replied,
                    rating=rating,
                    rated_on=rated_on,
                    last_reported_on=last,
                    extensions=item_extensions,
                )
                try:
                    obligations = owed(
                        facts, policy=policy, calendar=calendar, interval_days=interval_days
                    )
                except TrackingError as exc:
                    # One item's inconsistent facts (e.g. extensions past a lowered cap) must
                    # not stop the chase of every other item; the problem is reported on it.
                    problems.append(f"item {item.id}: {exc}")
                    continue
                worked_out[key] = obligations
            for obligation, deadline in obligations:
                found.append(
                    OpenObligation(
                        assignment_id=assignment.id,
                        unit_id=assignment.unit_id,
                        unit_name=units[assignment.unit_id],
                        role=assignment.role,
                        item_id=item.id,
                        commitment=item.commitment,
                        year=item.year,
                        category=item.category,
                        number=item.number,
                        title=item.title,
                        lead_representative=item.lead_representative,
                        lead_unit=lead_unit,
                        co_units=co_units,
                        last_reported_on=last,
                        obligation=obligation,
                        deadline=deadline,
                    )
                )
    return found


def _reached_stages(
    session: Session,
    *,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
    problems: list[str],
) -> list[Entry]:
    """Every open obligation whose reminder ladder has reached a stage on ``as_of``."""
    entries = []
    stages: dict[date, Stage | None] = {}  # by due date: the same for every obligation
    for found in collect_obligations(
        session,
        as_of=as_of,
        policy=policy,
        calendar=calendar,
        interval_days=interval_days,
        problems=problems,
    ):
        due = found.deadline.due
        if due not in stages:
            stages[due] = current_stage(due, as_of, policy.ladder, calendar)
        stage = stages[due]
        if stage is None:
            continue
        entries.append(
            Entry(
                assignment_id=found.assignment_id,
                unit_id=found.unit_id,
                unit_name=found.unit_name,
                item_id=found.item_id,
                obligation=found.obligation,
                due=due,
                stage=stage,
                role=found.role,
                category=found.category,
                number=found.number,
                title=found.title,
                lead_representative=found.lead_representative,
                commitment=found.commitment,
                lead_unit=found.lead_unit,
                co_units=found.co_units,
                last_reported_on=found.last_reported_on,
                overdue_workdays=calendar.workdays_between(due, as_of) if as_of > due else 0,
                days_left=calendar.workdays_between(as_of, due) if as_of < due else 0,
            )
        )
    return entries


def _report_dates(session: Session, as_of: date) -> dict[tuple[int, int], date]:
    """Each unit's last report on each item, on or before ``as_of`` (later ones are not seen)."""
    return {
        (item_id, unit_id): last
        for item_id, unit_id, last in session.exec(
            select(
                ProgressUpdate.item_id, ProgressUpdate.unit_id, func.max(ProgressUpdate.reported_on)
            )
            .where(ProgressUpdate.reported_on <= as_of)
            .group_by(ProgressUpdate.item_id, ProgressUpdate.unit_id)
        )
    }


@dataclass
class _ReminderHistory:
    """The reminders already sent to liaisons, by (assignment, obligation, due date)."""

    delivered: dict[tuple[int, str, date], dict[str, date]]
    in_flight: set[tuple[int, str, date, str]]

    @classmethod
    def load(cls, session: Session, assignment_ids: set[int], as_of: date) -> "_ReminderHistory":
        delivered: dict[tuple[int, str, date], dict[str, date]] = defaultdict(dict)
        in_flight: set[tuple[int, str, date, str]] = set()
        # Columns, not records: the notifications hold the messages' bodies (megabytes each
        # at tens of thousands of items), and a year of chases leaves many log rows.
        rows = session.exec(
            select(
                ReminderLog.assignment_id,
                ReminderLog.obligation,
                ReminderLog.due,
                ReminderLog.stage,
                ReminderLog.run_on,
                Notification.status,
                Notification.permanent_failure,
            )
            .join(Notification, ReminderLog.notification_id == Notification.id)
            .where(ReminderLog.decision == "sent", ReminderLog.audience == LIAISON)
        )
        for assignment_id, obligation, due, stage, run_on, status, permanent_failure in rows:
            if assignment_id not in assignment_ids:
                continue
            key = (assignment_id, obligation, due)
            if status == DeliveryStatus.SENT or permanent_failure:
                delivered[key].setdefault(stage, run_on)
            elif status != DeliveryStatus.SUPERSEDED and run_on == as_of:
                in_flight.add((*key, stage))
        return cls(delivered, in_flight)

    def in_hand(self, key: tuple[int, str, date], stage: str) -> bool:
        """Sent already, or written today and still being delivered."""
        return stage in self.delivered.get(key, {}) or (*key, stage) in self.in_flight

    def last_delivered_on(self, key: tuple[int, str, date]) -> date | None:
        days = self.delivered.get(key, {}).values()
        return max(days, default=None)

    def overdue_delivered(self, key: tuple[int, str, date]) -> int:
        return sum(stage.startswith("overdue-") for stage in self.delivered.get(key, {}))
