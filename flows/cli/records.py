"""Commands on the records: import, units, assign, update, list, show, feedback."""

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Column, Table
from rich.text import Text
from sqlmodel import select

from flows.cli.base import (
    AsOfOption,
    app,
    console,
    date_option,
    errors,
    feedback_app,
    running,
    units_app,
)
from tracking.db import transaction
from tracking.importer import ImportReport, import_table
from tracking.items import (
    ItemRef,
    ItemView,
    NewItem,
    assign_item,
    find_item,
    find_unit,
    item_history,
    list_items,
    set_final_text,
)
from tracking.models import Unit, UpdateKind, UpdateSource
from tracking.units import load_units, read_units_file, units_without_contact
from tracking.updates import record_update
from tracking.workflow import ASSIGNMENT_LABELS, ROLE_LABELS, item_label

ItemOption = Annotated[int | None, typer.Option("--item", help="Item id (see `duban list`).")]
NumberOption = Annotated[str | None, typer.Option("--number", help="Proposal number.")]
CategoryOption = Annotated[
    str | None, typer.Option("--category", help="人大建议 or 政协提案, when numbers clash.")
]
YearOption = Annotated[int | None, typer.Option("--year", help="The year, when numbers clash.")]

# --- import and units -------------------------------------------------------------------------


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="The table: .txt/.tsv, .csv or .xlsx.")],
    year: Annotated[int, typer.Option(help="The year the table belongs to.")],
    reported_on: Annotated[
        date | None, date_option("Date of the feedback column's reports (default: today).")
    ] = None,
    no_feedback: Annotated[
        bool, typer.Option("--no-feedback", help="Leave the 落实情况反馈 column out.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows; list the others.")
    ] = False,
) -> None:
    """Import a published summary table (re-running it changes nothing)."""
    with running() as duban:
        now = duban.now()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"Importing {file.name}", total=None)
            report = import_table(
                duban.engine,
                file,
                year=year,
                reported_on=reported_on or now.date(),
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
        f"feedback recorded {report.feedback_recorded}"
        + (f" ({report.feedback_recorded} items now 已落实)." if report.feedback_recorded else "."),
        markup=False,
    )


@units_app.command("load")
def units_load(
    file: Annotated[Path, typer.Argument(help="Units file (TOML, [[unit]] tables).")],
) -> None:
    """Create or update units, their aliases and contact e-mails, from a units file."""
    with running() as duban:
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
    with running(writes=False) as duban, transaction(duban.engine) as session:
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
    with running(writes=False) as duban, transaction(duban.engine) as session:
        units = list(session.exec(select(Unit).order_by(Unit.name)))
    table = Table("unit", "aliases", "e-mails")
    for unit in units:
        table.add_row(
            unit.name, " ".join(unit.aliases), " ".join(unit.emails) or Text("none", style="red")
        )
    console.print(table, markup=False)


# --- collect ----------------------------------------------------------------------------------


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
    due: Annotated[date | None, date_option("A due date of your own, if any.")] = None,
    assigned_on: Annotated[
        date | None, date_option("交办 date; deadlines count from it (default: today).")
    ] = None,
    title: Annotated[str, typer.Option(help="Title, for a proposal not yet recorded.")] = "",
    representative: Annotated[str, typer.Option(help="领衔代表, for a new proposal.")] = "",
    new_unit: Annotated[
        bool, typer.Option("--new-unit", help="Create units not known yet (else refused).")
    ] = False,
) -> None:
    """Add a follow-up item, with its lead and co-handling units and due date."""
    with running() as duban, transaction(duban.engine) as session:
        item = assign_item(
            session,
            NewItem(
                year=year,
                category=category,
                number=number,
                commitment=commitment,
                lead_unit=lead,
                co_units=tuple(co or ()),
                due_date=due,
                assigned_on=assigned_on or duban.today(),
                title=title,
                lead_representative=representative,
                create_units=new_unit,
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
    on: Annotated[date | None, date_option("Report date (default: today).", "--date")] = None,
    by: Annotated[str, typer.Option(help="Who recorded it.")] = "cli",
) -> None:
    """Record a unit's progress or final feedback on an item."""
    with running() as duban, transaction(duban.engine) as session:
        now = duban.now()
        target = find_item(session, ItemRef(item, number, category, year))
        kind = UpdateKind.FINAL if final else UpdateKind.PROGRESS
        reporter = find_unit(session, unit)
        record_update(
            session,
            item=target,
            unit=reporter,
            text=text,
            kind=kind,
            reported_on=on or now.date(),
            source=UpdateSource.CLI,
            reported_by=by,
            now=now,
        )
        console.print(
            f"Recorded {kind} from {reporter.name} on item {target.id} "
            f"(item is {item_label(target.status)}).",
            markup=False,
        )


# A rich table measures every cell to fit its columns: instant for a screenful of items,
# seconds for a thousand. Beyond this many, or when the output goes to a file or a program,
# the items are printed as tab-separated lines instead, which cut, sort or a spreadsheet read.
LIST_TABLE_MAX_ROWS = 100
# A tab or a line break in a title would break a tab-separated line in two.
_ONE_LINE = str.maketrans("\t\r\n", "   ")


@app.command("list")
def list_command(
    year: YearOption = None,
    status: Annotated[
        str | None, typer.Option(help="open, or a state: assigned/待签收, following/跟踪落实…")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="Only items this unit is assigned.")] = None,
    as_of: AsOfOption = None,
) -> None:
    """List items, their state, and who owes what by when.

    A table on a terminal; tab-separated lines, a header line first, when the output is piped
    or redirected or there are more than 100 items (the count then goes to stderr).
    """
    with running(writes=False) as duban, transaction(duban.engine) as session:
        day = as_of or duban.today()
        views = list_items(
            session,
            as_of=day,
            policy=duban.policy,
            calendar=duban.calendar,
            interval_days=duban.settings.report_interval_days,
            year=year,
            status=status,
            unit=unit,
        )
    header = ("id", "year", "类别", "编号", "建议提案题目", "主办", "状态", f"owing as of {day}")
    rows = [
        (
            str(view.item_id),
            str(view.year),
            view.category,
            view.number,
            view.title,
            next((a.unit for a in view.assignments if a.role == "lead"), ""),
            item_label(view.status),
            " ".join(view.owing_units) or "—",
        )
        for view in views
    ]
    if console.is_terminal and len(rows) <= LIST_TABLE_MAX_ROWS:
        # Chinese titles have no spaces to wrap at: fold them, or a narrow terminal cuts them
        # to a few characters.
        table = Table(*header[:4], Column(header[4], overflow="fold"), *header[5:])
        for row in rows:
            table.add_row(*row)
        console.print(table, markup=False)
        console.print(f"{len(views)} items.")
    else:
        lines = ("\t".join(cell.translate(_ONE_LINE) for cell in row) for row in [header, *rows])
        typer.echo("\n".join(lines))
        errors.print(f"{len(views)} items.")


@app.command()
def show(
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
) -> None:
    """Show one item: its proposal, units and what they owe, reports and history."""
    with running(writes=False) as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        (view,) = list_items(
            session,
            as_of=duban.today(),
            policy=duban.policy,
            calendar=duban.calendar,
            interval_days=duban.settings.report_interval_days,
            item_id=target.id,
        )
        updates, events = item_history(session, target.id)  # type: ignore[arg-type]
    _print_item(view)
    units = Table("unit", "role", "状态", "last report", "owes (due)")
    for a in view.assignments:
        owes = "; ".join(f"{what} ({due})" for what, due in a.owes) or "—"
        units.add_row(
            a.unit,
            ROLE_LABELS.get(a.role, a.role),
            ASSIGNMENT_LABELS.get(a.status, a.status),  # type: ignore[call-overload]
            str(a.last_reported_on or "—"),
            owes,
        )
    console.print(units, markup=False)
    console.print("[bold]Reports[/]")
    for unit_name, u in updates:
        console.print(f"{u.reported_on}  {unit_name}  {u.kind} ({u.source})", markup=False)
        console.print(Text("    " + u.text), soft_wrap=True)
    if not updates:
        console.print("  none")
    console.print("[bold]History[/] (times in UTC)")
    for event in events:
        line = f"{event.at:%Y-%m-%d %H:%M}  {event.actor}  {event.action}"
        console.print(line + (f": {event.reason}" if event.reason else ""), markup=False)


def _print_item(view: ItemView) -> None:
    console.print(
        f"[bold]Item {view.item_id}[/] · {view.year} {view.category} {escape(view.number)} · "
        f"{item_label(view.status)}"
    )
    for label, value in (
        ("建议提案题目", view.title),
        ("领衔代表", view.lead_representative),
        ("跟踪落实事项", view.commitment),
        ("交办日期", view.assigned_on or "—"),
        ("答复类别", view.reply_class or "—"),
        ("满意度", view.rating or "—"),
        ("已落实日期", view.closed_on or "—"),
    ):
        console.print(f"{label}: {value}", markup=False)
    if view.final_text:
        console.print(f"coordinator's 落实情况反馈: {view.final_text}", markup=False)


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
    with running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        set_final_text(
            session, target, None if clear else text, now=duban.now(), actor=by, reason=reason
        )
        console.print(f"Item {target.id}: 落实情况反馈 {'cleared' if clear else 'set'}.")
