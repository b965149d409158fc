"""The coordinator's scheduled mail as Prefect flows: the weekly digest and the 回头看 check.

Each message goes through the ledger like a reminder: written before it is sent, under a key
that makes a second run the same week (or year) send nothing.
"""

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from prefect import flow

from flows import delivery
from flows.app import App, current_app
from tracking.chase import COORDINATOR
from tracking.db import transaction
from tracking.ledger import Draft, record_draft
from tracking.overview import lookback_check, weekly_overview


@dataclass(frozen=True)
class CoordinatorMail:
    kind: str
    key: str
    status: str  # sent, failed, already sent, no recipients
    detail: str = ""

    def summary(self) -> str:
        return f"{self.key}: {self.status}{': ' + self.detail if self.detail else ''}"


@flow(name="weekly-digest", flow_run_name="weekly-{as_of}")
def weekly_digest(as_of: date, now: datetime, key: str | None = None) -> CoordinatorMail:
    """Mail the coordinator what is overdue by unit and who reported in the past week."""
    app = current_app()
    with transaction(app.engine) as session:
        overview = weekly_overview(
            session,
            as_of=as_of,
            policy=app.policy,
            calendar=app.calendar,
            interval_days=app.settings.report_interval_days,
        )
    year, week, _ = as_of.isocalendar()
    context = {"overview": overview, "body_name": app.settings.body_name}
    return send_to_coordinator(app, "weekly", key or f"weekly:{year}-W{week:02d}", context, now)


@flow(name="lookback-check", flow_run_name="lookback-{year}")
def lookback(year: int, now: datetime, key: str | None = None) -> CoordinatorMail:
    """After the 回头看 deadline, mail the coordinator the items of ``year`` still owing it."""
    app = current_app()
    with transaction(app.engine) as session:
        check = lookback_check(
            session,
            year=year,
            as_of=now.astimezone(app.settings.zone).date(),
            policy=app.policy,
            calendar=app.calendar,
            interval_days=app.settings.report_interval_days,
        )
    context = {"check": check, "body_name": app.settings.body_name}
    return send_to_coordinator(app, "lookback", key or f"lookback:{year}", context, now)


def send_to_coordinator(
    app: App,
    kind: str,
    key: str,
    context: dict[str, object],
    now: datetime,
    attachments: tuple[Path, ...] = (),
) -> CoordinatorMail:
    recipients = app.policy.ladder.coordinator_emails
    if not recipients:
        return CoordinatorMail(
            kind, key, "not sent", "no coordinator address (policy: ladder.coordinator_emails)"
        )
    rendered = app.renderer.render(kind, context)
    draft = Draft(
        unit_id=None,
        channel="email",
        kind=kind,
        dedupe_key=key,
        recipients=recipients,
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        attachments=tuple(str(path) for path in attachments),
    )
    with transaction(app.engine) as session:
        note = record_draft(session, draft, now=now, audience=COORDINATOR)
        note_id = note.id if note is not None else None
    if note_id is None:
        return CoordinatorMail(kind, key, "already sent")
    outcome = delivery.deliver(app, note_id, now)
    return CoordinatorMail(kind, key, outcome.status, outcome.error)
