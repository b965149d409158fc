"""Two people changing the same record: the second is told, never silently overwrites the first.

Units, items and assignments carry a version (tracking.models.version_field). SQLAlchemy checks
it on every UPDATE and DELETE and raises StaleDataError when the row moved on since it was read;
:func:`tracking.db.transaction` turns that into a ConflictError naming the record, with the
versions :func:`remember_versions` noted before each flush. A caller that knows which version a
person saw (a web form) passes it as ``expected_version`` and :func:`check_version` compares.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlmodel import Session, SQLModel, select

from tracking.errors import ConflictError
from tracking.models import Assignment, FollowUpItem, Proposal, Unit

_SEEN = "duban.versions_seen"


@dataclass(frozen=True)
class Seen:
    """A versioned record as this transaction first wrote it: its class, id and version."""

    model: type[SQLModel]
    id: Any
    version: int | None


def remember_versions(session: Session, _context: Any = None, _instances: Any = None) -> None:
    """Before a flush: note the version each changed or deleted record was read at (the first
    time only: a later flush in the same transaction sees its own bump)."""
    seen: dict[tuple[type, Any], Seen] = session.info.setdefault(_SEEN, {})
    for record in (*session.dirty, *session.deleted):
        state = inspect(record)
        if state.mapper.version_id_col is None or state.identity is None:
            continue
        key = (type(record), state.identity)
        if key not in seen:
            version = state.committed_state.get("version", state.dict.get("version"))
            seen[key] = Seen(type(record), state.identity[0], version)


def stale_message(session: Session, failed: Session) -> str:
    """What to tell the person whose write in ``failed`` hit a newer version: ``session`` is a
    fresh one to read the records' present versions (the failed one was rolled back)."""
    seen = list(failed.info.get(_SEEN, {}).values())
    now = {s: _version_now(session, s) for s in seen}
    changed = [s for s in seen if now[s] != s.version] or seen
    if not changed:
        return "a record was changed by another user meanwhile; reload and try again"
    what = (
        f"{describe(session, s.model, s.id)} was "
        f"{'deleted' if now[s] is None else 'changed'} by another user meanwhile"
        for s in changed
    )
    return "; ".join(what) + "; reload and try again"


def check_version(
    session: Session, record: FollowUpItem | Assignment | Unit, expected_version: int | None
) -> None:
    """ConflictError unless ``record`` is still at the version the person saw (None: no check)."""
    if expected_version is None or record.version == expected_version:
        return
    raise ConflictError(
        f"{describe(session, type(record), record.id)} was changed by another user meanwhile "
        f"(you saw version {expected_version}, it is now at {record.version}); "
        "reload and try again"
    )


def describe(session: Session, model: type[SQLModel], record_id: Any) -> str:
    """A record as people name it: ``item 12 (2022 政协提案 015)``, ``unit 市民政局``."""
    if model is FollowUpItem:
        return _item_label(session, record_id)
    if model is Assignment:
        assignment = session.get(Assignment, record_id)
        if assignment is None:
            return f"assignment {record_id}"
        unit = session.get(Unit, assignment.unit_id)
        owner = unit.name if unit else f"unit {assignment.unit_id}"
        return f"{owner}'s part of {_item_label(session, assignment.item_id)}"
    if model is Unit:
        unit = session.get(Unit, record_id)
        return f"unit {unit.name}" if unit else f"unit {record_id}"
    return f"{model.__name__.lower()} {record_id}"


def _item_label(session: Session, item_id: Any) -> str:
    found = session.exec(
        select(Proposal)
        .join(FollowUpItem, FollowUpItem.proposal_id == Proposal.id)  # type: ignore[arg-type]
        .where(FollowUpItem.id == item_id)
    ).first()
    if found is None:
        return f"item {item_id}"
    return f"item {item_id} ({found.year} {found.category} {found.number})"


def _version_now(session: Session, seen: Seen) -> int | None:
    model: Any = seen.model
    return session.exec(select(model.version).where(model.id == seen.id)).first()
