"""Events: one audit row per change, with the values before and after."""

from datetime import date, datetime
from typing import Any

from sqlmodel import Session, SQLModel, select

from tracking.models import Event


def snapshot(record: SQLModel, fields: list[str]) -> dict[str, Any]:
    """The named fields of ``record`` as JSON-ready values."""
    return {name: _jsonable(getattr(record, name)) for name in fields}


def record_event(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> Event:
    event = Event(
        at=at,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        after=after,
        reason=reason,
    )
    session.add(event)
    return event


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def latest_events(session: Session, *, actions: list[str]) -> dict[str, Event]:
    """The most recent event of each of ``actions`` that has one."""
    latest: dict[str, Event] = {}
    rows = session.exec(
        select(Event)
        .where(Event.action.in_(actions))  # type: ignore[attr-defined]
        .order_by(Event.at.desc(), Event.id.desc())  # type: ignore[attr-defined,union-attr]
    )
    for event in rows:
        latest.setdefault(event.action, event)
        if len(latest) == len(actions):
            break
    return latest
