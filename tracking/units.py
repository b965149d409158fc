"""Units: the directory that matches names and aliases, and the units file users edit.

The units file is TOML, one ``[[unit]]`` table per unit::

    [[unit]]
    name = "市民政局"
    aliases = ["沈阳市民政局"]
    emails = ["mzj@example.org"]
"""

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import update
from sqlmodel import Session, select

from tracking.audit import record_event, snapshot
from tracking.db import insert_returning_ids
from tracking.errors import InputError
from tracking.models import Assignment, Notification, ProgressUpdate, Role, Unit
from tracking.names import squeeze

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class UnitDirectory:
    """Every unit, found by its name or any alias, ignoring white space."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._by_key: dict[str, Unit] = {}
        for unit in session.exec(select(Unit)):
            self._remember(unit)

    def _remember(self, unit: Unit) -> None:
        for name in (unit.name, *unit.aliases):
            self._by_key.setdefault(squeeze(name), unit)

    def find(self, name: str) -> Unit | None:
        return self._by_key.get(squeeze(name))

    def get_or_create(self, name: str, *, now: datetime, actor: str) -> tuple[Unit, bool]:
        """The unit called ``name``, created (with an event) when no unit or alias matches."""
        unit = self.find(name)
        if unit is not None:
            return unit, False
        unit = Unit(name=squeeze(name))
        self._session.add(unit)
        self._session.flush()
        record_event(
            self._session,
            at=now,
            actor=actor,
            action="unit.create",
            entity="unit",
            entity_id=unit.id,
            after=snapshot(unit, ["name"]),
        )
        self._remember(unit)
        return unit, True


def unit_ids_by_name(session: Session) -> dict[str, int]:
    """Every unit's id under its name and each alias, without white space: what
    :meth:`UnitDirectory.find` matches, read as columns rather than units (for an import)."""
    ids: dict[str, int] = {}
    for unit_id, name, aliases in session.execute(select(Unit.id, Unit.name, Unit.aliases)):
        for key in (name, *aliases):
            ids.setdefault(squeeze(key), unit_id)
    return ids


def insert_units(session: Session, names: list[str]) -> dict[str, int]:
    """Create a unit called each of ``names`` (new names, without white space) in one statement,
    with the values ``Unit(name=name)`` has; their ids by name. The caller writes the events."""
    ids = insert_returning_ids(
        session, Unit, [_new_unit_values(name) for name in names], key=["name"]
    )
    return {name: unit_id for (name,), unit_id in ids.items()}


def _new_unit_values(name: str) -> dict[str, object]:
    return {
        "name": name,
        "aliases": [],
        "emails": [],
        "deputy_email": None,
        "head_email": None,
        "webhook": None,  # given: a JSON column stores None as JSON null, as the model does
        "snoozed_until": None,
        "snooze_reason": "",
        "link_version": 1,
        "version": 1,
    }


class WebhookEntry(BaseModel):
    """A group robot the unit's reminders also go to."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["wecom", "dingtalk", "feishu", "json"]
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None

    @model_validator(mode="after")
    def _signing(self) -> "WebhookEntry":
        if self.kind == "wecom" and self.secret:
            raise ValueError("a WeCom group robot is not signed: remove the secret")
        return self


class UnitEntry(BaseModel):
    """One ``[[unit]]`` of the units file, validated at the boundary."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list, description="The liaison's (联络员).")
    deputy: str | None = Field(None, description="The deputy's e-mail: a bounce falls back here.")
    head: str | None = Field(None, description="The head's e-mail: escalations go here.")
    webhook: WebhookEntry | None = None

    @field_validator("emails")
    @classmethod
    def _addresses(cls, emails: list[str]) -> list[str]:
        for address in emails:
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return emails

    @field_validator("deputy", "head")
    @classmethod
    def _address(cls, address: str | None) -> str | None:
        if address is not None and not _EMAIL.match(address):
            raise ValueError(f"{address!r} is not an e-mail address")
        return address


@dataclass(frozen=True)
class UnitsLoadReport:
    created: int
    updated: int
    unchanged: int


def read_units_file(path: Path) -> list[UnitEntry]:
    """The units in ``path``; every problem is reported as ``file: unit[N].field: reason``."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the units file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"unit"}
    if unknown:
        raise InputError(f"{path}: unknown top-level keys {sorted(unknown)}; expected [[unit]]")
    raw_units = data.get("unit", [])
    if not isinstance(raw_units, list):
        raise InputError(f"{path}: 'unit' must be an array of tables ([[unit]])")

    entries: list[UnitEntry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_units, start=1):
        try:
            entry = UnitEntry.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                problems.append(f"{path}: unit[{index}].{field}: {message}")
            continue
        named = [("name", entry.name), *(("aliases", alias) for alias in entry.aliases)]
        for field, name in named:
            key = squeeze(name)
            if key in seen:
                problems.append(
                    f"{path}: unit[{index}].{field}: {name!r} is already used by unit[{seen[key]}]"
                )
            seen[key] = index
        entries.append(entry)
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s); nothing was loaded", problems)
    return entries


def load_units(
    session: Session, entries: Iterable[UnitEntry], *, now: datetime, actor: str
) -> UnitsLoadReport:
    """Create or update units from the file's entries; a unit the table created gets contacts.

    When the file says two recorded units are one (a table wrote 市卫健委 on one row and
    市卫生健康委 on another), they are merged into the unit the file names.
    """
    created = updated = unchanged = 0
    for entry in entries:
        directory = UnitDirectory(session)
        matches = _distinct(
            found for name in (entry.name, *entry.aliases) if (found := directory.find(name))
        )
        wanted = {
            "name": squeeze(entry.name),
            "aliases": [squeeze(alias) for alias in entry.aliases],
            "emails": list(entry.emails),
            "deputy_email": entry.deputy,
            "head_email": entry.head,
            "webhook": entry.webhook.model_dump(exclude_none=True) if entry.webhook else None,
        }
        if not matches:
            unit = Unit(**wanted)
            session.add(unit)
            session.flush()
            record_event(
                session,
                at=now,
                actor=actor,
                action="unit.create",
                entity="unit",
                entity_id=unit.id,
                after=_redacted(snapshot(unit, list(wanted))),
            )
            created += 1
            continue
        unit, others = matches[0], matches[1:]
        for other in others:
            merge_units(session, other, into=unit, now=now, actor=actor)
        before = snapshot(unit, list(wanted))
        if before == wanted and not others:
            unchanged += 1
            continue
        for key, value in wanted.items():
            setattr(unit, key, value)
        session.add(unit)
        record_event(
            session,
            at=now,
            actor=actor,
            action="unit.update",
            entity="unit",
            entity_id=unit.id,
            before=_redacted(before),
            after=_redacted(wanted),
        )
        updated += 1
    return UnitsLoadReport(created=created, updated=updated, unchanged=unchanged)


def _redacted(values: dict[str, object]) -> dict[str, object]:
    """The values for the audit trail: a webhook's secret and URL token are not kept there."""
    webhook = values.get("webhook")
    if not isinstance(webhook, dict):
        return values
    return {**values, "webhook": {"kind": webhook.get("kind"), "url": "(set)", "secret": "(set)"}}


def merge_units(session: Session, other: Unit, *, into: Unit, now: datetime, actor: str) -> None:
    """Move ``other``'s assignments, reports and messages to ``into``, then delete ``other``.

    Where both are assigned the same item, one assignment stays: the lead's if either leads.
    """
    kept = {
        a.item_id: a for a in session.exec(select(Assignment).where(Assignment.unit_id == into.id))
    }
    for assignment in session.exec(select(Assignment).where(Assignment.unit_id == other.id)):
        twin = kept.get(assignment.item_id)
        if twin is None:
            assignment.unit_id = into.id  # type: ignore[assignment]
            session.add(assignment)
            continue
        if assignment.role == Role.LEAD:
            twin.role = Role.LEAD
            session.add(twin)
        session.delete(assignment)
    for model in (ProgressUpdate, Notification):
        session.execute(
            update(model).where(model.unit_id == other.id).values(unit_id=into.id)  # type: ignore[attr-defined]
        )
    session.flush()
    record_event(
        session,
        at=now,
        actor=actor,
        action="unit.merge",
        entity="unit",
        entity_id=into.id,
        before=snapshot(other, ["name", "aliases", "emails"]),
        reason=f"the units file names {other.name} as {into.name}",
    )
    session.delete(other)
    session.flush()


def _distinct(units: Iterable[Unit]) -> list[Unit]:
    seen: dict[int | None, Unit] = {}
    for unit in units:
        seen.setdefault(unit.id, unit)
    return list(seen.values())


def units_without_contact(session: Session) -> list[Unit]:
    return [unit for unit in session.exec(select(Unit).order_by(Unit.name)) if not unit.emails]
