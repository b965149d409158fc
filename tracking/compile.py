"""Compiling the year's 落实情况反馈 column and summary table from the recorded updates."""

from collections import Counter, defaultdict

from sqlmodel import Session, select

from tracking.feedback import compile_feedback_text
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
    records = session.exec(
        select(FollowUpItem, Proposal)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(Proposal.year == year)
        .order_by(FollowUpItem.position, Proposal.category, Proposal.number, FollowUpItem.ordinal)
    ).all()
    units = {unit.id: unit.name for unit in session.exec(select(Unit))}
    lead_of: dict[int, str] = {}
    co_of: dict[int, list[str]] = defaultdict(list)
    for assignment in session.exec(
        select(Assignment)
        .join(FollowUpItem, Assignment.item_id == FollowUpItem.id)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(Proposal.year == year)
        .order_by(Assignment.id)
    ):
        if assignment.status in (AssignmentStatus.RETURNED, AssignmentStatus.REASSIGNED):
            continue  # the table names the units that handle the item now
        if assignment.role == Role.LEAD:
            lead_of[assignment.item_id] = units[assignment.unit_id]
        else:
            co_of[assignment.item_id].append(units[assignment.unit_id])
    updates: dict[int, list[tuple[str, ProgressUpdate]]] = defaultdict(list)
    for update in session.exec(
        select(ProgressUpdate)
        .join(FollowUpItem, ProgressUpdate.item_id == FollowUpItem.id)
        .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
        .where(Proposal.year == year)
    ):
        updates[update.item_id].append((units[update.unit_id], update))

    rows = []
    for seq, (item, proposal) in enumerate(records, start=1):
        lead = lead_of.get(item.id, "")  # type: ignore[arg-type]
        rows.append(
            SummaryRow(
                seq=seq,
                category=proposal.category,
                number=proposal.number,
                lead_representative=proposal.lead_representative,
                signer_count=proposal.signer_count,
                title=proposal.title,
                handling_type=proposal.handling_type,
                lead_unit=lead,
                co_units=tuple(co_of.get(item.id, ())),  # type: ignore[arg-type]
                commitment=item.commitment,
                feedback=compile_feedback_text(
                    final_text=item.final_text,
                    lead_unit=lead,
                    co_units=co_of.get(item.id, []),  # type: ignore[arg-type]
                    updates=updates.get(item.id, []),  # type: ignore[arg-type]
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
