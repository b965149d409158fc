"""The ``duban`` command line.

Quick commands (import, units, assign, update, list, show, feedback) never import Prefect: only
``chase`` (without --dry-run), ``compile`` and ``demo`` do, and only when they run.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import OperationalError

from config.settings import ConfigError, Settings, load_settings
from flows.app import App, build_app
from notifications.errors import NotificationError
from tracking.db import transaction
from tracking.errors import TrackingError
from tracking.importer import ImportReport, import_table
from tracking.items import (
    ItemRef,
    NewItem,
    assign_item,
    find_item,
    find_unit,
    item_history,
    list_items,
    set_final_text,
)
from tracking.models import Category, Unit, UpdateKind, UpdateSource
from tracking.units import load_units, read_units_file, units_without_contact
from tracking.updates import record_update

app = typer.Typer(
    help="duban (督办): track follow-up items of NPC suggestions and CPPCC proposals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
units_app = typer.Typer(help="Units and their contacts.", no_args_is_help=True)
feedback_app = typer.Typer(help="The compiled 落实情况反馈 text.", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(feedback_app, name="feedback")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

DateOption = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])]
_state: dict[str, Path | None] = {"config": None}


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option(help="Settings file (TOML); default $DUBAN_CONFIG_FILE or ./duban.toml."),
    ] = None,
) -> None:
    _state["config"] = config


@contextmanager
def _running() -> Iterator[App]:
    """The App for one command; any error a user can act on is printed, not raised."""
    duban: App | None = None
    try:
        duban = build_app(_settings())
        yield duban
    except (ConfigError, TrackingError, NotificationError) as exc:
        _fail(str(exc))
    except OperationalError as exc:
        _fail(f"cannot use the database (DUBAN_DATABASE_URL): {str(exc.orig).strip()}")
    finally:
        if duban is not None:
            duban.engine.dispose()  # close the pool's connections rather than leave them to GC


def _fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(1)


def _settings() -> Settings:
    return load_settings(_state["config"])


def _as_date(value: datetime | None, default: date) -> date:
    return value.date() if value else default


# --- import and units -------------------------------------------------------------------------


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="The table: .txt/.tsv, .csv or .xlsx.")],
    year: Annotated[int, typer.Option(help="The year the table belongs to.")],
    reported_on: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Date of the feedback column's reports [today]."),
    ] = None,
    no_feedback: Annotated[
        bool, typer.Option("--no-feedback", help="Leave the 落实情况反馈 column out.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows; list the others.")
    ] = False,
) -> None:
    """Import a published summary table (re-running it changes nothing)."""
    with _running() as duban:
        now = duban.now()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"Importing {file.name}", total=None)
            report = import_table(
                duban.engine,
                file,
                year=year,
                reported_on=_as_date(reported_on, now.date()),
                now=now,
                include_feedback=not no_feedback,
                skip_invalid=skip_invalid,
                actor="cli",
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        _print_import(report)


def _print_import(report: ImportReport) -> None:
    for warning in report.warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    for problem in report.skipped:
        errors.print(f"[red]skipped:[/] {escape(problem)}", highlight=False)
    if not report.changed:
        console.print(
            f"{report.path}: {report.rows} rows, already up to date; nothing changed.", markup=False
        )
        return
    console.print(
        f"{report.path}: {report.rows} rows — proposals {report.proposals_created} new, "
        f"{report.proposals_updated} updated; items {report.items_created} new, "
        f"{report.items_updated} updated; units {report.units_created} new; "
        f"assignments {report.assignments_changed} changed; "
        f"feedback recorded {report.feedback_recorded}.",
        markup=False,
    )


@units_app.command("load")
def units_load(
    file: Annotated[Path, typer.Argument(help="Units file (TOML, [[unit]] tables).")],
) -> None:
    """Create or update units, their aliases and contact e-mails, from a units file."""
    with _running() as duban:
        entries = read_units_file(file)
        with transaction(duban.engine) as session:
            report = load_units(session, entries, now=duban.now(), actor="cli")
        console.print(
            f"{file}: {report.created} units created, {report.updated} updated, "
            f"{report.unchanged} unchanged.",
            markup=False,
        )


@units_app.command("check")
def units_check() -> None:
    """List units that have no contact e-mail (their reminders cannot be delivered)."""
    with _running() as duban, transaction(duban.engine) as session:
        missing = units_without_contact(session)
    if not missing:
        console.print("Every unit has a contact e-mail.")
        return
    for unit in missing:
        console.print(f"{unit.name}: no contact e-mail", markup=False)
    raise typer.Exit(1)


@units_app.command("list")
def units_list() -> None:
    """List units with their aliases and e-mails."""
    from sqlmodel import select

    with _running() as duban, transaction(duban.engine) as session:
        units = list(session.exec(select(Unit).order_by(Unit.name)))
    table = Table("unit", "aliases", "e-mails")
    for unit in units:
        table.add_row(
            unit.name, " ".join(unit.aliases), " ".join(unit.emails) or Text("none", style="red")
        )
    console.print(table, markup=False)


# --- chase and compile (Prefect) --------------------------------------------------------------


@app.command()
def chase(
    as_of: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Chase as of this date [today].")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; send nothing.")
    ] = False,
) -> None:
    """Send each unit that owes reports its one digest (a re-run the same day sends nothing)."""
    from flows import delivery

    with _running() as duban:
        day = _as_date(as_of, duban.today())
        if dry_run:
            digests = delivery.plan(duban, day)
            table = Table("unit", "items owed", "to", title=f"Chase plan as of {day}")
            for digest in digests:
                table.add_row(
                    digest.unit_name,
                    str(len(digest.items)),
                    ", ".join(digest.emails) or Text("no contact e-mail", style="red"),
                )
            console.print(table if digests else f"As of {day} no unit owes a report.", markup=False)
            return
        report = run_chase(duban, day)
    _print_chase(report)
    if report.count("failed"):
        raise typer.Exit(1)


def run_chase(duban: App, day: date):  # type: ignore[no-untyped-def]
    """Run the chase flow in this process (the flow's module imports Prefect)."""
    from flows.app import use_app
    from flows.prefect_setup import configure_prefect, without_heartbeats

    configure_prefect(duban.settings)
    from flows.chase_flow import chase_units

    with use_app(duban), without_heartbeats(), console.status("Chasing (Prefect) …"):
        return chase_units(day)


def _print_chase(report) -> None:  # type: ignore[no-untyped-def]
    console.print(
        f"Chase as of {report.as_of}: {report.units_owing} units owe reports; "
        f"{report.count('sent')} digests sent, {report.count('failed')} failed."
    )
    for outcome in report.outcomes:
        if outcome.status == "failed":
            errors.print(
                f"[red]failed:[/] message {outcome.notification_id}: {escape(outcome.error)}"
            )


@app.command("compile")
def compile_command(
    year: Annotated[int, typer.Option(help="The year to compile.")],
    out: Annotated[Path, typer.Option(help="Folder for the XLSX, TSV and HTML files.")],
    title: Annotated[
        str | None, typer.Option(help="Title row [<lead unit><year>年度…汇总表].")
    ] = None,
) -> None:
    """Compile 落实情况反馈 and write the year's summary table."""
    with _running() as duban:
        paths = run_compile(duban, year, out, title)
    for kind, path in paths.items():
        console.print(f"{kind}: {path}", markup=False)


def run_compile(duban: App, year: int, out: Path, title: str | None = None) -> dict[str, Path]:
    from flows.app import use_app
    from flows.prefect_setup import configure_prefect, without_heartbeats

    with transaction(duban.engine) as session:
        if not list_items(session, as_of=date(year, 12, 31), interval_days=1, year=year):
            raise TrackingError(f"no follow-up items recorded for {year}; nothing to compile")
    configure_prefect(duban.settings)
    from flows.compile_flow import compile_feedback

    with use_app(duban), without_heartbeats(), console.status("Compiling (Prefect) …"):
        return compile_feedback(year, out, title)


# --- collect ----------------------------------------------------------------------------------

ItemOption = Annotated[int | None, typer.Option("--item", help="Item id (see `duban list`).")]
NumberOption = Annotated[str | None, typer.Option("--number", help="Proposal number.")]
CategoryOption = Annotated[
    str | None, typer.Option("--category", help="人大建议 or 政协提案, when numbers clash.")
]
YearOption = Annotated[int | None, typer.Option("--year", help="The year, when numbers clash.")]


@app.command()
def assign(
    year: Annotated[int, typer.Option()],
    category: Annotated[str, typer.Option(help="人大建议 or 政协提案.")],
    number: Annotated[str, typer.Option(help="The proposal's number.")],
    commitment: Annotated[str, typer.Option(help="The follow-up item (跟踪落实事项).")],
    lead: Annotated[str, typer.Option(help="Lead unit (主办单位).")],
    co: Annotated[
        list[str] | None, typer.Option(help="Co-handling unit; repeat for several.")
    ] = None,
    due: DateOption = None,
    title: Annotated[str, typer.Option(help="Title, for a proposal not yet recorded.")] = "",
    representative: Annotated[str, typer.Option(help="领衔代表, for a new proposal.")] = "",
) -> None:
    """Add a follow-up item, with its lead and co-handling units and due date."""
    with _running() as duban, transaction(duban.engine) as session:
        item = assign_item(
            session,
            NewItem(
                year=year,
                category=category,
                number=number,
                commitment=commitment,
                lead_unit=lead,
                co_units=tuple(co or ()),
                due_date=due.date() if due else None,
                title=title,
                lead_representative=representative,
            ),
            now=duban.now(),
            actor="cli",
        )
        console.print(f"Added item {item.id}.")


@app.command()
def update(
    unit: Annotated[str, typer.Option(help="The reporting unit.")],
    text: Annotated[str, typer.Option(help="What the unit reported.")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    final: Annotated[
        bool, typer.Option("--final", help="Final feedback (the lead's closes the item).")
    ] = False,
    on: Annotated[
        datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="Report date [today].")
    ] = None,
    by: Annotated[str, typer.Option(help="Who recorded it.")] = "cli",
) -> None:
    """Record a unit's progress or final feedback on an item."""
    with _running() as duban, transaction(duban.engine) as session:
        now = duban.now()
        target = find_item(session, ItemRef(item, number, category, year))
        kind = UpdateKind.FINAL if final else UpdateKind.PROGRESS
        record_update(
            session,
            item=target,
            unit=find_unit(session, unit),
            text=text,
            kind=kind,
            reported_on=_as_date(on, now.date()),
            source=UpdateSource.CLI,
            reported_by=by,
            now=now,
        )
        console.print(
            f"Recorded {kind} from {unit} on item {target.id} (item is {target.status}).",
            markup=False,
        )


@app.command("list")
def list_command(
    year: YearOption = None,
    status: Annotated[str | None, typer.Option(help="open or closed.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only items this unit is assigned.")] = None,
    as_of: DateOption = None,
) -> None:
    """List items, their status and who still owes a report."""
    with _running() as duban, transaction(duban.engine) as session:
        day = _as_date(as_of, duban.today())
        views = list_items(
            session,
            as_of=day,
            interval_days=duban.settings.report_interval_days,
            year=year,
            status=status,
            unit=unit,
        )
    table = Table(
        "id", "year", "类别", "编号", "建议提案题目", "主办", "status", f"owing as of {day}"
    )
    for view in views:
        lead = next((a.unit for a in view.assignments if a.role == "lead"), "")
        table.add_row(
            str(view.item_id),
            str(view.year),
            view.category,
            view.number,
            view.title,
            lead,
            view.status,
            " ".join(view.owing_units) or "—",
        )
    console.print(table, markup=False)
    console.print(f"{len(views)} items.")


@app.command()
def show(
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
) -> None:
    """Show one item: its proposal, units, reports and history."""
    with _running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        views = list_items(
            session,
            as_of=duban.today(),
            interval_days=duban.settings.report_interval_days,
        )
        view = next(v for v in views if v.item_id == target.id)
        updates, events = item_history(session, target.id)  # type: ignore[arg-type]
    console.print(
        f"[bold]Item {view.item_id}[/] · {view.year} {view.category} {escape(view.number)} · "
        f"{view.status}"
    )
    console.print(f"建议提案题目: {view.title}", markup=False)
    console.print(f"领衔代表: {view.lead_representative}", markup=False)
    console.print(f"跟踪落实事项: {view.commitment}", markup=False)
    console.print(f"due: {view.due_date or '—'}   closed on: {view.closed_on or '—'}")
    if view.final_text:
        console.print(f"coordinator's 落实情况反馈: {view.final_text}", markup=False)
    units = Table("unit", "role", "status", "last report", "owes a report")
    for a in view.assignments:
        units.add_row(
            a.unit, a.role, a.status, str(a.last_reported_on or "—"), "yes" if a.owes else "no"
        )
    console.print(units, markup=False)
    reports = Table("date", "unit", "kind", "source", "text", title="Reports")
    for unit_name, u in updates:
        reports.add_row(str(u.reported_on), unit_name, u.kind, u.source, u.text)
    console.print(reports, markup=False)
    history = Table("at (UTC)", "actor", "action", "reason", title="History")
    for event in events:
        history.add_row(f"{event.at:%Y-%m-%d %H:%M}", event.actor, event.action, event.reason)
    console.print(history, markup=False)


@feedback_app.command("set")
def feedback_set(
    text: Annotated[str | None, typer.Argument(help="The 落实情况反馈 to publish.")] = None,
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    clear: Annotated[bool, typer.Option("--clear", help="Go back to the compiled text.")] = False,
    reason: Annotated[str, typer.Option(help="Why, for the history.")] = "",
    by: Annotated[str, typer.Option(help="Who set it.")] = "cli",
) -> None:
    """Set an item's 落实情况反馈 by hand; it wins over the compiled text."""
    if (text is None) == (not clear):
        errors.print("[bold red]error:[/] give the TEXT, or --clear (not both)")
        raise typer.Exit(2)
    with _running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        set_final_text(
            session, target, None if clear else text, now=duban.now(), actor=by, reason=reason
        )
        console.print(f"Item {target.id}: 落实情况反馈 {'cleared' if clear else 'set'}.")


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
        _fail(str(exc))


# Keep the categories visible to --help readers without importing Prefect.
assert {c.value for c in Category} == {"人大建议", "政协提案"}
