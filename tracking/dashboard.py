"""What the coordinator's pages read: the dashboard, an item's deadlines and its whole timeline.

Plain data built from the records as of a date; the rules are those of tracking.overview,
tracking.chase (collect_obligations) and tracking.deadlines, reused rather than restated.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, func, select

from config.policy import Policy
from tracking.chase import OpenObligation, collect_obligations
from tracking.deadlines import Deadline, objection_deadline, reply_deadline
from tracking.deadlines import Extension as DeadlineExtension
from tracking.errors import TrackingError
from tracking.handling import is_paused
from tracking.items import item_history
from tracking.models import (
    Assignment,
    ChasePause,
    Event,
    Extension,
    FollowUpItem,
    ItemStatus,
    Notification,
    ProgressUpdate,
    Proposal,
    ReminderLog,
    Role,
    Unit,
    UpdateSource,
)
from tracking.obligations import LABELS, Obligation
from tracking.overview import UPDATE_LABELS
from tracking.workdays import WorkCalendar
from tracking.workflow import ASSIGNMENT_LABELS, ITEM_LABELS, ROLE_LABELS, is_open

DECISION_LABELS = {"sent": "已发送", "held": "暂缓", "skipped": "未发送"}
DELIVERY_LABELS = {
    "pending": "待发送",
    "sent": "已送达",
    "failed": "发送失败",
    "superseded": "已被替代",
}
AUDIENCE_LABELS = {
    "liaison": "联络员",
    "deputy": "备用联系人",
    "head": "单位负责人",
    "coordinator": "督办负责人",
}
SOURCE_LABELS = {"cli": "命令行", "import": "导入", "web": "网页填报", "spreadsheet": "表格回传"}
_REPLY_OBLIGATIONS = {Obligation.REPLY, Obligation.CO_OPINION, Obligation.REOPEN_REPLY}


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class UnitOwing:
    """A unit that still owes something (a reply, an opinion, a report) as of the day."""

    unit: str
    items: int  # items on which it owes something
    owes_reply: int  # items on which it owes a reply or written opinion (答复, 协办意见, 重新办理)
    overdue_items: int  # items with something overdue
    overdue: int  # overdue obligations (an item may owe a report and the 回头看)
    most_overdue_workdays: int
    earliest_due: date
    last_reported_on: date | None


@dataclass(frozen=True)
class UnitLatency:
    """How long a lead unit took to reply: calendar days from 交办 to 答复."""

    unit: str
    replied: int
    median_days: float | None
    average_days: float | None
    longest_days: int | None
    waiting: int  # items it leads that are assigned, open and not yet replied


@dataclass(frozen=True)
class Submission:
    update_id: int
    recorded_at: datetime
    reported_on: date
    unit: str
    item_id: int
    number: str
    title: str
    kind: str
    claim: str | None
    text: str
    attachment_name: str | None


@dataclass
class Dashboard:
    as_of: date
    status_counts: list[StatusCount] = field(default_factory=list)
    owing: list[UnitOwing] = field(default_factory=list)
    latency: list[UnitLatency] = field(default_factory=list)
    overall_latency: UnitLatency | None = None
    web_submissions: list[Submission] = field(default_factory=list)
    pause: ChasePause | None = None

    @property
    def total(self) -> int:
        return sum(count.count for count in self.status_counts)

    @property
    def overdue_units(self) -> list[UnitOwing]:
        """Units with something overdue, most overdue items first."""
        rows = [row for row in self.owing if row.overdue_items]
        return sorted(rows, key=lambda row: (-row.overdue_items, -row.most_overdue_workdays))


def build_dashboard(
    session: Session,
    *,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
    submissions: int = 20,
) -> Dashboard:
    """Items by status, what is overdue by unit, who still owes a reply or report, how long
    replies took, and the latest reports units made on the web pages."""
    board = Dashboard(as_of=as_of, pause=is_paused(session))
    counts = dict(
        session.exec(select(FollowUpItem.status, func.count()).group_by(FollowUpItem.status)).all()
    )
    board.status_counts = [
        StatusCount(status.value, label, counts.get(status, 0))
        for status, label in ITEM_LABELS.items()
    ]
    board.owing = owing_units(
        session, as_of=as_of, policy=policy, calendar=calendar, interval_days=interval_days
    )
    board.latency, board.overall_latency = reply_latency(session)
    board.web_submissions = recent_submissions(session, limit=submissions)
    return board


def owing_units(
    session: Session, *, as_of: date, policy: Policy, calendar: WorkCalendar, interval_days: int
) -> list[UnitOwing]:
    """Units with open obligations on ``as_of``: most overdue first, then the earliest due."""
    grouped: dict[str, list[OpenObligation]] = defaultdict(list)
    for found in collect_obligations(
        session, as_of=as_of, policy=policy, calendar=calendar, interval_days=interval_days
    ):
        grouped[found.unit_name].append(found)
    rows = []
    for unit, found in grouped.items():
        reported = [o.last_reported_on for o in found if o.last_reported_on is not None]
        late = [o for o in found if o.deadline.due < as_of]
        earliest = min(o.deadline.due for o in found)
        rows.append(
            UnitOwing(
                unit=unit,
                items=len({o.item_id for o in found}),
                owes_reply=len({o.item_id for o in found if o.obligation in _REPLY_OBLIGATIONS}),
                overdue_items=len({o.item_id for o in late}),
                overdue=len(late),
                most_overdue_workdays=(
                    calendar.workdays_between(earliest, as_of) if earliest < as_of else 0
                ),
                earliest_due=earliest,
                last_reported_on=max(reported) if reported else None,
            )
        )
    return sorted(rows, key=lambda row: (-row.overdue_items, row.earliest_due, row.unit))


def reply_latency(session: Session) -> tuple[list[UnitLatency], UnitLatency | None]:
    """Per lead unit (the unit that leads the item now), and over all: days from 交办 to 答复."""
    rows = session.exec(
        select(FollowUpItem, Unit.name)
        .join(Assignment, Assignment.item_id == FollowUpItem.id)
        .join(Unit, Assignment.unit_id == Unit.id)
        .where(Assignment.role == Role.LEAD, Assignment.status != "reassigned")
        .where(FollowUpItem.assigned_on.is_not(None))  # type: ignore[union-attr]
    ).all()
    days: dict[str, list[int]] = defaultdict(list)
    waiting: dict[str, int] = defaultdict(int)
    for item, unit in rows:
        if item.replied_on is not None and item.replied_on >= item.assigned_on:  # type: ignore[operator]
            days[unit].append((item.replied_on - item.assigned_on).days)  # type: ignore[operator]
        elif item.replied_on is None and is_open(item) and item.status != ItemStatus.RETURNED:
            waiting[unit] += 1
    units = sorted(set(days) | set(waiting))
    per_unit = [_latency(unit, days.get(unit, []), waiting.get(unit, 0)) for unit in units]
    per_unit.sort(key=lambda row: (-(row.median_days or -1), row.unit))
    if not units:
        return [], None
    everything = [d for unit in units for d in days.get(unit, [])]
    return per_unit, _latency("全部", everything, sum(waiting.values()))


def _latency(unit: str, days: list[int], waiting: int) -> UnitLatency:
    if not days:
        return UnitLatency(unit, 0, None, None, None, waiting)
    return UnitLatency(
        unit=unit,
        replied=len(days),
        median_days=float(statistics.median(days)),
        average_days=round(statistics.fmean(days), 1),
        longest_days=max(days),
        waiting=waiting,
    )


def recent_submissions(session: Session, *, limit: int = 20) -> list[Submission]:
    """The latest reports made through the units' web pages, newest first."""
    rows = session.exec(
        select(ProgressUpdate, Unit.name, Proposal.number, Proposal.title)
        .join(Unit, ProgressUpdate.unit_id == Unit.id)
        .join(FollowUpItem, ProgressUpdate.item_id == FollowUpItem.id)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(ProgressUpdate.source == UpdateSource.WEB)
        .order_by(ProgressUpdate.recorded_at.desc(), ProgressUpdate.id.desc())  # type: ignore[attr-defined,union-attr]
        .limit(limit)
    ).all()
    return [
        Submission(
            update_id=update.id,  # type: ignore[arg-type]
            recorded_at=update.recorded_at,
            reported_on=update.reported_on,
            unit=unit,
            item_id=update.item_id,
            number=number,
            title=title,
            kind=UPDATE_LABELS.get(update.kind, update.kind),
            claim=update.claim,
            text=update.text,
            attachment_name=update.attachment_name,
        )
        for update, unit, number, title in rows
    ]


# --- one item -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineLine:
    label: str
    due: date
    baseline: date
    steps: tuple[str, ...]


@dataclass(frozen=True)
class ExtensionLine:
    months: int
    reason: str
    approved_by: str
    approved_on: date
    recorded_at: datetime


@dataclass
class ItemDeadlines:
    lines: list[DeadlineLine] = field(default_factory=list)
    extensions: list[ExtensionLine] = field(default_factory=list)
    granted_months: int = 0
    problem: str | None = None  # why the deadlines cannot be computed, if they cannot


def item_deadlines(
    session: Session, item: FollowUpItem, *, policy: Policy, calendar: WorkCalendar
) -> ItemDeadlines:
    """The item's objection window and reply deadline (with its baseline before extensions),
    and the extensions granted, as ``duban explain`` computes them."""
    records = list(
        session.exec(
            select(Extension)
            .where(Extension.item_id == item.id)
            .order_by(Extension.approved_on, Extension.id)
        )
    )
    result = ItemDeadlines(
        extensions=[
            ExtensionLine(e.months, e.reason, e.approved_by, e.approved_on, e.recorded_at)
            for e in records
        ],
        granted_months=sum(e.months for e in records),
    )
    if item.assigned_on is None:
        return result
    rules = policy.deadlines
    # As the chase counts them: an extension approved before the periods restarted is void.
    extensions = [
        DeadlineExtension(e.months, e.reason, e.approved_by, e.approved_on)
        for e in records
        if e.approved_on >= item.assigned_on
    ]
    try:
        deadlines: list[tuple[str, Deadline]] = [
            ("退回时限", objection_deadline(item.assigned_on, rules, calendar)),
            ("答复期限", reply_deadline(item.assigned_on, rules, calendar, extensions)),
        ]
    except TrackingError as exc:  # extensions past a lowered cap: shown on the page
        result.problem = str(exc)
        return result
    result.lines = [DeadlineLine(label, d.due, d.baseline, d.steps) for label, d in deadlines]
    return result


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an item's history: a report, a reminder, or a recorded change."""

    at: datetime
    kind: str  # update, reminder, event
    label: str  # what happened, in Chinese
    who: str
    detail: str = ""  # the report's text, the rule of a reminder, the reason of a change
    state: str = ""  # e.g. 发送失败: a word to mark the entry with
    recipients: tuple[str, ...] = ()


def item_timeline(session: Session, item_id: int) -> list[TimelineEntry]:
    """Everything that happened to the item, oldest first: the units' reports, each reminder
    decided about it (sent, held or skipped, with the rule and the delivery), and every change
    recorded on the item, its units' parts and the units (a snooze, a revoked link)."""
    updates, events = item_history(session, item_id)
    assignments = list(session.exec(select(Assignment).where(Assignment.item_id == item_id)))
    units = {u.id: u.name for u in session.exec(select(Unit))}
    owner = {a.id: units.get(a.unit_id, "") for a in assignments}
    entries = [
        TimelineEntry(
            at=update.recorded_at,
            kind="update",
            label=f"{unit}报送{UPDATE_LABELS.get(update.kind, update.kind)}"
            + f"（{SOURCE_LABELS.get(update.source, update.source)}，"
            + f"报送日期 {update.reported_on.isoformat()}）",
            who=update.reported_by or unit,
            detail=update.text,
            state=update.claim or "",
        )
        for unit, update in updates
    ]
    # A report's own event (update.*) would say again what its entry says.
    entries += [
        _event_entry(event, owner) for event in events if not event.action.startswith("update.")
    ]
    unit_ids = {a.unit_id for a in assignments}
    if unit_ids:
        for event in session.exec(
            select(Event).where(
                Event.entity == "unit",
                Event.entity_id.in_(unit_ids),  # type: ignore[union-attr]
                Event.action.not_in(["unit.create", "unit.update", "unit.merge"]),  # type: ignore[attr-defined]
            )
        ):
            entries.append(_event_entry(event, owner, unit=units.get(event.entity_id, "")))  # type: ignore[arg-type]
    for log, note in session.exec(
        select(ReminderLog, Notification)
        .outerjoin(Notification, ReminderLog.notification_id == Notification.id)
        .where(ReminderLog.item_id == item_id)
    ).all():
        entries.append(_reminder_entry(log, note, units.get(log.unit_id, "")))
    order = {"event": 0, "update": 1, "reminder": 2}
    return sorted(entries, key=lambda e: (e.at, order[e.kind]))


def _reminder_entry(log: ReminderLog, note: Notification | None, unit: str) -> TimelineEntry:
    obligation = LABELS.get(log.obligation, log.obligation)  # type: ignore[call-overload]
    audience = AUDIENCE_LABELS.get(log.audience, log.audience)
    decision = DECISION_LABELS.get(log.decision, log.decision)
    label = (
        f"提醒{unit}{audience}：{obligation}（{log.due.isoformat()} 到期，"
        f"{_stage_label(log.stage)}）— {decision}"
    )
    state = decision
    recipients: tuple[str, ...] = ()
    detail = log.rule
    if note is not None:
        state = DELIVERY_LABELS.get(note.status, note.status)
        recipients = tuple(note.recipients)
        if note.last_error:
            detail = f"{detail}\n{note.last_error}"
    return TimelineEntry(
        at=log.created_at,
        kind="reminder",
        label=label,
        who="督办提醒",
        detail=detail,
        state=state,
        recipients=recipients,
    )


def _stage_label(stage: str) -> str:
    if stage == "due":
        return "到期当日"
    kind, _, number = stage.partition("-")
    if kind == "before":
        return f"到期前 {number} 个工作日"
    if kind == "overdue":
        return f"第 {number} 次逾期提醒"
    return stage


_ACTION_LABELS = {
    "followupitem.create": "新增跟踪落实事项",
    "followupitem.update": "修改事项内容",
    "followupitem.final_text": "设置落实情况反馈",
    "item.status": "事项状态变更",
    "item.reply": "登记答复",
    "item.rating": "登记满意度",
    "item.extend": "延期",
    "item.assigned_on": "交办日期变更",
    "assignment.create": "交办单位",
    "assignment.update": "调整承办角色",
    "assignment.remove": "撤销交办",
    "assignment.status": "单位办理状态变更",
    "assignment.reassign": "调整承办单位",
    "unit.snooze": "暂停提醒该单位",
    "unit.link_revoke": "撤销填报链接",
}
_FIELD_LABELS = {
    "status": "状态",
    "reply_class": "答复类别",
    "replied_on": "答复日期",
    "rating": "满意度",
    "rated_on": "评价日期",
    "assigned_on": "交办日期",
    "due_date": "期限",
    "commitment": "跟踪落实事项",
    "final_text": "落实情况反馈",
    "months": "延期月数",
    "approved_by": "批准人",
    "approved_on": "批准日期",
    "unit": "单位",
    "position": "序号",
    "role": "角色",
    "snoozed_until": "暂停至",
    "snooze_reason": "暂停原因",
    "link_version": "链接版本",
}


def _event_entry(event: Event, owner: dict[int | None, str], unit: str = "") -> TimelineEntry:
    label = _ACTION_LABELS.get(event.action, "")
    before, after = event.before or {}, event.after or {}
    if event.action == "item.status":
        change = f"{_status(before.get('status'))} → {_status(after.get('status'))}"
        label = f"事项状态：{change}"
    elif event.action == "assignment.status":
        who = owner.get(event.entity_id, "")
        change = f"{_part_status(before.get('status'))} → {_part_status(after.get('status'))}"
        label = f"{who}办理状态：{change}"
    elif event.action == "assignment.reassign":
        label = f"调整承办单位：{before.get('unit', '')} → {after.get('unit', '')}"
    elif event.action == "assignment.create":
        role = ROLE_LABELS.get(after.get("role", ""), after.get("role", ""))  # type: ignore[call-overload]
        name = after.get("unit") or owner.get(event.entity_id, "")
        label = f"交办{role}单位：{name}"
    elif not label:
        label = f"{unit}：{event.action}" if unit else event.action
    elif unit:
        label = f"{unit}：{label}"
    return TimelineEntry(
        at=event.at,
        kind="event",
        label=label,
        who=event.actor,
        detail="\n".join(part for part in (event.reason, _changes(event)) if part),
    )


def _changes(event: Event) -> str:
    if event.action in ("item.status", "assignment.status", "assignment.reassign"):
        return ""
    before, after = event.before or {}, event.after or {}
    parts = []
    for key in after:
        if key in ("status", "proposal_id", "ordinal", "item_id", "unit_id", "role", "unit"):
            continue
        name = _FIELD_LABELS.get(key, key)
        old, new = before.get(key), after.get(key)
        if key not in before and new in (None, ""):
            continue  # a field a new record left empty
        value = new if new not in (None, "") else "（空）"
        parts.append(f"{name}：{old} → {value}" if key in before else f"{name}：{value}")
    return "；".join(parts)


def _status(value: object) -> str:
    try:
        return ITEM_LABELS[ItemStatus(value)]
    except ValueError:
        return str(value)


def _part_status(value: object) -> str:
    for status, label in ASSIGNMENT_LABELS.items():
        if status.value == value:
            return label
    return str(value)
