"""``duban import``: a published summary table into proposals, follow-up items and assignments.

All or nothing: every row is checked before anything is written, and the writes happen in one
transaction. Re-importing the same file changes nothing; a corrected file updates in place, keyed
on (year, category, number) and the item's place among its proposal's rows, with an event for
every change.

Writing goes by chunks of rows, as bulk statements: the year's records are read as ids and the
few columns rows are compared with, a chunk's new records are inserted in a handful of multi-row
``INSERT … RETURNING`` statements, and its events follow in one ``executemany``, in the order of
the rows. Nothing per row is kept once its chunk is written.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from tracking.collector import collector_paused
from tracking.db import insert_returning_ids, transaction
from tracking.errors import InputError
from tracking.feedback import is_interim_feedback
from tracking.models import (
    Assignment,
    AssignmentStatus,
    Event,
    FollowUpItem,
    ItemStatus,
    ProgressUpdate,
    Proposal,
    Role,
    Unit,
    UpdateKind,
    UpdateSource,
)
from tracking.names import squeeze
from tracking.table_reader import read_table
from tracking.table_schema import TableRow, check_rows, find_header, missing_header_message
from tracking.units import insert_units, unit_ids_by_name
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


def check_table(
    path: Path, *, feedback: bool = True
) -> tuple[list[TableRow], list[str], list[str]]:
    """The file's valid rows, its problems and its repairs, without touching the database.

    Without ``feedback`` the rows leave the 落实情况反馈 column out (empty): the longest texts of
    a table, most of its size, are then not held while the rows are imported.
    """
    table = read_table(path)
    rows = list(table.rows)
    header = find_header(rows)
    if header is None:
        raise InputError(missing_header_message(path))
    header_index, columns = header
    if not feedback:
        columns.pop("feedback", None)
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
    with collector_paused():
        rows, problems, warnings = check_table(path, feedback=include_feedback)
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


# Rows planned, inserted and given their events together: a handful of statements per chunk
# rather than per row, and nothing per row is held once its chunk is written.
CHUNK_ROWS = 1000


class _Ref:
    """A record's id: read from the database, or learnt when its chunk's insert returns it."""

    __slots__ = ("id",)

    def __init__(self, record_id: int | None = None) -> None:
        self.id = record_id


class _Proposal(_Ref):
    """A proposal of the year: its id, its fields as recorded or as this import last set them
    (in PROPOSAL_FIELDS order), and how many of its rows this import has read so far."""

    __slots__ = ("fields", "rows_read")

    def __init__(self, record_id: int | None, fields: tuple[Any, ...]) -> None:
        super().__init__(record_id)
        self.fields = fields
        self.rows_read = 0


class _StoredItem(NamedTuple):
    """The columns of an item already recorded that a row is compared with or copies."""

    id: int
    commitment: str
    position: int
    status: str
    closed_on: date | None
    due_date: date | None
    final_text: str | None


class _StoredAssignment(NamedTuple):
    id: int
    unit_id: int
    role: str
    status: str


@dataclass(frozen=True, slots=True)
class _Feedback:
    """A lead unit's final report, recorded (through record_update) in its place among events."""

    item: _Ref
    unit: _Ref
    text: str


# The values that may refer to a record made in the same chunk, before its id is known.
_REFERENCES = ("proposal_id", "item_id", "unit_id")

# action, entity, the record, before, after, reason: an Event whose ids may not be known yet.
_PendingEvent = tuple[str, str, _Ref, dict[str, Any] | None, dict[str, Any] | None, str]


@dataclass
class _Chunk:
    """The new records of a run of rows, and its events and final reports in row order."""

    proposals: dict[_Ref, dict[str, Any]] = field(default_factory=dict)
    items: list[tuple[_Ref, dict[str, Any]]] = field(default_factory=list)
    units: list[tuple[_Ref, str]] = field(default_factory=list)
    assignments: list[tuple[_Ref, dict[str, Any]]] = field(default_factory=list)
    steps: list[_PendingEvent | _Feedback] = field(default_factory=list)

    def event(
        self,
        action: str,
        entity: str,
        record: _Ref,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str = "",
    ) -> None:
        self.steps.append((action, entity, record, before, after, reason))


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
    """Apply the rows a chunk at a time: plan each row against what is recorded, insert the
    chunk's new records in a few multi-row statements, then write its events in row order."""
    year_import = _YearImport(
        session,
        report,
        year=year,
        reported_on=reported_on,
        now=now,
        include_feedback=include_feedback,
        actor=actor,
    )
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = _Chunk()
        for index, row in enumerate(rows[start : start + CHUNK_ROWS], start=start + 1):
            year_import.plan_row(chunk, row, index=index)
        year_import.write(chunk)
        if progress is not None:
            progress(min(start + CHUNK_ROWS, len(rows)), len(rows))


class _YearImport:
    """What the year holds, as ids and the columns rows are compared with (not records), kept
    up to date as rows are planned.

    A new proposal, item, unit or assignment is inserted with its chunk and its create event
    written after it, with the values the model's constructor would give it. A changed record
    (a corrected re-import touches few) is loaded and changed through the session, so that
    its version is checked and bumped as any other write's is.
    """

    def __init__(
        self,
        session: Session,
        report: ImportReport,
        *,
        year: int,
        reported_on: date,
        now: datetime,
        include_feedback: bool,
        actor: str,
    ) -> None:
        self.session = session
        self.report = report
        self.year = year
        self.reported_on = reported_on
        self.now = now
        self.include_feedback = include_feedback
        self.actor = actor
        self.proposals = _read_proposals(session, year)
        self.items = _read_items(session, year)
        self.assignments = _read_assignments(session, year)
        self.final_texts = _read_final_texts(session, year) if include_feedback else {}
        refs: dict[int, _Ref] = {}
        self.units = {
            name: refs.setdefault(unit_id, _Ref(unit_id))
            for name, unit_id in unit_ids_by_name(session).items()
        }

    # --- planning: one row against what is recorded ----------------------------------------

    def plan_row(self, chunk: _Chunk, row: TableRow, *, index: int) -> None:
        proposal = self._plan_proposal(chunk, row)
        proposal.rows_read += 1  # an item's ordinal is its place among its proposal's rows
        item, stored = self._plan_item(
            chunk,
            proposal,
            row,
            ordinal=proposal.rows_read,
            position=row.seq if row.seq is not None else index,
        )
        wanted_roles: dict[_Ref, str] = {}
        for name in row.co_units:
            wanted_roles[self._unit(chunk, name)] = Role.CO
        lead = self._unit(chunk, row.lead_unit)
        wanted_roles[lead] = Role.LEAD
        self._plan_assignments(chunk, item, stored, wanted_roles)
        self._plan_feedback(chunk, row, item, stored, lead)

    def _plan_proposal(self, chunk: _Chunk, row: TableRow) -> _Proposal:
        key = (row.category, row.number)
        wanted = tuple(getattr(row, name) for name in PROPOSAL_FIELDS)
        proposal = self.proposals.get(key)
        if proposal is None:
            proposal = self.proposals[key] = _Proposal(None, wanted)
            values = {"year": self.year, "category": row.category, "number": row.number}
            values |= dict(zip(PROPOSAL_FIELDS, wanted, strict=True))
            chunk.proposals[proposal] = values
            chunk.event("proposal.create", "proposal", proposal, after=dict(values))
            self.report.proposals_created += 1
            return proposal
        if proposal.fields != wanted:
            self._update(
                chunk,
                Proposal,
                proposal,
                "proposal",
                before=dict(zip(PROPOSAL_FIELDS, proposal.fields, strict=True)),
                wanted=dict(zip(PROPOSAL_FIELDS, wanted, strict=True)),
            )
            proposal.fields = wanted
            self.report.proposals_updated += 1
        return proposal

    def _plan_item(
        self, chunk: _Chunk, proposal: _Ref, row: TableRow, *, ordinal: int, position: int
    ) -> tuple[_Ref, _StoredItem | None]:
        wanted = {"commitment": row.commitment, "position": position}
        stored = self.items.pop((proposal.id, ordinal), None) if proposal.id else None
        if stored is None:
            # A published table lists items already replied to and under follow-up (跟踪落实).
            ref = _Ref()
            chunk.items.append((ref, _new_item_values(proposal, ordinal, now=self.now, **wanted)))
            chunk.event(
                "followupitem.create",
                "followupitem",
                ref,
                after={"proposal_id": proposal, "ordinal": ordinal, **wanted},
            )
            self.report.items_created += 1
            return ref, None
        ref = _Ref(stored.id)
        before = {"commitment": stored.commitment, "position": stored.position}
        if before != wanted:
            self._update(chunk, FollowUpItem, ref, "followupitem", before=before, wanted=wanted)
            self.report.items_updated += 1
        return ref, stored

    def _update(
        self,
        chunk: _Chunk,
        model: type[Proposal] | type[FollowUpItem],
        ref: _Ref,
        entity: str,
        *,
        before: dict[str, Any],
        wanted: dict[str, Any],
    ) -> None:
        changed = [name for name in wanted if before[name] != wanted[name]]
        pending = chunk.proposals.get(ref)
        if pending is not None:
            # Made by an earlier row of this chunk and not inserted yet: insert it as changed.
            pending.update((name, wanted[name]) for name in changed)
        else:
            record = self.session.get_one(model, ref.id)
            for name in changed:
                setattr(record, name, wanted[name])
            self.session.add(record)
        chunk.event(
            f"{entity}.update",
            entity,
            ref,
            before={name: before[name] for name in changed},
            after={name: wanted[name] for name in changed},
        )

    def _unit(self, chunk: _Chunk, name: str) -> _Ref:
        """The unit called ``name`` (or with that alias), created when none is."""
        key = squeeze(name)
        ref = self.units.get(key)
        if ref is None:
            ref = self.units[key] = _Ref()
            chunk.units.append((ref, key))
            chunk.event("unit.create", "unit", ref, after={"name": key})
            self.report.units_created += 1
        return ref

    def _plan_assignments(
        self,
        chunk: _Chunk,
        item: _Ref,
        stored: _StoredItem | None,
        wanted_roles: dict[_Ref, str],
    ) -> None:
        """Make the item's assignments match the row: add, re-role and remove, each with an
        event."""
        current = self.assignments.pop(item.id, []) if stored is not None else []
        by_unit = {assignment.unit_id: assignment for assignment in current}
        for unit, role in wanted_roles.items():
            assignment = by_unit.get(unit.id)  # None for a unit this import makes
            if assignment is None:
                self._new_assignment(chunk, item, stored, unit, role)
            elif assignment.role != role:
                record = self.session.get_one(Assignment, assignment.id)
                record.role = role
                self.session.add(record)
                chunk.event(
                    "assignment.update",
                    "assignment",
                    _Ref(assignment.id),
                    before={"role": assignment.role},
                    after={"role": role},
                )
                self.report.assignments_changed += 1
        wanted_ids = {unit.id for unit in wanted_roles}
        for assignment in current:
            if assignment.unit_id not in wanted_ids:
                self._remove_assignment(chunk, item, assignment)

    def _new_assignment(
        self, chunk: _Chunk, item: _Ref, stored: _StoredItem | None, unit: _Ref, role: str
    ) -> None:
        resolved = stored is not None and stored.status == ItemStatus.RESOLVED
        ref = _Ref()
        values = {
            "item_id": item,
            "unit_id": unit,
            "role": role,
            "status": AssignmentStatus.CLOSED if resolved else AssignmentStatus.HANDLING,
            "due_date": stored.due_date if stored else None,
            "closed_on": stored.closed_on if stored else None,
            "version": 1,
        }
        chunk.assignments.append((ref, values))
        chunk.event(
            "assignment.create",
            "assignment",
            ref,
            after={"item_id": item, "unit_id": unit, "role": role},
        )
        self.report.assignments_changed += 1

    def _remove_assignment(self, chunk: _Chunk, item: _Ref, assignment: _StoredAssignment) -> None:
        imported = assignment.status in (AssignmentStatus.HANDLING, AssignmentStatus.CLOSED)
        if not imported or self._has_reports(item, assignment):
            # Reassigned to, returned or reported on since: the workflow is newer news than
            # the table, so the assignment stays and the difference is only reported.
            name = self.session.get_one(Unit, assignment.unit_id).name
            self.report.warnings.append(
                f"item {item.id}: {name} is assigned ({assignment.status}) but not named "
                "in the table; left as it is (see `duban show`)"
            )
            return
        chunk.event(
            "assignment.remove",
            "assignment",
            _Ref(assignment.id),
            before={
                "item_id": item.id,
                "unit_id": assignment.unit_id,
                "role": assignment.role,
                "status": assignment.status,
            },
            reason="no longer named in the imported table",
        )
        self.session.delete(self.session.get_one(Assignment, assignment.id))
        self.report.assignments_changed += 1

    def _has_reports(self, item: _Ref, assignment: _StoredAssignment) -> bool:
        return (
            self.session.exec(
                select(ProgressUpdate.id).where(
                    ProgressUpdate.item_id == item.id,
                    ProgressUpdate.unit_id == assignment.unit_id,
                )
            ).first()
            is not None
        )

    def _plan_feedback(
        self, chunk: _Chunk, row: TableRow, item: _Ref, stored: _StoredItem | None, lead: _Ref
    ) -> None:
        if not self.include_feedback or not row.feedback:
            return
        if is_interim_feedback(row.feedback):
            self.report.warnings.append(
                f"{self.report.path}:{row.line}: 落实情况反馈 is a compiled interim text "
                "(未反馈 or units' attributed inputs), not the lead unit's final feedback; "
                "not recorded"
            )
            return
        if stored is not None:
            if row.feedback == stored.final_text:
                return  # the coordinator's own text, compiled into the table: not a unit's report
            if row.feedback in self.final_texts.pop(stored.id, ()):
                return
        chunk.steps.append(_Feedback(item, lead, row.feedback))
        self.report.feedback_recorded += 1

    # --- writing: one chunk's new records, then its events and reports in row order ---------

    def write(self, chunk: _Chunk) -> None:
        _insert(self.session, Proposal, chunk.proposals.items(), key=("year", "category", "number"))
        _insert(self.session, FollowUpItem, chunk.items, key=("proposal_id", "ordinal"))
        unit_ids = insert_units(self.session, [name for _, name in chunk.units])
        for ref, name in chunk.units:
            ref.id = unit_ids[name]
        _insert(self.session, Assignment, chunk.assignments, key=("item_id", "unit_id"))

        events: list[dict[str, Any]] = []
        for step in chunk.steps:
            if isinstance(step, _Feedback):
                self._write_events(events)
                events = []
                self._record_feedback(step)
            else:
                events.append(self._event_values(step))
        self._write_events(events)

    def _event_values(self, event: _PendingEvent) -> dict[str, Any]:
        action, entity, record, before, after, reason = event
        return {
            "at": self.now,
            "actor": self.actor,
            "action": action,
            "entity": entity,
            "entity_id": record.id,
            "before": before,
            "after": None if after is None else _resolved(after),
            "reason": reason,
        }

    def _write_events(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        # The events record_update added through the session go first, so that event ids
        # keep the order in which the changes were made.
        self.session.flush()
        self.session.execute(insert(Event.__table__), events)  # Core: one executemany

    def _record_feedback(self, feedback: _Feedback) -> None:
        record_update(
            self.session,
            item=self.session.get_one(FollowUpItem, feedback.item.id),
            unit=self.session.get_one(Unit, feedback.unit.id),
            text=feedback.text,
            kind=UpdateKind.FINAL,
            reported_on=self.reported_on,
            source=UpdateSource.IMPORT,
            reported_by=self.actor,
            now=self.now,
        )


def _new_item_values(
    proposal: _Ref, ordinal: int, *, commitment: str, position: int, now: datetime
) -> dict[str, Any]:
    """What ``FollowUpItem(...)`` holds for an item a table lists: under follow-up (跟踪落实).
    The columns left out are NULL, as the model's None."""
    return {
        "proposal_id": proposal,
        "ordinal": ordinal,
        "position": position,
        "commitment": commitment,
        "status": ItemStatus.FOLLOWING,
        "created_at": now,
        "version": 1,
    }


def _resolved(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a chunk's own dict, changed in place) with the records it refers to as ids."""
    for name in _REFERENCES:
        value = values.get(name)
        if isinstance(value, _Ref):
            values[name] = value.id
    return values


def _insert(
    session: Session,
    model: type[Proposal] | type[FollowUpItem] | type[Assignment],
    records: Iterable[tuple[_Ref, dict[str, Any]]],
    *,
    key: tuple[str, ...],
) -> None:
    """Insert the new records in one go and give each its id (found by ``key``, a unique key)."""
    rows = [(ref, _resolved(values)) for ref, values in records]
    ids = insert_returning_ids(session, model, [values for _, values in rows], key=key)
    for ref, values in rows:
        ref.id = ids[tuple(values[name] for name in key)]


def _read_proposals(session: Session, year: int) -> dict[tuple[str, str], _Proposal]:
    columns = [getattr(Proposal, name) for name in PROPOSAL_FIELDS]
    rows = session.execute(
        select(Proposal.id, Proposal.category, Proposal.number, *columns).where(
            Proposal.year == year
        )
    )
    return {
        (category, number): _Proposal(proposal_id, tuple(fields))
        for proposal_id, category, number, *fields in rows
    }


def _read_items(session: Session, year: int) -> dict[tuple[int, int], _StoredItem]:
    rows = session.execute(
        select(
            FollowUpItem.proposal_id,
            FollowUpItem.ordinal,
            FollowUpItem.id,
            FollowUpItem.commitment,
            FollowUpItem.position,
            FollowUpItem.status,
            FollowUpItem.closed_on,
            FollowUpItem.due_date,
            FollowUpItem.final_text,
        )
        .join(Proposal)
        .where(Proposal.year == year)
    )
    return {(proposal_id, ordinal): _StoredItem(*rest) for proposal_id, ordinal, *rest in rows}


def _read_assignments(session: Session, year: int) -> dict[int, list[_StoredAssignment]]:
    """Each of the year's items' assignments, in the order they were made."""
    assignments: dict[int, list[_StoredAssignment]] = defaultdict(list)
    rows = session.execute(
        select(
            Assignment.item_id,
            Assignment.id,
            Assignment.unit_id,
            Assignment.role,
            Assignment.status,
        )
        .join(FollowUpItem)
        .join(Proposal)
        .where(Proposal.year == year)
        .order_by(Assignment.id)
    )
    for item_id, *rest in rows:
        assignments[item_id].append(_StoredAssignment(*rest))
    return assignments


def _read_final_texts(session: Session, year: int) -> dict[int, set[str]]:
    """The texts of the final reports on each of the year's items."""
    texts: dict[int, set[str]] = defaultdict(set)
    rows = session.execute(
        select(ProgressUpdate.item_id, ProgressUpdate.text)
        .join(FollowUpItem)
        .join(Proposal)
        .where(Proposal.year == year, ProgressUpdate.kind == UpdateKind.FINAL)
    )
    for item_id, text in rows:
        texts[item_id].add(text)
    return texts
