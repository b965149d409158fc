"""duban's records. Plain data: the rules and the import, chase and compile code act on them.

Datetimes are zone-aware and come back in UTC (SQLModel's UTCDateTime); dates (report dates,
deadlines) are the local calendar dates users speak in. No ``from __future__ import annotations``
here: it breaks SQLModel's relationship and column inference.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint, text
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel


class Category(StrEnum):
    NPC_SUGGESTION = "人大建议"
    CPPCC_PROPOSAL = "政协提案"


class ItemStatus(StrEnum):
    """An item's place in the handling workflow (see tracking.workflow for the moves)."""

    ASSIGNED = "assigned"  # 待签收
    HANDLING = "handling"  # 办理中
    REPLIED = "replied"  # 已答复
    FOLLOWING = "following"  # 跟踪落实
    RESOLVED = "resolved"  # 已落实
    RETURNED = "returned"  # 退回
    REOPENED = "reopened"  # 重新办理


class Role(StrEnum):
    LEAD = "lead"
    CO = "co"


class AssignmentStatus(StrEnum):
    """One unit's part of an item."""

    ASSIGNED = "assigned"  # 待签收
    HANDLING = "handling"  # 办理中
    REPORTED = "reported"  # 已答复 (lead) / 已提交意见 (co)
    RETURNED = "returned"  # 退回: the unit says it was mis-assigned
    CLOSED = "closed"  # 已办结: the item is resolved
    REASSIGNED = "reassigned"  # 已调整: the coordinator gave this part to another unit


class UpdateKind(StrEnum):
    PROGRESS = "progress"
    REPLY = "reply"  # the lead's reply to the deputy or member (答复), or a second reply
    FINAL = "final"


class UpdateSource(StrEnum):
    CLI = "cli"
    IMPORT = "import"
    WEB = "web"
    SPREADSHEET = "spreadsheet"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # A newer message of the same kind to the same unit replaced this undelivered one.
    SUPERSEDED = "superseded"


def version_field() -> Any:
    """The row's version: SQLAlchemy adds ``AND version = <loaded>`` to every UPDATE and DELETE
    and bumps it, so a change made from a stale copy fails (StaleDataError, which
    tracking.db.transaction turns into a ConflictError) instead of overwriting another's."""
    return Field(default=1, sa_column_kwargs={"server_default": text("1")})


@declared_attr.directive
def versioned(cls: Any) -> dict[str, Any]:
    """``__mapper_args__`` of a table with a :func:`version_field`."""
    return {"version_id_col": cls.__table__.c.version}


class Proposal(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("year", "category", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    category: str = Field(max_length=16)
    number: str = Field(max_length=32)
    lead_representative: str = Field(default="", max_length=64)
    signer_count: int | None = None
    title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    handling_type: str = Field(default="主办", max_length=16)


class Unit(SQLModel, table=True):
    __mapper_args__ = versioned

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    emails: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False),
        description="The liaison's (联络员) addresses: reminders go here first.",
    )
    deputy_email: str | None = Field(default=None, max_length=254)
    head_email: str | None = Field(default=None, max_length=254)
    webhook: dict[str, str] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="kind, url, secret"
    )
    snoozed_until: date | None = None
    snooze_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    link_version: int = Field(
        default=1,
        sa_column_kwargs={"server_default": text("1")},
        description="Signed into the unit's web link; raising it revokes every link issued.",
    )
    version: int = version_field()


class FollowUpItem(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("proposal_id", "ordinal"),)
    __mapper_args__ = versioned

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    ordinal: int = Field(default=1, description="Its place among its proposal's items.")
    position: int = Field(default=0, description="Its 序号 in the year's summary table.")
    commitment: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=ItemStatus.ASSIGNED, max_length=16, index=True)
    due_date: date | None = Field(default=None, description="A date the coordinator set by hand.")
    assigned_on: date | None = Field(default=None, description="交办: deadlines count from it.")
    reply_class: str | None = Field(default=None, max_length=8)
    replied_on: date | None = None
    rating: str | None = Field(default=None, max_length=8)
    rated_on: date | None = None
    created_at: datetime
    closed_at: datetime | None = None
    closed_on: date | None = Field(default=None, description="Date of the closing report.")
    final_text: str | None = Field(
        default=None,
        sa_column=Column(Text, nullable=True),
        description="A coordinator's own 落实情况反馈; wins over the compiled text.",
    )
    version: int = version_field()


class Assignment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("item_id", "unit_id"),)
    __mapper_args__ = versioned

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="followupitem.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: str = Field(max_length=8)
    status: str = Field(default=AssignmentStatus.ASSIGNED, max_length=16)
    due_date: date | None = None
    last_reported_on: date | None = None
    closed_on: date | None = None
    version: int = version_field()


class ProgressUpdate(SQLModel, table=True):
    """Append-only: a correction is a new row, never an edit."""

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="followupitem.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(max_length=16)
    reported_on: date
    reported_by: str = Field(default="", max_length=128)
    source: str = Field(max_length=16)
    recorded_at: datetime
    claim: str | None = Field(
        default=None, max_length=16, description="The unit's own word on the item: 推进中, 已完成…"
    )
    attachment_path: str | None = Field(
        default=None, max_length=255, description="The stored file, relative to the upload folder."
    )
    attachment_name: str | None = Field(
        default=None, max_length=255, description="The file's name as the unit uploaded it."
    )


class Notification(SQLModel, table=True):
    """The ledger: one row per message, written before the send and finished after it."""

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    channel: str = Field(max_length=16)
    kind: str = Field(max_length=32)
    dedupe_key: str = Field(max_length=200, unique=True)
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body_text: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attachments: list[str] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="Paths of files attached when the message is sent (the year-end table).",
    )
    audience: str = Field(default="liaison", max_length=16, description="liaison, deputy, head…")
    fallback_of: int | None = Field(default=None, foreign_key="notification.id")
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16, index=True)
    attempts: int = 0
    permanent_failure: bool = False
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime
    last_attempt_at: datetime | None = None
    claimed_until: datetime | None = Field(
        default=None, description="A sender holds the message until then; a crash frees it."
    )
    sent_at: datetime | None = None


class Event(SQLModel, table=True):
    """The audit trail: who changed what, when, with the values before and after."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=32)
    entity_id: int | None = None
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Extension(SQLModel, table=True):
    """An approved extension of an item's reply deadline; the original stays the baseline."""

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="followupitem.id", index=True)
    months: int
    reason: str = Field(sa_column=Column(Text, nullable=False))
    approved_by: str = Field(max_length=128)
    approved_on: date
    recorded_at: datetime


class ChasePause(SQLModel, table=True):
    """The global pause switch: one row; while paused, no reminder goes out."""

    id: int | None = Field(default=None, primary_key=True)
    paused: bool = False
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    changed_by: str = Field(default="", max_length=128)
    changed_at: datetime | None = None


class ReminderLog(SQLModel, table=True):
    """Why each reminder went out or did not: what ``duban why`` reads.

    One row per run day, assignment, obligation, stage and decision; a reminder counts as sent
    when its notification was delivered.
    """

    __table_args__ = (
        UniqueConstraint(
            "run_on", "assignment_id", "obligation", "due", "stage", "decision", "audience"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_on: date = Field(index=True)
    # No foreign key: the log outlives an assignment a corrected import removes.
    assignment_id: int = Field(index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    item_id: int = Field(foreign_key="followupitem.id", index=True)
    obligation: str = Field(max_length=24)
    due: date
    stage: str = Field(max_length=24)
    audience: str = Field(default="liaison", max_length=16)
    decision: str = Field(max_length=16)  # sent, skipped, held
    rule: str = Field(sa_column=Column(Text, nullable=False))
    notification_id: int | None = Field(default=None, foreign_key="notification.id")
    created_at: datetime


class Coordinator(SQLModel, table=True):
    """A person who logs in to the web pages to watch and steer the follow-ups."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=64)
    password_hash: str = Field(max_length=255)
    active: bool = True
    created_at: datetime
    last_login_at: datetime | None = None
    session_epoch: int = Field(
        default=0,
        sa_column_kwargs={"server_default": text("0")},
        description="Kept in each web session at login; raising it (log out, disable, a new "
        "password) ends every session made before.",
    )
