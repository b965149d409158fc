"""Planning the chase: for each unit, the items on which it owes a report as of a date.

A handful of queries for the whole sweep (assignments, last reports, unit names), grouped in
Python, so the cost grows with the rows and not with round trips.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_
from sqlmodel import Session, select

from tracking.models import Assignment, FollowUpItem, ProgressUpdate, Proposal, Role, Unit
from tracking.rules import owes_report


@dataclass(frozen=True)
class OwedItem:
    item_id: int
    category: str
    number: str
    title: str
    lead_representative: str
    commitment: str
    role: str
    lead_unit: str
    co_units: tuple[str, ...]
    due_date: date | None
    last_reported_on: date | None


@dataclass(frozen=True)
class UnitDigest:
    """What one unit owes: the content of its one digest."""

    unit_id: int
    unit_name: str
    emails: tuple[str, ...]
    items: tuple[OwedItem, ...]


def digest_key(unit_id: int, as_of: date) -> str:
    """One digest per unit and day: a second run that day finds the key and sends nothing."""
    return f"digest:{unit_id}:{as_of.isoformat()}"


def plan_digests(session: Session, *, as_of: date, interval_days: int) -> list[UnitDigest]:
    """Every unit that owes at least one report as of ``as_of``, with those items, by unit name."""
    candidates = session.exec(
        select(Assignment, FollowUpItem, Proposal)
        .join(FollowUpItem, Assignment.item_id == FollowUpItem.id)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(or_(FollowUpItem.closed_on.is_(None), FollowUpItem.closed_on > as_of))  # type: ignore[union-attr,operator]
        .where(or_(Assignment.closed_on.is_(None), Assignment.closed_on > as_of))  # type: ignore[union-attr,operator]
        .order_by(Proposal.year, FollowUpItem.position, FollowUpItem.id)
    ).all()
    if not candidates:
        return []
    item_ids = {item.id for _, item, _ in candidates}

    last_reports = {
        (item_id, unit_id): last
        for item_id, unit_id, last in session.exec(
            select(
                ProgressUpdate.item_id,
                ProgressUpdate.unit_id,
                func.max(ProgressUpdate.reported_on),
            )
            .where(ProgressUpdate.reported_on <= as_of)
            .group_by(ProgressUpdate.item_id, ProgressUpdate.unit_id)
        )
        if item_id in item_ids
    }
    units = {unit.id: unit for unit in session.exec(select(Unit))}
    lead_of: dict[int, str] = {}
    co_of: dict[int, list[str]] = defaultdict(list)
    for assignment, _, _ in candidates:
        name = units[assignment.unit_id].name
        if assignment.role == Role.LEAD:
            lead_of[assignment.item_id] = name
        else:
            co_of[assignment.item_id].append(name)

    owed: dict[int, list[OwedItem]] = defaultdict(list)
    for assignment, item, proposal in candidates:
        last = last_reports.get((item.id, assignment.unit_id))
        if not owes_report(
            item_closed_on=item.closed_on,
            assignment_closed_on=assignment.closed_on,
            last_reported_on=last,
            as_of=as_of,
            interval_days=interval_days,
        ):
            continue
        owed[assignment.unit_id].append(
            OwedItem(
                item_id=item.id,  # type: ignore[arg-type]
                category=proposal.category,
                number=proposal.number,
                title=proposal.title,
                lead_representative=proposal.lead_representative,
                commitment=item.commitment,
                role=assignment.role,
                lead_unit=lead_of.get(item.id, ""),  # type: ignore[arg-type]
                co_units=tuple(co_of.get(item.id, ())),  # type: ignore[arg-type]
                due_date=assignment.due_date or item.due_date,
                last_reported_on=last,
            )
        )
    return [
        UnitDigest(
            unit_id=unit_id,
            unit_name=units[unit_id].name,
            emails=tuple(units[unit_id].emails),
            items=tuple(items),
        )
        for unit_id, items in sorted(owed.items(), key=lambda pair: units[pair[0]].name)
    ]
