"""``duban import``: a published summary table into proposals, follow-up items and assignments.

All or nothing: every row is checked before anything is written, and the writes happen in one
transaction. Re-importing the same file changes nothing; a corrected file updates in place, keyed
on (year, category, number) and the item's place among its proposal's rows, with an event for
every change.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from tracking.audit import record_event, snapshot
from tracking.db import transaction
from tracking.errors import InputError
from tracking.feedback import is_interim_feedback
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
from tracking.table_reader import read_table
from tracking.table_schema import TableRow, check_rows, find_header, missing_header_message
from tracking.units import UnitDirectory
from tracking.updates import record_update

PROPOSAL_FIELDS = ["lead_representative", "signer_count", "title", "handling_type"]
ITEM_FIELDS = ["commitment", "position"]


@dataclass
class ImportReport:
    path: Path
    rows: int = 0
    proposals_created: int = 0
    proposals_updated: int = 0
    items_created: int = 0
    items_updated: int = 0
    units_created: int = 0
    assignments_changed: int = 0
    feedback_recorded: int = 0
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            (
                self.proposals_created,
                self.proposals_updated,
                self.items_created,
                self.items_updated,
                self.units_created,
                self.assignments_changed,
                self.feedback_recorded,
            )
        )


def check_table(path: Path) -> tuple[list[TableRow], list[str], list[str]]:
    """The file's valid rows, its problems and its repairs, without touching the database."""
    table = read_table(path)
    rows = list(table.rows)
    header = find_header(rows)
    if header is None:
        raise InputError(missing_header_message(path))
    header_index, columns = header
    text_table = table.encoding is not None
    width = len(rows[header_index].cells) if text_table else None
    checked = check_rows(path, rows[header_index + 1 :], columns, width=width)
    return checked.rows, checked.problems, checked.warnings


def import_table(
    engine: Engine,
    path: Path,
    *,
    year: int,
    reported_on: date,
    now: datetime,
    include_feedback: bool = True,
    skip_invalid: bool = False,
    actor: str = "import",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import ``path`` for ``year``. Raises InputError listing every problem unless skip_invalid.

    ``progress(done, total)`` is called as rows are applied, for a progress bar.
    """
    rows, problems, warnings = check_table(path)
    if problems and not skip_invalid:
        raise InputError(
            f"{path}: {len(problems)} problem(s) found; nothing was imported "
            "(fix them, or pass --skip-invalid to import the valid rows)",
            problems,
        )
    report = ImportReport(path=path, rows=len(rows), warnings=warnings, skipped=problems)
    with transaction(engine) as session:
        _apply(
            session,
            rows,
            report,
            year=year,
            reported_on=reported_on,
            now=now,
            include_feedback=include_feedback,
            actor=f"{actor}:{path.name}",
            progress=progress,
        )
    return report


def _apply(
    session: Session,
    rows: list[TableRow],
    report: ImportReport,
    *,
    year: int,
    reported_on: date,
    now: datetime,
    include_feedback: bool,
    actor: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    units = UnitDirectory(session)
    proposals = {
        (p.category, p.number): p
        for p in session.exec(select(Proposal).where(Proposal.year == year))
    }
    items = {
        (item.proposal_id, item.ordinal): item
        for item in session.exec(select(FollowUpItem).join(Proposal).where(Proposal.year == year))
    }
    assignments: dict[int, list[Assignment]] = defaultdict(list)
    for assignment in session.exec(
        select(Assignment).join(FollowUpItem).join(Proposal).where(Proposal.year == year)
    ):
        assignments[assignment.item_id].append(assignment)
    final_texts: dict[int, set[str]] = defaultdict(set)
    for update in session.exec(
        select(ProgressUpdate)
        .join(FollowUpItem)
        .join(Proposal)
        .where(Proposal.year == year, ProgressUpdate.kind == UpdateKind.FINAL)
    ):
        final_texts[update.item_id].add(update.text)

    ordinals: dict[tuple[str, str], int] = defaultdict(int)
    for index, row in enumerate(rows, start=1):
        key = (row.category, row.number)
        ordinals[key] += 1
        proposal = _upsert_proposal(
            session, proposals, row, report, year=year, now=now, actor=actor
        )
        item = _upsert_item(
            session,
            items,
            proposal,
            row,
            report,
            ordinal=ordinals[key],
            position=row.seq if row.seq is not None else index,
            now=now,
            actor=actor,
        )
        wanted_roles: dict[int, str] = {}
        for name in row.co_units:
            unit, created = units.get_or_create(name, now=now, actor=actor)
            report.units_created += created
            wanted_roles[unit.id] = Role.CO  # type: ignore[index]
        lead, created = units.get_or_create(row.lead_unit, now=now, actor=actor)
        report.units_created += created
        wanted_roles[lead.id] = Role.LEAD  # type: ignore[index]
        _sync_assignments(
            session,
            assignments[item.id],
            item,
            wanted_roles,
            report,
            now=now,
            actor=actor,  # type: ignore[index]
        )
        if not include_feedback or not row.feedback:
            pass
        elif is_interim_feedback(row.feedback):
            report.warnings.append(
                f"{report.path}:{row.line}: 落实情况反馈 is a compiled interim text "
                "(未反馈 or units' attributed inputs), not the lead unit's final feedback; "
                "not recorded"
            )
        elif row.feedback == item.final_text:
            pass  # the coordinator's own text, compiled into the table: not a unit's report
        elif row.feedback not in final_texts[item.id]:  # type: ignore[index]
            record_update(
                session,
                item=item,
                unit=lead,
                text=row.feedback,
                kind=UpdateKind.FINAL,
                reported_on=reported_on,
                source=UpdateSource.IMPORT,
                reported_by=actor,
                now=now,
            )
            final_texts[item.id].add(row.feedback)  # type: ignore[index]
            report.feedback_recorded += 1
        if progress is not None:
            progress(index, len(rows))


def _upsert_proposal(
    session: Session,
    proposals: dict[tuple[str, str], Proposal],
    row: TableRow,
    report: ImportReport,
    *,
    year: int,
    now: datetime,
    actor: str,
) -> Proposal:
    wanted = {name: getattr(row, name) for name in PROPOSAL_FIELDS}
    proposal = proposals.get((row.category, row.number))
    if proposal is None:
        proposal = Proposal(year=year, category=row.category, number=row.number, **wanted)
        session.add(proposal)
        session.flush()
        proposals[(row.category, row.number)] = proposal
        record_event(
            session,
            at=now,
            actor=actor,
            action="proposal.create",
            entity="proposal",
            entity_id=proposal.id,
            after=snapshot(proposal, ["year", "category", "number", *PROPOSAL_FIELDS]),
        )
        report.proposals_created += 1
        return proposal
    _update_fields(
        session, proposal, wanted, entity="proposal", now=now, actor=actor, report=report
    )
    return proposal


def _upsert_item(
    session: Session,
    items: dict[tuple[int, int], FollowUpItem],
    proposal: Proposal,
    row: TableRow,
    report: ImportReport,
    *,
    ordinal: int,
    position: int,
    now: datetime,
    actor: str,
) -> FollowUpItem:
    wanted = {"commitment": row.commitment, "position": position}
    item = items.get((proposal.id, ordinal))  # type: ignore[arg-type]
    if item is None:
        # A published table lists items already replied to and under follow-up (跟踪落实).
        item = FollowUpItem(
            proposal_id=proposal.id,  # type: ignore[arg-type]
            ordinal=ordinal,
            created_at=now,
            status=ItemStatus.FOLLOWING,
            **wanted,
        )
        session.add(item)
        session.flush()
        items[(proposal.id, ordinal)] = item  # type: ignore[index]
        record_event(
            session,
            at=now,
            actor=actor,
            action="followupitem.create",
            entity="followupitem",
            entity_id=item.id,
            after={"proposal_id": proposal.id, "ordinal": ordinal, **wanted},
        )
        report.items_created += 1
        return item
    _update_fields(
        session, item, wanted, entity="followupitem", now=now, actor=actor, report=report
    )
    return item


def _update_fields(
    session: Session,
    record: Proposal | FollowUpItem,
    wanted: dict[str, object],
    *,
    entity: str,
    now: datetime,
    actor: str,
    report: ImportReport,
) -> None:
    before = snapshot(record, list(wanted))
    if before == wanted:
        return
    changed = [name for name in wanted if before[name] != wanted[name]]
    for name in changed:
        setattr(record, name, wanted[name])
    session.add(record)
    record_event(
        session,
        at=now,
        actor=actor,
        action=f"{entity}.update",
        entity=entity,
        entity_id=record.id,
        before={name: before[name] for name in changed},
        after={name: wanted[name] for name in changed},
    )
    if entity == "proposal":
        report.proposals_updated += 1
    else:
        report.items_updated += 1


def _sync_assignments(
    session: Session,
    current: list[Assignment],
    item: FollowUpItem,
    wanted_roles: dict[int, str],
    report: ImportReport,
    *,
    now: datetime,
    actor: str,
) -> None:
    """Make the item's assignments match the row: add, re-role and remove, each with an event."""
    by_unit = {assignment.unit_id: assignment for assignment in current}
    for unit_id, role in wanted_roles.items():
        assignment = by_unit.get(unit_id)
        if assignment is None:
            resolved = item.status == ItemStatus.RESOLVED
            assignment = Assignment(
                item_id=item.id,  # type: ignore[arg-type]
                unit_id=unit_id,
                role=role,
                status=AssignmentStatus.CLOSED if resolved else AssignmentStatus.HANDLING,
                closed_on=item.closed_on,
                due_date=item.due_date,
            )
            session.add(assignment)
            session.flush()
            current.append(assignment)
            record_event(
                session,
                at=now,
                actor=actor,
                action="assignment.create",
                entity="assignment",
                entity_id=assignment.id,
                after=snapshot(assignment, ["item_id", "unit_id", "role"]),
            )
            report.assignments_changed += 1
        elif assignment.role != role:
            before = snapshot(assignment, ["role"])
            assignment.role = role
            session.add(assignment)
            record_event(
                session,
                at=now,
                actor=actor,
                action="assignment.update",
                entity="assignment",
                entity_id=assignment.id,
                before=before,
                after={"role": role},
            )
            report.assignments_changed += 1
    for assignment in list(current):
        if assignment.unit_id not in wanted_roles:
            imported = assignment.status in (AssignmentStatus.HANDLING, AssignmentStatus.CLOSED)
            if not imported or _has_reports(session, assignment):
                # Reassigned to, returned or reported on since: the workflow is newer news than
                # the table, so the assignment stays and the difference is only reported.
                name = session.get(Unit, assignment.unit_id).name  # type: ignore[union-attr]
                report.warnings.append(
                    f"item {item.id}: {name} is assigned ({assignment.status}) but not named "
                    "in the table; left as it is (see `duban show`)"
                )
                continue
            record_event(
                session,
                at=now,
                actor=actor,
                action="assignment.remove",
                entity="assignment",
                entity_id=assignment.id,
                before=snapshot(assignment, ["item_id", "unit_id", "role", "status"]),
                reason="no longer named in the imported table",
            )
            session.delete(assignment)
            current.remove(assignment)
            report.assignments_changed += 1


def _has_reports(session: Session, assignment: Assignment) -> bool:
    return (
        session.exec(
            select(ProgressUpdate.id).where(
                ProgressUpdate.item_id == assignment.item_id,
                ProgressUpdate.unit_id == assignment.unit_id,
            )
        ).first()
        is not None
    )
