"""What a unit sees and reports on its own page: its items, what it owes on each and by when,
its own reports; and a report it submits there.

A submitted report goes into the same records as one typed at the command line: a progress or
final report through :func:`tracking.updates.record_update`, the lead's reply with its class
through :func:`tracking.handling.record_reply`, so the workflow rules are the same. What the page
adds (the unit's own word on the item, an attachment) is kept on the report and in an event.

The messages of the errors raised here are shown to the unit on its page, so they are Chinese.
A unit asking about an item that is not its own gets the same answer as for one that does not
exist.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from config.policy import ClassScheme, Policy
from tracking.audit import record_event
from tracking.chase import collect_obligations
from tracking.errors import ConflictError, InputError, NotFoundError
from tracking.handling import record_reply
from tracking.models import (
    Assignment,
    AssignmentStatus,
    FollowUpItem,
    ItemStatus,
    ProgressUpdate,
    Proposal,
    Role,
    Unit,
    UpdateKind,
    UpdateSource,
)
from tracking.obligations import LABELS, Obligation
from tracking.updates import record_update
from tracking.workdays import WorkCalendar
from tracking.workflow import ITEM_LABELS, is_open

CLAIMS = ("推进中", "已完成", "未能落实")
FINAL_CLAIMS = ("已完成", "未能落实")
TEXT_MAX_CHARS = 4000
NOT_FOUND = "没有找到该事项。请从本单位的填报页面选择事项。"
# A second identical submission this soon after the first is the same one sent twice (a double
# click, a resent form): it is not recorded again.
DUPLICATE_WINDOW = timedelta(minutes=10)
# Before its reply the lead owes the reply; these states are "before the reply".
_AWAITING_REPLY = {ItemStatus.ASSIGNED, ItemStatus.HANDLING, ItemStatus.REOPENED}
_GONE = [AssignmentStatus.RETURNED, AssignmentStatus.REASSIGNED]


@dataclass(frozen=True)
class Owed:
    label: str  # 答复代表委员, 报送落实进展…
    due: date
    overdue_workdays: int
    days_left: int  # working days to the due date (0 on it and after)


@dataclass(frozen=True)
class UnitItem:
    """One item on a unit's page, as of a date."""

    item_id: int
    year: int
    category: str
    number: str
    title: str
    lead_representative: str
    commitment: str
    role: str  # lead / co
    status: str  # the item's workflow state
    status_label: str
    lead_unit: str
    co_units: tuple[str, ...]
    reply_class: str | None
    replied_on: date | None
    closed_on: date | None
    owes: tuple[Owed, ...]
    reports: tuple[ProgressUpdate, ...]  # the unit's own, oldest first
    can_reply: bool  # the lead, before its reply (or owing the second reply)

    @property
    def is_open(self) -> bool:
        return self.status != ItemStatus.RESOLVED


def unit_items(
    session: Session,
    unit: Unit,
    *,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
) -> list[UnitItem]:
    """Every item ``unit`` has a part in (not returned or handed to another unit): open ones
    first, each in the order of its year's table."""
    rows = session.exec(
        select(Assignment, FollowUpItem, Proposal)
        .join(FollowUpItem, Assignment.item_id == FollowUpItem.id)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(Assignment.unit_id == unit.id, Assignment.status.not_in(_GONE))  # type: ignore[attr-defined]
        .order_by(Proposal.year, FollowUpItem.position, FollowUpItem.id)
    ).all()
    if not rows:
        return []
    item_ids = [item.id for _, item, _ in rows]
    names = {u.id: u.name for u in session.exec(select(Unit))}
    lead_of: dict[int, str] = {}
    co_of: dict[int, list[str]] = {}
    for other in session.exec(
        select(Assignment)
        .where(Assignment.item_id.in_(item_ids), Assignment.status.not_in(_GONE))  # type: ignore[attr-defined]
        .order_by(Assignment.id)
    ):
        if other.role == Role.LEAD:
            lead_of[other.item_id] = names[other.unit_id]
        else:
            co_of.setdefault(other.item_id, []).append(names[other.unit_id])
    mine = {assignment.id for assignment, _, _ in rows}
    owes: dict[int, list[tuple[Obligation, date]]] = {}
    for found in collect_obligations(
        session,
        as_of=as_of,
        policy=policy,
        calendar=calendar,
        interval_days=interval_days,
        unit_id=unit.id,
    ):
        if found.assignment_id in mine:
            owes.setdefault(found.item_id, []).append((found.obligation, found.deadline.due))
    reports: dict[int, list[ProgressUpdate]] = {}
    for update in session.exec(
        select(ProgressUpdate)
        .where(ProgressUpdate.unit_id == unit.id, ProgressUpdate.item_id.in_(item_ids))  # type: ignore[attr-defined]
        .order_by(ProgressUpdate.reported_on, ProgressUpdate.id)
    ):
        reports.setdefault(update.item_id, []).append(update)

    items = []
    for assignment, item, proposal in rows:
        status = ItemStatus(item.status)
        obligations = owes.get(item.id, [])  # type: ignore[arg-type]
        lead = assignment.role == Role.LEAD
        items.append(
            UnitItem(
                item_id=item.id,  # type: ignore[arg-type]
                year=proposal.year,
                category=proposal.category,
                number=proposal.number,
                title=proposal.title,
                lead_representative=proposal.lead_representative,
                commitment=item.commitment,
                role=assignment.role,
                status=status,
                status_label=ITEM_LABELS[status],
                lead_unit=lead_of.get(item.id, ""),  # type: ignore[arg-type]
                co_units=tuple(co_of.get(item.id, ())),  # type: ignore[arg-type]
                reply_class=item.reply_class,
                replied_on=item.replied_on,
                closed_on=item.closed_on,
                owes=tuple(
                    Owed(
                        label=LABELS[obligation],
                        due=due,
                        overdue_workdays=calendar.workdays_between(due, as_of)
                        if as_of > due
                        else 0,
                        days_left=calendar.workdays_between(as_of, due) if as_of < due else 0,
                    )
                    for obligation, due in sorted(obligations, key=lambda pair: pair[1])
                ),
                reports=tuple(reports.get(item.id, ())),  # type: ignore[arg-type]
                can_reply=lead
                and (
                    status in _AWAITING_REPLY
                    or any(o == Obligation.SECOND_REPLY for o, _ in obligations)
                ),
            )
        )
    items.sort(key=lambda view: not view.is_open)  # stable: the table's order within each part
    return items


@dataclass(frozen=True)
class UnitReport:
    """What a unit submits on its page for one item."""

    kind: UpdateKind  # progress, final, or reply (the lead's, with its class)
    text: str
    claim: str  # one of CLAIMS: the unit's own word on the item
    reply_class: str | None = None
    attachment_path: str | None = None  # relative to the upload folder
    attachment_name: str | None = None  # as the unit named it
    attachment_bytes: int | None = None


@dataclass(frozen=True)
class Submitted:
    update: ProgressUpdate
    duplicate: bool  # the same report was already recorded moments ago; nothing new was written


def check_report(report: UnitReport, *, classes: ClassScheme) -> None:
    """The checks that need no records: InputError naming what to correct."""
    text = report.text.strip()
    if not text:
        raise InputError("请填写报送内容。")
    if len(text) > TEXT_MAX_CHARS:
        raise InputError(f"报送内容不能超过{TEXT_MAX_CHARS}字（现为{len(text)}字），请精简后提交。")
    if report.claim not in CLAIMS:
        raise InputError(f"请选择落实情况：{'、'.join(CLAIMS)}。")
    if report.kind == UpdateKind.FINAL and report.claim not in FINAL_CLAIMS:
        raise InputError("最终反馈的落实情况应为“已完成”或“未能落实”；仍在推进的，请报送落实进展。")
    if report.kind == UpdateKind.REPLY and report.reply_class not in classes.codes:
        raise InputError(f"答复代表委员时请选择答复类别（{'、'.join(classes.codes)}）。")


def submit_report(
    session: Session,
    unit: Unit,
    item_id: int,
    report: UnitReport,
    *,
    classes: ClassScheme,
    on: date,
    now: datetime,
    actor: str = "web",
    source: UpdateSource = UpdateSource.WEB,
) -> Submitted:
    """Record ``report`` as ``unit``'s on item ``item_id``, dated ``on``, with an event.

    NotFoundError when the item is not one the unit has a part in (the same as no such item);
    InputError for a report to correct; ConflictError when the item's state does not allow it
    (resolved, or a reply from a co unit).
    """
    check_report(report, classes=classes)
    item = session.get(FollowUpItem, item_id)
    assignment = None
    if item is not None:
        assignment = session.exec(
            select(Assignment).where(Assignment.item_id == item.id, Assignment.unit_id == unit.id)
        ).first()
    if item is None or assignment is None or assignment.status in _GONE:
        raise NotFoundError(NOT_FOUND)
    if not is_open(item):
        raise ConflictError(
            f"该事项已于{_cn(item.closed_on)}落实办结，无需再报送；如需更正，请与督办工作人员联系。"
        )
    text = report.text.strip()
    earlier = _same_report_moments_ago(session, item.id, unit.id, report, text, now)  # type: ignore[arg-type]
    if earlier is not None:
        return Submitted(earlier, duplicate=True)

    if report.kind == UpdateKind.REPLY:
        if assignment.role != Role.LEAD:
            raise ConflictError(
                "答复代表委员由主办单位负责；协办单位请报送协办意见（最终反馈）或落实进展。"
            )
        record_reply(
            session,
            item,
            unit,
            text=text,
            reply_class=report.reply_class,  # type: ignore[arg-type]
            follows_up=classes.get(report.reply_class).follow_up,  # type: ignore[arg-type]
            on=on,
            source=source,
            now=now,
            actor=actor,
        )
        # record_reply appends the report through record_update (and flushes): it is the newest.
        update = session.exec(
            select(ProgressUpdate)
            .where(
                ProgressUpdate.item_id == item.id,
                ProgressUpdate.unit_id == unit.id,
                ProgressUpdate.kind == UpdateKind.REPLY,
            )
            .order_by(ProgressUpdate.id.desc())  # type: ignore[union-attr]
        ).first()
        assert update is not None
    else:
        update = record_update(
            session,
            item=item,
            unit=unit,
            text=text,
            kind=report.kind,
            reported_on=on,
            source=source,
            reported_by=actor,
            now=now,
        )
    update.claim = report.claim
    update.attachment_path = report.attachment_path
    update.attachment_name = report.attachment_name
    session.add(update)
    session.flush()
    record_event(
        session,
        at=now,
        actor=actor,
        action=f"update.{source}",
        entity="followupitem",
        entity_id=item.id,
        after={
            "unit": unit.name,
            "update_id": update.id,
            "kind": report.kind.value,
            "claim": report.claim,
            "reply_class": report.reply_class if report.kind == UpdateKind.REPLY else None,
            "attachment": report.attachment_name,
            "attachment_bytes": report.attachment_bytes,
        },
    )
    return Submitted(update, duplicate=False)


def _same_report_moments_ago(
    session: Session, item_id: int, unit_id: int, report: UnitReport, text: str, now: datetime
) -> ProgressUpdate | None:
    last = session.exec(
        select(ProgressUpdate)
        .where(ProgressUpdate.item_id == item_id, ProgressUpdate.unit_id == unit_id)
        .order_by(ProgressUpdate.id.desc())  # type: ignore[union-attr]
    ).first()
    if (
        last is not None
        and last.kind == report.kind
        and last.text == text
        and last.claim == report.claim
        and last.attachment_name == report.attachment_name
        and timedelta(0) <= now - last.recorded_at <= DUPLICATE_WINDOW
    ):
        return last
    return None


def _cn(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "此前"
