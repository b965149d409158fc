"""The chase's plain steps, testable without Prefect: plan, draft the digests, deliver one.

Drafting renders each recipient's digest and writes it to the ledger, with the reasons for every
reminder in it and for every one held or skipped, in a short transaction per digest. Delivery
claims one message, sends it outside any transaction, and records the outcome; a liaison's hard
bounce falls back to the unit's deputy.
"""

import logging
import mimetypes
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from flows.app import App
from flows.web.links import UnitLink, issue_link
from notifications.errors import DeliveryError
from notifications.mail import Attachment, MailSender, OutgoingEmail
from notifications.webhook import WebhookChannel, WebhookMessage
from tracking.chase import (
    COORDINATOR,
    DEPUTY,
    HEAD,
    LIAISON,
    ChasePlan,
    Decision,
    Digest,
    Entry,
    plan_chase,
)
from tracking.db import transaction
from tracking.ledger import Draft, claim, deliverable_ids, mark_failed, mark_sent, record_draft
from tracking.models import Notification, ReminderLog, Role, Unit
from tracking.rules import reply_by
from tracking.workflow import ROLE_LABELS

DIGEST = "digest"
logger = logging.getLogger("duban.delivery")
UNIT_AUDIENCES = (LIAISON, DEPUTY, HEAD)  # the digests that carry the unit's web link


@dataclass(frozen=True)
class DeliveryOutcome:
    notification_id: int
    unit_id: int | None
    recipients: tuple[str, ...]
    status: str  # "sent", "failed", or "skipped" when another sender had it
    error: str = ""
    fallback: "DeliveryOutcome | None" = None


def plan(app: App, as_of: date, now: datetime) -> ChasePlan:
    with transaction(app.engine) as session:
        return plan_chase(
            session,
            as_of=as_of,
            now=now.astimezone(app.settings.zone),
            policy=app.policy,
            calendar=app.calendar,
            interval_days=app.settings.report_interval_days,
        )


def draft_digests(app: App, chase: ChasePlan, *, now: datetime) -> int:
    """Render and record each digest with its reasons; returns how many were written."""
    written = 0
    links = _unit_links(app, chase, now)
    for digest in chase.digests:
        link = links.get(digest.unit_id) if digest.audience in UNIT_AUDIENCES else None
        context = digest_context(app, digest, chase.as_of, unit_link=link)
        sheet = _unit_sheet(app, digest, chase.as_of)
        rendered = app.renderer.render(DIGEST, {**context, "sheet_attached": sheet is not None})
        drafts = [
            Draft(
                unit_id=digest.unit_id,
                channel="email",
                kind=DIGEST,
                dedupe_key=digest.key,
                recipients=digest.recipients,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                attachments=(str(sheet.path),) if sheet else (),
            )
        ]
        try:
            written += _record_digest(app, chase, digest, drafts, context, sheet, now)
        finally:
            if sheet is not None:
                sheet.discard()
    with transaction(app.engine) as session:
        _log_decisions(session, chase.decisions, chase.as_of, now)
    return written


def _record_digest(
    app: App,
    chase: ChasePlan,
    digest: Digest,
    drafts: list[Draft],
    context: dict[str, object],
    sheet: "_UnitSheet | None",
    now: datetime,
) -> int:
    """Write one digest's messages and reasons to the ledger; returns how many were new."""
    written = 0
    with transaction(app.engine) as session:
        unit = session.get(Unit, digest.unit_id) if digest.unit_id else None
        if digest.audience == LIAISON and unit is not None and unit.webhook:
            # The robot gets the text only, without the sheet it cannot carry, and without the
            # unit's link: robots post to group chats, and the link is a credential.
            robot = {**context, "unit_link": None, "sheet_attached": False}
            text = app.renderer.render(DIGEST, robot).text
            drafts.append(
                Draft(
                    unit_id=digest.unit_id,
                    channel="webhook",
                    kind=DIGEST,
                    dedupe_key=f"{digest.key}:webhook",
                    recipients=(f"webhook:{unit.name}",),
                    subject=drafts[0].subject,
                    body_text=text,
                    body_html="",
                )
            )
        for draft in drafts:
            note = record_draft(session, draft, now=now, audience=digest.audience)
            if note is None:
                continue
            written += 1
            if draft.channel == "email":
                if sheet is not None:
                    sheet.keep()  # before the commit: a recorded message never lacks its file
                _log_sent(session, digest, note.id, chase.as_of, now)  # type: ignore[arg-type]
    return written


@dataclass(frozen=True)
class _UnitSheet:
    """A unit's 落实情况填报表, written beside its place and moved there once its digest is
    recorded: a digest already in the ledger keeps the sheet it was recorded with."""

    draft: Path
    path: Path

    def keep(self) -> None:
        os.replace(self.draft, self.path)

    def discard(self) -> None:
        self.draft.unlink(missing_ok=True)


def _unit_sheet(app: App, digest: Digest, as_of: date) -> _UnitSheet | None:
    """The sheet of the digest's items for the unit to fill in and return, when the setting
    asks for one: liaisons' digests only (a head or the coordinator fills in nothing)."""
    if not app.settings.attach_unit_sheet or digest.audience != LIAISON or not digest.unit_id:
        return None
    # Imported here: openpyxl takes 0.15 s to import, and a run with nothing due needs none.
    from tracking.unit_sheet import sheet_filename, sheet_items, write_unit_sheet

    # Absolute: a worker in another folder sends it. The mail shows the file's own name.
    folder = app.settings.state_dir.resolve() / "sheets" / re.sub(r"[^\w.-]", "-", digest.key)
    path = folder / sheet_filename(digest.unit_name, as_of)
    draft = folder / f".{path.name}.{secrets.token_hex(6)}.draft"
    try:
        write_unit_sheet(
            draft,
            sheet_items(digest.entries),
            unit_id=digest.unit_id,
            unit_name=digest.unit_name,
            as_of=as_of,
        )
    except OSError as exc:
        # The reminder matters more than its attachment: it goes out without the sheet.
        logger.warning("%s: sent without its sheet: cannot write %s: %s", digest.key, path, exc)
        return None
    return _UnitSheet(draft, path)


def _unit_links(app: App, chase: ChasePlan, now: datetime) -> dict[int | None, UnitLink]:
    """Each unit's web link, issued at ``now`` with the unit's current link version."""
    unit_ids = {d.unit_id for d in chase.digests if d.unit_id and d.audience in UNIT_AUDIENCES}
    if not unit_ids:
        return {}
    with transaction(app.engine) as session:
        versions = session.exec(
            select(Unit.id, Unit.link_version).where(Unit.id.in_(unit_ids))  # type: ignore[union-attr]
        ).all()
    return {
        unit_id: issue_link(app.settings, unit_id=unit_id, link_version=version, now=now)  # type: ignore[arg-type]
        for unit_id, version in versions
    }


def pending_ids(app: App) -> list[int]:
    """Messages to send now. Claims are timed by the real clock, whatever date a run acts as
    of, so that a back-dated run and a current one never both hold a live claim."""
    with transaction(app.engine) as session:
        return deliverable_ids(
            session, now=app.now(), max_attempts=app.settings.max_delivery_attempts
        )


def deliver_each(app: App, notification_ids: list[int], now: datetime) -> list[DeliveryOutcome]:
    """Send these ledger messages one after another over one mail connection; each failure is
    recorded and the others go on.

    A message sent is marked so in the transaction that claims the next one (the last in one of
    its own): one commit a message rather than two. Should that transaction fail, the message
    stays claimed and goes out again once its lease ends, as after a crash."""
    outcomes: list[DeliveryOutcome] = []
    unmarked: int | None = None
    with app.mail.connect() as mail:
        for notification_id in notification_ids:
            outcome = _deliver(app, notification_id, now, mail, mark_first=unmarked)
            unmarked = notification_id if outcome.status == "sent" else None
            outcomes.append(outcome)
    if unmarked is not None:
        _mark_sent(app, unmarked, now)
    return outcomes


def deliver(
    app: App, notification_id: int, now: datetime, *, mail: MailSender | None = None
) -> DeliveryOutcome:
    """Send one ledger message; a failure is recorded, never raised.

    ``mail`` is the connection of a run that sends several (``app.mail.connect()``); without
    it, the message goes over a connection of its own."""
    outcome = _deliver(app, notification_id, now, mail or app.mail, mark_first=None)
    if outcome.status == "sent":
        _mark_sent(app, notification_id, now)
    return outcome


def _deliver(
    app: App, notification_id: int, now: datetime, mail: MailSender, *, mark_first: int | None
) -> DeliveryOutcome:
    """Claim and send one message, claimed in the transaction that marks ``mark_first`` sent.
    A failure is recorded; a message sent is the caller's to mark."""
    with transaction(app.engine) as session:
        if mark_first is not None:
            mark_sent(session, mark_first, now=now)
        message = claim(session, notification_id, now=app.now())
        webhook = None
        if message is not None and message.channel == "webhook" and message.unit_id:
            webhook = (session.get(Unit, message.unit_id) or Unit(name="")).webhook
    if message is None:
        return DeliveryOutcome(notification_id, None, (), "skipped")
    recipients = tuple(message.recipients)
    try:
        if message.channel == "webhook":
            _send_webhook(webhook, message)
        else:
            mail.send(
                OutgoingEmail(
                    to=recipients,
                    subject=message.subject,
                    text=message.body_text,
                    html=message.body_html,
                    sender=app.settings.mail_from,
                    key=message.dedupe_key,
                    sent_at=now,
                    attachments=_read_attachments(message.attachments or []),
                )
            )
    except DeliveryError as exc:
        with transaction(app.engine) as session:
            mark_failed(session, notification_id, error=str(exc), permanent=exc.permanent, now=now)
        fallback = None
        if exc.permanent and message.audience == LIAISON and message.channel == "email":
            fallback = _fall_back_to_deputy(app, message, now, mail)
        return DeliveryOutcome(
            notification_id, message.unit_id, recipients, "failed", str(exc), fallback
        )
    return DeliveryOutcome(notification_id, message.unit_id, recipients, "sent")


def _mark_sent(app: App, notification_id: int, now: datetime) -> None:
    with transaction(app.engine) as session:
        mark_sent(session, notification_id, now=now)


def _read_attachments(paths: list[str]) -> tuple[Attachment, ...]:
    """The files a message carries, read when it is sent (a retry sends the files as they are)."""
    attachments = []
    for name in paths:
        path = Path(name)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise DeliveryError(f"cannot attach {path}: {exc.strerror}", permanent=False) from exc
        mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        attachments.append(Attachment(path.name, content, mime_type))
    return tuple(attachments)


def _fall_back_to_deputy(
    app: App, failed: Notification, now: datetime, mail: MailSender
) -> DeliveryOutcome | None:
    """A hard bounce for the liaison: the same digest goes to the unit's deputy, once."""
    with transaction(app.engine) as session:
        unit = session.get(Unit, failed.unit_id) if failed.unit_id else None
        if unit is None or not unit.deputy_email:
            return None
        note = record_draft(
            session,
            Draft(
                unit_id=failed.unit_id,
                channel="email",
                kind=failed.kind,
                dedupe_key=f"{failed.dedupe_key}:deputy",
                recipients=(unit.deputy_email,),
                subject=failed.subject,
                body_text=failed.body_text,
                body_html=failed.body_html,
                attachments=tuple(failed.attachments or ()),
            ),
            now=now,
            fallback_of=failed.id,
            audience=DEPUTY,
        )
    if note is None:
        return None
    return deliver(app, note.id, now, mail=mail)  # type: ignore[arg-type]


def _send_webhook(spec: dict[str, str] | None, message: Notification) -> None:
    if not spec:
        raise DeliveryError(
            f"{message.dedupe_key}: the unit has no webhook any more", permanent=True
        )
    try:
        channel = WebhookChannel(spec["url"], spec["kind"], secret=spec.get("secret"))  # type: ignore[arg-type]
    except ValueError as exc:  # a units file written before its checks, or edited by hand
        raise DeliveryError(
            f"{message.dedupe_key}: bad webhook settings: {exc}", permanent=True
        ) from None
    channel.send(
        WebhookMessage(title=message.subject, text=message.body_text, key=message.dedupe_key)
    )


def _log_sent(
    session: Session, digest: Digest, notification_id: int, as_of: date, now: datetime
) -> None:
    # One statement for the digest's rows: a digest can carry thousands of entries, and
    # validated records flushed one by one were most of the cost of writing the ledger.
    session.execute(
        insert(ReminderLog),
        [
            _log_row(
                entry,
                as_of,
                now,
                "sent",
                _sent_rule(entry, digest.audience),
                digest.audience,
                notification_id,
            )
            for entry in digest.entries
        ],
    )


def _log_decisions(session: Session, decisions: list[Decision], as_of: date, now: datetime) -> None:
    """Log each decision once per run day (a re-run the same day finds its rows)."""
    if not decisions:
        return
    # Only rows of the same decisions can match: the day's "sent" rows, one per entry of every
    # digest, would be read for nothing (175,000 at 50,000 items, which raised the chase's peak
    # memory from 250 MB to 290 MB).
    kinds = sorted({decision.decision for decision in decisions})
    logged = set(
        session.exec(
            select(
                ReminderLog.assignment_id,
                ReminderLog.obligation,
                ReminderLog.due,
                ReminderLog.stage,
                ReminderLog.decision,
            ).where(
                ReminderLog.run_on == as_of,
                ReminderLog.audience == LIAISON,
                ReminderLog.decision.in_(kinds),  # type: ignore[attr-defined]
            )
        ).all()
    )
    rows = {}
    for decision in decisions:
        entry = decision.entry
        key = (entry.assignment_id, entry.obligation, entry.due, entry.stage.key, decision.decision)
        if key not in logged:
            rows.setdefault(
                key, _log_row(entry, as_of, now, decision.decision, decision.rule, LIAISON, None)
            )
    if not rows:
        return
    try:
        with session.begin_nested():
            session.execute(insert(ReminderLog), list(rows.values()))
    except IntegrityError:
        # An overlapping run wrote some of the same rows meanwhile: write the rest one by one.
        for row in rows.values():
            try:
                with session.begin_nested():
                    session.execute(insert(ReminderLog), [row])
            except IntegrityError:
                pass


def _log_row(
    entry: Entry,
    as_of: date,
    now: datetime,
    decision: str,
    rule: str,
    audience: str,
    notification_id: int | None,
) -> dict[str, object]:
    """A ReminderLog row as the values of an INSERT."""
    return {
        "run_on": as_of,
        "assignment_id": entry.assignment_id,
        "unit_id": entry.unit_id,
        "item_id": entry.item_id,
        "obligation": str(entry.obligation),
        "due": entry.due,
        "stage": entry.stage.key,
        "audience": audience,
        "decision": decision,
        "rule": rule,
        "notification_id": notification_id,
        "created_at": now,
    }


def _sent_rule(entry: Entry, audience: str) -> str:
    stage = entry.stage
    if stage.overdue:
        when = (
            f"overdue reminder {stage.overdue}: due {entry.due}, "
            f"{entry.overdue_workdays} working days late"
        )
    elif stage.key == "due":
        when = f"due today ({entry.due})"
    else:
        when = f"{stage.key.removeprefix('before-')} working days before the due date {entry.due}"
    to = {
        LIAISON: "to the unit's liaison",
        "head": "also to the unit's head after repeated overdue reminders",
        COORDINATOR: "also to the coordinator after repeated overdue reminders",
    }[audience]
    return f"ladder ({entry.obligation_label}): {when}; {to}"


def digest_context(
    app: App, digest: Digest, as_of: date, *, unit_link: UnitLink | None = None
) -> dict[str, object]:
    """What the digest templates are given. ``unit_link`` is the unit's web link (its own
    digests only; the coordinator's carries none)."""
    if digest.audience not in UNIT_AUDIENCES:
        unit_link = None
    return {
        "unit_name": digest.unit_name,
        "audience": digest.audience,
        "as_of": as_of,
        "reply_by": app.calendar.next_workday(reply_by(as_of, app.settings.reply_within_days)),
        "body_name": app.settings.body_name,
        "reply_instructions": app.settings.reply_instructions,
        "items": [_item_context(entry) for entry in digest.entries],
        "unit_link": (
            {"url": unit_link.url, "expires_on": unit_link.expires_on} if unit_link else None
        ),
    }


def stage_label(entry: Entry) -> str:
    """Where the deadline stands on the day the reminder goes out, in the reader's words."""
    if entry.overdue_workdays:
        return f"已逾期{entry.overdue_workdays}个工作日"
    if entry.days_left == 0:
        return "今日到期"
    return f"{entry.days_left}个工作日后到期"


def _item_context(entry: Entry) -> dict[str, object]:
    return {
        "item_id": entry.item_id,
        "unit_name": entry.unit_name,
        "category": entry.category,
        "number": entry.number,
        "title": entry.title,
        "lead_representative": entry.lead_representative,
        "commitment": entry.commitment,
        "role_label": ROLE_LABELS.get(Role(entry.role), entry.role),
        "lead_unit": entry.lead_unit,
        "co_units": list(entry.co_units),
        "obligation_label": entry.obligation_label,
        "due_date": entry.due,
        "stage_label": stage_label(entry),
        "overdue_workdays": entry.overdue_workdays,
        "last_reported_on": entry.last_reported_on,
    }
