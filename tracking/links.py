"""A unit's web links: revoking every link it was given (the signing is the web side's)."""

from datetime import datetime

from sqlmodel import Session

from tracking.audit import record_event, snapshot
from tracking.errors import InputError
from tracking.models import Unit


def revoke_unit_link(session: Session, unit: Unit, now: datetime, actor: str, reason: str) -> int:
    """Stop every link issued to ``unit`` so far: its link version goes up by one, and a link
    signed with an older version is refused from now on. The next digest carries a new link.
    Returns the new version."""
    if not reason.strip():
        raise InputError("say why the unit's links are revoked (--reason)")
    before = snapshot(unit, ["link_version"])
    unit.link_version += 1
    session.add(unit)
    record_event(
        session,
        at=now,
        actor=actor,
        action="unit.link_revoke",
        entity="unit",
        entity_id=unit.id,
        before=before,
        after=snapshot(unit, ["link_version"]),
        reason=reason.strip(),
    )
    return unit.link_version
