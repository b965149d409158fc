"""Compiling the year's 落实情况反馈 column and summary table from the recorded updates."""

from collections import Counter, defaultdict

from sqlmodel import Session, select

from tracking.feedback import Report, compile_feedback_text
from tracking.models import (
    Assignment,
    AssignmentStatus,
    FollowUpItem,
    ProgressUpdate,
    Proposal,
    Role,
    Unit,
)
from tracking.summary_writer import SummaryRow


def summary_rows(session: Session, *, year: int) -> list[SummaryRow]:
    """One row per follow-up item of ``year``, in 序号 order, numbered 1, 2, 3…"""
    # Columns rather than entities: the table only reads them, and ORM instances made this about
    # five times slower.
    records = session.exec(
        select(
            FollowUpItem.id,
            FollowUpItem.commitment,
            FollowUpItem.final_text,
            Proposal.category,
            Proposal.number,
            Proposal.lead_representative,
            Proposal.signer_count,
            Proposal.title,
            Proposal.handling_type,
        )
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(Proposal.year == year)
        .order_by(FollowUpItem.position, Proposal.category, Proposal.number, FollowUpItem.ordinal)
    ).all()
    units = {unit_id: name for unit_id, name in session.exec(select(Unit.id, Unit.name))}
    lead_of: dict[int, str] = {}
    co_of: dict[int, list[str]] = defaultdict(list)
    for item_id, unit_id, role in session.exec(
        select(Assignment.item_id, Assignment.unit_id, Assignment.role)
        .join(FollowUpItem, Assignment.item_id == FollowUpItem.id)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(
            Proposal.year == year,
            # The table names the units that handle the item now.
            Assignment.status.not_in(  # type: ignore[attr-defined]
                (AssignmentStatus.RETURNED, AssignmentStatus.REASSIGNED)
            ),
        )
        .order_by(Assignment.id)
    ):
        if role == Role.LEAD:
            lead_of[item_id] = units[unit_id]
        else:
            co_of[item_id].append(units[unit_id])
    updates: dict[int, list[tuple[str, Report]]] = defaultdict(list)
    for update in session.exec(
        select(
            ProgressUpdate.id,
            ProgressUpdate.item_id,
            ProgressUpdate.unit_id,
            ProgressUpdate.text,
            ProgressUpdate.kind,
            ProgressUpdate.reported_on,
            ProgressUpdate.recorded_at,
        )
        .join(FollowUpItem, ProgressUpdate.item_id == FollowUpItem.id)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(Proposal.year == year)
    ):
        updates[update.item_id].append((units[update.unit_id], update))

    rows = []
    for seq, record in enumerate(records, start=1):
        lead = lead_of.get(record.id, "")
        co_units = co_of.get(record.id, [])
        rows.append(
            SummaryRow(
                seq=seq,
                category=record.category,
                number=record.number,
                lead_representative=record.lead_representative,
                signer_count=record.signer_count,
                title=record.title,
                handling_type=record.handling_type,
                lead_unit=lead,
                co_units=tuple(co_units),
                commitment=record.commitment,
                feedback=compile_feedback_text(
                    final_text=record.final_text,
                    lead_unit=lead,
                    co_units=co_units,
                    updates=updates.get(record.id, []),
                ),
            )
        )
    return rows


def summary_title(rows: list[SummaryRow], *, year: int) -> str:
    """The seed's title, e.g. 市民政局2022年度跟踪办理建议提案落实情况汇总表, named after the
    unit that leads most items."""
    leads = Counter(row.lead_unit for row in rows if row.lead_unit)
    body = leads.most_common(1)[0][0] if leads else ""
    return f"{body}{year}年度跟踪办理建议提案落实情况汇总表"
