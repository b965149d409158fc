"""Commands that chase and compile (these run Prefect flows), and explain what the chase does."""

from datetime import date, time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from sqlmodel import select

from config.settings import ConfigError
from flows.app import App, use_app
from flows.cli.base import (
    AsOfOption,
    app,
    console,
    errors,
    fail,
    local_now,
    parse_date,
    parse_time,
    running,
)
from flows.cli.records import CategoryOption, ItemOption, NumberOption, YearOption
from notifications.errors import NotificationError
from tracking.chase import ChasePlan, Entry, plan_chase
from tracking.db import transaction
from tracking.errors import TrackingError
from tracking.explain import explain_item
from tracking.handling import set_pause, snooze_unit
from tracking.items import ItemRef, find_item, find_unit
from tracking.models import FollowUpItem, Notification, Proposal, ReminderLog

AtOption = Annotated[
    time | None,
    typer.Option(parser=parse_time, metavar="HH:MM", help="The time of day (default: now)."),
]


@app.command()
def chase(
    as_of: AsOfOption = None,
    at: AtOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (as `duban plan`); send nothing.")
    ] = False,
) -> None:
    """Send every recipient the one digest the reminder ladder calls for today.

    A second run the same day sends nothing new; messages that failed are retried.
    """
    with running(writes=not dry_run) as duban:
        day, now = local_now(duban, as_of, at)
        if dry_run:
            _print_plan(_plan(duban, day, now))
            return
        report = run_chase(duban, day, now)
    _print_chase(report, duban)
    if report.count("failed"):
        raise typer.Exit(1)


@app.command()
def plan(as_of: AsOfOption = None, at: AtOption = None) -> None:
    """Show what a chase would send now, to whom and why, and what it would hold or skip."""
    with running(writes=False) as duban:
        day, now = local_now(duban, as_of, at)
        _print_plan(_plan(duban, day, now))


def _plan(duban: App, day: date, now) -> ChasePlan:  # type: ignore[no-untyped-def]
    with transaction(duban.engine) as session:
        return plan_chase(
            session,
            as_of=day,
            now=now,
            policy=duban.policy,
            calendar=duban.calendar,
            interval_days=duban.settings.report_interval_days,
        )


def _print_plan(chase: ChasePlan) -> None:
    for problem in chase.problems:
        errors.print(f"cannot chase {problem}", markup=False)
    if not chase.digests and not chase.decisions:
        console.print(f"As of {chase.as_of} no reminder is due.")
        return
    for digest in chase.digests:
        to = ", ".join(digest.recipients) or "nobody: no e-mail on file (see `duban units check`)"
        console.print(
            f"[bold]{escape(digest.unit_name)}[/] ({digest.audience}) → {escape(to)}",
            highlight=False,
        )
        for entry in digest.entries:
            console.print("  " + _describe(entry), markup=False)
    for decision in chase.decisions:
        console.print(
            f"[yellow]{decision.decision}[/] {escape(decision.entry.unit_name)}: "
            f"{escape(_describe(decision.entry))} — {escape(decision.rule)}",
            highlight=False,
        )
    console.print(
        f"{len(chase.digests)} digests to send, "
        f"{sum(d.decision == 'held' for d in chase.decisions)} reminders held, "
        f"{sum(d.decision == 'skipped' for d in chase.decisions)} skipped."
    )


def _describe(entry: Entry) -> str:
    stage = entry.stage
    late = f", {entry.overdue_workdays} working days late" if entry.overdue_workdays else ""
    return (
        f"item {entry.item_id} ({entry.category} {entry.number}): {entry.obligation_label}, "
        f"due {entry.due} [{stage.key}{late}]"
    )


def run_chase(duban: App, day: date, now):  # type: ignore[no-untyped-def]
    """Run the chase flow in this process (the flow's module imports Prefect)."""
    from flows.prefect_setup import configure_prefect, without_heartbeats

    configure_prefect(duban.settings)
    errors.print("Starting Prefect (a temporary local server unless PREFECT_API_URL is set)…")
    from flows.chase_flow import chase_units

    with use_app(duban), without_heartbeats():
        return chase_units(day, now)


def _print_chase(report, duban: App) -> None:  # type: ignore[no-untyped-def]
    where = (
        f" (outbox: {duban.settings.resolved_outbox_dir})"
        if duban.settings.mail_backend == "outbox"
        else ""
    )
    console.print(
        f"Chase as of {report.as_of}: {report.digests} new digests planned; "
        f"{report.count('sent')} messages sent{where}, {report.count('failed')} failed; "
        f"{report.held} reminders held, {report.skipped} skipped.",
        markup=False,
    )
    for problem in report.problems:
        errors.print(f"cannot chase {problem}", markup=False)
    if report.held_until:
        console.print(
            f"Held reminders go out with the first chase run after "
            f"{report.held_until:%Y-%m-%d %H:%M}."
        )
    for outcome in report.outcomes:
        if outcome.status == "failed":
            to = ", ".join(outcome.recipients) or "no recipients"
            errors.print(
                f"failed: message {outcome.notification_id} to {to}: {outcome.error}", markup=False
            )
        if outcome.fallback is not None:
            errors.print(
                f"fell back to the deputy ({', '.join(outcome.fallback.recipients)}): "
                f"{outcome.fallback.status}",
                markup=False,
            )


@app.command()
def why(
    unit: Annotated[str, typer.Argument(help="The unit.")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
) -> None:
    """The reminders a unit was sent, held or skipped, each with the rule that decided."""
    with running(writes=False) as duban, transaction(duban.engine) as session:
        target = find_unit(session, unit)
        query = (
            select(ReminderLog, Notification, FollowUpItem, Proposal)
            .join(FollowUpItem, ReminderLog.item_id == FollowUpItem.id)
            .join(Proposal, FollowUpItem.proposal_id == Proposal.id)
            .outerjoin(Notification, ReminderLog.notification_id == Notification.id)
            .where(ReminderLog.unit_id == target.id)
        )
        if item is not None or number is not None:
            wanted = find_item(session, ItemRef(item, number, category, year))
            query = query.where(ReminderLog.item_id == wanted.id)
        rows = session.exec(query.order_by(ReminderLog.run_on, ReminderLog.id)).all()
    if not rows:
        console.print(f"No reminder has been decided for {target.name} yet.", markup=False)
        return
    for log, note, found, proposal in rows:
        delivery = "" if note is None else f"; delivery {note.status}"
        if note is not None and note.last_error:
            delivery += f" ({note.last_error})"
        console.print(
            f"{log.run_on}  item {found.id} ({proposal.category} {proposal.number})  "
            f"{log.obligation} due {log.due}  [{log.stage}]  to {log.audience}: "
            f"{log.decision}{delivery}",
            markup=False,
        )
        console.print(f"    {log.rule}", markup=False)


@app.command()
def explain(
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    as_of: AsOfOption = None,
) -> None:
    """How each of an item's dates was computed: rule, start, period, calendar, extensions."""
    with running(writes=False) as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        text = explain_item(
            session,
            target,
            as_of=as_of or duban.today(),
            policy=duban.policy,
            calendar=duban.calendar,
            interval_days=duban.settings.report_interval_days,
        )
    console.print(text, markup=False)


@app.command()
def pause(reason: Annotated[str, typer.Option(help="Why, for the record.")]) -> None:
    """Stop every reminder until `duban resume` (chases still plan and log what they skip)."""
    with running() as duban, transaction(duban.engine) as session:
        set_pause(session, paused=True, reason=reason, now=duban.now(), actor="cli")
    console.print("Reminders are paused.")


@app.command()
def resume() -> None:
    """Lift the pause."""
    with running() as duban, transaction(duban.engine) as session:
        set_pause(session, paused=False, reason="", now=duban.now(), actor="cli")
    console.print("Reminders are on again.")


@app.command()
def snooze(
    unit: Annotated[str, typer.Argument(help="The unit.")],
    until: Annotated[
        date | None,
        typer.Option(parser=parse_date, metavar="YYYY-MM-DD", help="Last snoozed day."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (required to snooze).")] = "",
    lift: Annotated[bool, typer.Option("--lift", help="End the snooze now.")] = False,
) -> None:
    """No reminders to one unit up to a date, with a reason."""
    if (until is None) != lift:
        fail("give --until DATE (with --reason), or --lift")
    with running() as duban, transaction(duban.engine) as session:
        target = find_unit(session, unit)
        snooze_unit(session, target, until=until, reason=reason, now=duban.now(), actor="cli")
        name = target.name
    console.print(
        f"{name}: " + (f"snoozed until {until}." if until else "snooze lifted."), markup=False
    )


@app.command("compile")
def compile_command(
    year: Annotated[int, typer.Option(help="The year to compile.")],
    out: Annotated[Path, typer.Option(help="Folder for the XLSX, TSV and HTML files.")],
    title: Annotated[
        str | None, typer.Option(help="Title row (default: <lead unit><year>年度…汇总表).")
    ] = None,
) -> None:
    """Compile 落实情况反馈 and write the year's summary table."""
    with running() as duban:
        paths = run_compile(duban, year, out, title)
    for kind, path in paths.items():
        console.print(f"{kind}: {path}", markup=False)


def run_compile(duban: App, year: int, out: Path, title: str | None = None) -> dict[str, Path]:
    from flows.prefect_setup import configure_prefect, without_heartbeats

    with transaction(duban.engine) as session:
        if session.exec(select(Proposal.id).where(Proposal.year == year)).first() is None:
            raise TrackingError(f"no follow-up items recorded for {year}; nothing to compile")
    configure_prefect(duban.settings)
    errors.print("Starting Prefect (a temporary local server unless PREFECT_API_URL is set)…")
    from flows.compile_flow import compile_feedback

    with use_app(duban), without_heartbeats():
        return compile_feedback(year, out, title)


@app.command()
def demo(
    workspace: Annotated[Path, typer.Option(help="Where the demo keeps its state.")] = Path(
        "var/demo"
    ),
) -> None:
    """Run the whole cycle on the 2022 table: import, chase, record, chase, compile."""
    from flows.demo import run_demo

    try:
        run_demo(workspace, console)
    except (ConfigError, TrackingError, NotificationError) as exc:
        fail(str(exc))
