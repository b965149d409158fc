"""What coordinators do through the year: add items, find them, and look at who owes what."""

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_
from sqlmodel import Session, select

from config.policy import Policy
from tracking.audit import record_event, snapshot
from tracking.chase import collect_obligations
from tracking.errors import ConflictError, InputError, NotFoundError
from tracking.models import (
    Assignment,
    Category,
    Event,
    FollowUpItem,
    ItemStatus,
    ProgressUpdate,
    Proposal,
    Role,
    Unit,
)
from tracking.names import squeeze
from tracking.obligations import LABELS
from tracking.units import UnitDirectory
from tracking.workdays import WorkCalendar
from tracking.workflow import ITEM_LABELS


@dataclass(frozen=True)
class ItemRef:
    """How a person names an item: by its id, or by its proposal's number (and category, year)."""

    item_id: int | None = None
    number: str | None = None
    category: str | None = None
    year: int | None = None


def find_item(session: Session, ref: ItemRef) -> FollowUpItem:
    """The one item ``ref`` names; NotFoundError or InputError (ambiguous) otherwise."""
    if ref.item_id is not None:
        item = session.get(FollowUpItem, ref.item_id)
        if item is None:
            raise NotFoundError(f"no follow-up item with id {ref.item_id}")
        return item
    if not ref.number:
        raise InputError("name the item by --item ID or by proposal --number")
    query = (
        select(FollowUpItem, Proposal)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(Proposal.number == squeeze(ref.number))
    )
    if ref.category:
        query = query.where(Proposal.category == ref.category)
    if ref.year:
        query = query.where(Proposal.year == ref.year)
    matches = session.exec(query.order_by(FollowUpItem.id)).all()
    if not matches:
        raise NotFoundError(f"no follow-up item for proposal number {ref.number}")
    if len(matches) > 1:
        choices = ", ".join(
            f"item {item.id} ({proposal.year} {proposal.category} {proposal.number})"
            for item, proposal in matches
        )
        raise InputError(
            f"proposal number {ref.number} matches several items: {choices}; "
            "narrow it with --category, --year or --item"
        )
    return matches[0][0]


def find_unit(session: Session, name: str) -> Unit:
    unit = UnitDirectory(session).find(name)
    if unit is None:
        known = [u.name for u in session.exec(select(Unit))]
        close = difflib.get_close_matches(squeeze(name), known, n=3, cutoff=0.5)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise NotFoundError(f"no unit named {name!r}{hint}; see `duban units list`")
    return unit


@dataclass(frozen=True)
class NewItem:
    year: int
    category: str
    number: str
    commitment: str
    lead_unit: str
    co_units: tuple[str, ...] = ()
    due_date: date | None = None
    assigned_on: date | None = None
    title: str = ""
    lead_representative: str = ""
    signer_count: int | None = None
    handling_type: str = "主办"
    create_units: bool = False  # else an unknown unit name is refused (it is likely a typo)


def assign_item(session: Session, new: NewItem, *, now: datetime, actor: str) -> FollowUpItem:
    """Add a follow-up item to an existing proposal, or to a new one, with its units."""
    if new.category not in tuple(Category):
        raise InputError(f"category must be 人大建议 or 政协提案, not {new.category!r}")
    if not new.commitment.strip():
        raise InputError("the follow-up item (--commitment) is empty")
    number = squeeze(new.number)
    proposal = session.exec(
        select(Proposal).where(
            Proposal.year == new.year, Proposal.category == new.category, Proposal.number == number
        )
    ).first()
    if proposal is None:
        if not new.title.strip():
            raise InputError(
                f"{new.year} {new.category} {number} is a new proposal: give its --title"
            )
        proposal = Proposal(
            year=new.year,
            category=new.category,
            number=number,
            title=new.title.strip(),
            lead_representative=new.lead_representative.strip(),
            signer_count=new.signer_count,
            handling_type=new.handling_type,
        )
        session.add(proposal)
        session.flush()
        record_event(
            session,
            at=now,
            actor=actor,
            action="proposal.create",
            entity="proposal",
            entity_id=proposal.id,
            after=snapshot(proposal, ["year", "category", "number", "title"]),
        )
    same = session.exec(
        select(FollowUpItem.id).where(
            FollowUpItem.proposal_id == proposal.id,
            FollowUpItem.commitment == new.commitment.strip(),
        )
    ).first()
    if same is not None:
        raise ConflictError(
            f"{new.year} {new.category} {number} already has this follow-up item (item {same})"
        )
    ordinal = 1 + (
        session.exec(
            select(func.max(FollowUpItem.ordinal)).where(FollowUpItem.proposal_id == proposal.id)
        ).one()
        or 0
    )
    position = 1 + (
        session.exec(
            select(func.max(FollowUpItem.position))
            .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
            .where(Proposal.year == new.year)
        ).one()
        or 0
    )
    item = FollowUpItem(
        proposal_id=proposal.id,  # type: ignore[arg-type]
        ordinal=ordinal,
        position=position,
        commitment=new.commitment.strip(),
        due_date=new.due_date,
        assigned_on=new.assigned_on,
        status=ItemStatus.ASSIGNED,
        created_at=now,
    )
    session.add(item)
    session.flush()
    record_event(
        session,
        at=now,
        actor=actor,
        action="followupitem.create",
        entity="followupitem",
        entity_id=item.id,
        after=snapshot(item, ["proposal_id", "ordinal", "commitment", "due_date", "assigned_on"]),
    )
    directory = UnitDirectory(session)
    roles = [(name, Role.CO) for name in new.co_units if squeeze(name) != squeeze(new.lead_unit)]
    for name, role in [(new.lead_unit, Role.LEAD), *roles]:
        if not new.create_units and directory.find(name) is None:
            find_unit(session, name)  # raises, naming the closest known units
        unit, _ = directory.get_or_create(name, now=now, actor=actor)
        assignment = Assignment(
            item_id=item.id,  # type: ignore[arg-type]
            unit_id=unit.id,  # type: ignore[arg-type]
            role=role,
            due_date=new.due_date,
        )
        session.add(assignment)
        session.flush()
        record_event(
            session,
            at=now,
            actor=actor,
            action="assignment.create",
            entity="assignment",
            entity_id=assignment.id,
            after={"item_id": item.id, "unit": unit.name, "role": role},
        )
    return item


def set_final_text(
    session: Session,
    item: FollowUpItem,
    text: str | None,
    *,
    now: datetime,
    actor: str,
    reason: str,
) -> None:
    """The coordinator's own 落实情况反馈 for the item (None clears it); it wins when compiling."""
    if text is not None and not text.strip():
        # Stored as "" it would read as "set" yet compile as if cleared.
        raise InputError(
            "the 落实情况反馈 text is empty; use --clear to go back to the compiled text"
        )
    before = snapshot(item, ["final_text"])
    item.final_text = text.strip() if text is not None else None
    session.add(item)
    record_event(
        session,
        at=now,
        actor=actor,
        action="followupitem.final_text",
        entity="followupitem",
        entity_id=item.id,
        before=before,
        after=snapshot(item, ["final_text"]),
        reason=reason,
    )


@dataclass(frozen=True)
class AssignmentView:
    unit: str
    role: str
    status: str
    last_reported_on: date | None
    owes: tuple[tuple[str, date], ...]  # (what, due) for each open obligation


@dataclass(frozen=True)
class ItemView:
    item_id: int
    year: int
    position: int
    category: str
    number: str
    title: str
    lead_representative: str
    commitment: str
    status: str
    assigned_on: date | None
    reply_class: str | None
    rating: str | None
    due_date: date | None
    closed_on: date | None
    final_text: str | None
    assignments: tuple[AssignmentView, ...]

    @property
    def owing_units(self) -> list[str]:
        return [a.unit for a in self.assignments if a.owes]


def matching_item_ids(
    session: Session,
    *,
    year: int | None = None,
    status: str | None = None,
    unit: str | None = None,
    text: str = "",
) -> list[int]:
    """The ids of the items a listing filtered so would show, in the order of the tables: for a
    page of a long listing, without building the others.

    ``text`` is looked for, ignoring case, in the title, number, commitment, proposer and the
    names of the units on the item."""
    query = select(FollowUpItem.id).join(Proposal, FollowUpItem.proposal_id == Proposal.id)
    if year is not None:
        query = query.where(Proposal.year == year)
    if status is not None:
        query = query.where(FollowUpItem.status.in_(_statuses(status)))  # type: ignore[attr-defined]
    if unit:
        on_item = select(Assignment.id).where(
            Assignment.item_id == FollowUpItem.id, Assignment.unit_id == find_unit(session, unit).id
        )
        query = query.where(on_item.exists())
    needle = text.strip()
    if needle:
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        units_named = (
            select(Assignment.id)
            .join(Unit, Assignment.unit_id == Unit.id)
            .where(Assignment.item_id == FollowUpItem.id, Unit.name.ilike(pattern, escape="\\"))  # type: ignore[attr-defined]
        )
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")  # type: ignore[attr-defined]
                    for column in (
                        Proposal.title,
                        Proposal.number,
                        FollowUpItem.commitment,
                        Proposal.lead_representative,
                    )
                ),
                units_named.exists(),
            )
        )
    return list(
        session.exec(query.order_by(Proposal.year, FollowUpItem.position, FollowUpItem.id)).all()
    )


def list_items(
    session: Session,
    *,
    as_of: date,
    policy: Policy,
    calendar: WorkCalendar,
    interval_days: int,
    year: int | None = None,
    status: str | None = None,
    unit: str | None = None,
    item_id: int | None = None,
    item_ids: Collection[int] | None = None,
) -> list[ItemView]:
    """Items with their assignments and what each unit owes as of ``as_of``.

    ``status`` is a workflow state (code or Chinese label), or ``open`` for every state but
    已落实.
    """
    query = select(FollowUpItem, Proposal).join(Proposal, FollowUpItem.proposal_id == Proposal.id)
    if year is not None:
        query = query.where(Proposal.year == year)
    if item_id is not None:
        item_ids = (item_id,)
    if item_ids is not None:
        query = query.where(FollowUpItem.id.in_(sorted(item_ids)))  # type: ignore[union-attr]
    if status is not None:
        query = query.where(FollowUpItem.status.in_(_statuses(status)))  # type: ignore[attr-defined]
    records = session.exec(
        query.order_by(Proposal.year, FollowUpItem.position, FollowUpItem.id)
    ).all()
    units = {u.id: u.name for u in session.exec(select(Unit))}
    wanted_unit = find_unit(session, unit).name if unit else None
    assignments = select(Assignment).order_by(Assignment.id)
    if item_ids is not None:  # a page: its own items' assignments and obligations only
        assignments = assignments.where(Assignment.item_id.in_(sorted(item_ids)))  # type: ignore[attr-defined]
    by_item: dict[int, list[Assignment]] = {}
    for assignment in session.exec(assignments):
        by_item.setdefault(assignment.item_id, []).append(assignment)
    owes: dict[int, list[tuple[str, date]]] = {}
    for found in collect_obligations(
        session,
        as_of=as_of,
        policy=policy,
        calendar=calendar,
        interval_days=interval_days,
        item_ids=item_ids,
    ):
        owes.setdefault(found.assignment_id, []).append(
            (LABELS[found.obligation], found.deadline.due)
        )
    views = []
    for item, proposal in records:
        assignments = tuple(
            AssignmentView(
                unit=units[a.unit_id],
                role=a.role,
                status=a.status,
                last_reported_on=a.last_reported_on,
                owes=tuple(owes.get(a.id, ())),  # type: ignore[arg-type]
            )
            for a in sorted(by_item.get(item.id, []), key=lambda a: a.role != Role.LEAD)  # type: ignore[arg-type]
        )
        if wanted_unit and wanted_unit not in {a.unit for a in assignments}:
            continue
        views.append(
            ItemView(
                item_id=item.id,  # type: ignore[arg-type]
                year=proposal.year,
                position=item.position,
                category=proposal.category,
                number=proposal.number,
                title=proposal.title,
                lead_representative=proposal.lead_representative,
                commitment=item.commitment,
                status=item.status,
                assigned_on=item.assigned_on,
                reply_class=item.reply_class,
                rating=item.rating,
                due_date=item.due_date,
                closed_on=item.closed_on,
                final_text=item.final_text,
                assignments=assignments,
            )
        )
    return views


def _statuses(wanted: str) -> list[str]:
    if wanted == "open":
        return [s.value for s in ItemStatus if s != ItemStatus.RESOLVED]
    for status, label in ITEM_LABELS.items():
        if wanted in (status.value, label):
            return [status.value]
    choices = ", ".join(f"{s.value} ({label})" for s, label in ITEM_LABELS.items())
    raise InputError(f"status must be open or one of: {choices}; not {wanted!r}")


def item_history(
    session: Session, item_id: int
) -> tuple[list[tuple[str, ProgressUpdate]], list[Event]]:
    """The item's reports (with unit names) and its events, oldest first."""
    units = {u.id: u.name for u in session.exec(select(Unit))}
    updates = [
        (units[u.unit_id], u)
        for u in session.exec(
            select(ProgressUpdate)
            .where(ProgressUpdate.item_id == item_id)
            .order_by(ProgressUpdate.reported_on, ProgressUpdate.id)
        )
    ]
    assignment_ids = list(session.exec(select(Assignment.id).where(Assignment.item_id == item_id)))
    events = list(
        session.exec(
            select(Event)
            .where(
                ((Event.entity == "followupitem") & (Event.entity_id == item_id))
                | ((Event.entity == "assignment") & Event.entity_id.in_(assignment_ids))  # type: ignore[union-attr]
            )
            .order_by(Event.at, Event.id)
        )
    )
    return updates, events
