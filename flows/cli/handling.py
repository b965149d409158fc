"""The workflow steps: sign for, return, reassign, reply, rate, extend, close."""

from datetime import date
from typing import Annotated

import typer

from flows.cli.base import app, console, date_option, running
from flows.cli.records import CategoryOption, ItemOption, NumberOption, YearOption
from tracking.db import transaction
from tracking.deadlines import objection_deadline
from tracking.handling import (
    close_item,
    extend_deadline,
    object_to_assignment,
    rate_reply,
    reassign,
    record_reply,
    sign_for,
)
from tracking.items import ItemRef, find_item, find_unit
from tracking.models import UpdateSource
from tracking.workflow import item_label

OnOption = Annotated[date | None, date_option("The date it happened (default: today).", "--date")]
ByOption = Annotated[str, typer.Option("--by", help="Who did it, for the history.")]


@app.command()
def sign(
    unit: Annotated[str, typer.Option(help="The unit signing for its part (签收).")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    by: ByOption = "cli",
) -> None:
    """签收: a unit accepts its part of an item."""
    with running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        sign_for(session, target, find_unit(session, unit), now=duban.now(), actor=by)
        console.print(f"Item {target.id}: signed; {item_label(target.status)}.", markup=False)


@app.command("return")
def return_command(
    unit: Annotated[str, typer.Option(help="The unit returning the item as mis-assigned.")],
    reason: Annotated[str, typer.Option(help="Why it is not this unit's business.")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    on: OnOption = None,
    override: Annotated[
        bool, typer.Option("--override", help="Coordinator: accept it after the window.")
    ] = False,
    by: ByOption = "cli",
) -> None:
    """退回: a unit says the item was mis-assigned (within the objection window)."""
    with running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        if target.assigned_on is None:
            window = None
        else:
            window = objection_deadline(target.assigned_on, duban.policy.deadlines, duban.calendar)
        object_to_assignment(
            session,
            target,
            find_unit(session, unit),
            on=on or duban.today(),
            reason=reason,
            window_ends=window.due if window else date.max,
            override=override,
            now=duban.now(),
            actor=by,
        )
        console.print(f"Item {target.id}: returned; {item_label(target.status)}.", markup=False)


@app.command("reassign")
def reassign_command(
    from_unit: Annotated[str, typer.Option("--from", help="The unit that had it.")],
    to_unit: Annotated[str, typer.Option("--to", help="The unit that takes it over.")],
    reason: Annotated[str, typer.Option(help="Why, for the history.")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    on: OnOption = None,
    override: Annotated[
        bool, typer.Option("--override", help="Reassign although the unit did not return it.")
    ] = False,
    by: ByOption = "cli",
) -> None:
    """调整: the coordinator gives a unit's part to another; the periods restart."""
    with running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        reassign(
            session,
            target,
            from_unit=find_unit(session, from_unit),
            to_unit=find_unit(session, to_unit),
            on=on or duban.today(),
            reason=reason,
            override=override,
            now=duban.now(),
            actor=by,
        )
        console.print(f"Item {target.id}: reassigned to {to_unit}.", markup=False)


@app.command()
def reply(
    unit: Annotated[str, typer.Option(help="The lead unit.")],
    reply_class: Annotated[str, typer.Option("--class", help="The reply's class, e.g. A/B/C/D.")],
    text: Annotated[str, typer.Option(help="The reply, or its gist.")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    on: OnOption = None,
    by: ByOption = "cli",
) -> None:
    """答复: record the lead unit's reply to the deputy or member, with its class."""
    with running() as duban, transaction(duban.engine) as session:
        scheme = duban.policy.reply_classes
        if reply_class not in scheme.codes:
            raise typer.BadParameter(
                f"{reply_class!r} is not a class of the {scheme.name} scheme "
                f"({', '.join(scheme.codes)})",
                param_hint="--class",
            )
        target = find_item(session, ItemRef(item, number, category, year))
        record_reply(
            session,
            target,
            find_unit(session, unit),
            text=text,
            reply_class=reply_class,
            follows_up=scheme.get(reply_class).follow_up,
            on=on or duban.today(),
            source=UpdateSource.CLI,
            now=duban.now(),
            actor=by,
        )
        console.print(
            f"Item {target.id}: replied, class {reply_class}; {item_label(target.status)}.",
            markup=False,
        )


@app.command()
def rate(
    rating: Annotated[str, typer.Argument(help="满意, 基本满意 or 不满意.")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    on: OnOption = None,
    by: ByOption = "cli",
) -> None:
    """Record the proposer's rating of the reply; 不满意 reopens the item (重新办理)."""
    with running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        rate_reply(
            session,
            target,
            rating=rating,
            reopens=duban.policy.deadlines.reopens(rating),
            on=on or duban.today(),
            now=duban.now(),
            actor=by,
        )
        console.print(
            f"Item {target.id}: rated {rating}; {item_label(target.status)}.", markup=False
        )


@app.command()
def extend(
    months: Annotated[int, typer.Option(help="How many months the extension adds.")],
    reason: Annotated[str, typer.Option(help="Why the extension was needed.")],
    approved_by: Annotated[str, typer.Option(help="Who approved it.")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    on: Annotated[
        date | None, date_option("Approval date (default: today).", "--approved-on")
    ] = None,
    by: ByOption = "cli",
) -> None:
    """延期: extend the reply deadline, approved and with a reason (the original is kept)."""
    with running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        extend_deadline(
            session,
            target,
            months=months,
            reason=reason,
            approved_by=approved_by,
            approved_on=on or duban.today(),
            cap_months=duban.policy.deadlines.extension_max_months,
            now=duban.now(),
            actor=by,
        )
        console.print(
            f"Item {target.id}: extended by {months} month(s); see `duban explain`.", markup=False
        )


@app.command()
def close(
    reason: Annotated[str, typer.Option(help="Why it is done, e.g. 回头看 confirmed.")],
    item: ItemOption = None,
    number: NumberOption = None,
    category: CategoryOption = None,
    year: YearOption = None,
    on: OnOption = None,
    by: ByOption = "cli",
) -> None:
    """已落实: the coordinator closes an item."""
    with running() as duban, transaction(duban.engine) as session:
        target = find_item(session, ItemRef(item, number, category, year))
        close_item(
            session, target, on=on or duban.today(), reason=reason, now=duban.now(), actor=by
        )
        console.print(f"Item {target.id}: 已落实.", markup=False)
