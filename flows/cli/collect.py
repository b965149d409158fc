"""``duban collect``: record a returned 落实情况填报表 (the XLSX a unit's digest carried)."""

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.base import app, console, date_option, running
from tracking.db import transaction
from tracking.items import find_unit
from tracking.models import UpdateKind


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


@app.command()
def collect(
    file: Annotated[Path, typer.Argument(help="The returned sheet (.xlsx).")],
    unit: Annotated[
        str | None,
        typer.Option(help="Whose sheet it is, when the file does not say (a retyped sheet)."),
    ] = None,
    reported_on: Annotated[
        date | None, date_option("Date of the unit's reports (default: today).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file and say what would be recorded.")
    ] = False,
) -> None:
    """Record what a unit filled in on its returned sheet (re-running it records nothing)."""
    # Imported here: reading a workbook needs openpyxl, which the other commands do without.
    from tracking.collect import CollectReport, collect_sheet

    with running() as duban:
        now = duban.now()
        report: CollectReport | None = None
        try:
            with transaction(duban.engine) as session:
                report = collect_sheet(
                    session,
                    file,
                    name=str(file),
                    unit=find_unit(session, unit) if unit else None,
                    reported_on=reported_on or now.date(),
                    now=now,
                    actor="cli",
                    source_label="xlsx",
                )
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        assert report is not None
        for row in report.recorded:
            what = "final report" if row.kind == UpdateKind.FINAL else "progress"
            claim = f" ({row.claim})" if row.claim else ""
            console.print(
                f"  row {row.line}: {row.category} {row.number} (item {row.item_id}): "
                f"{what}{claim}",
                markup=False,
            )
        summary = report.summary()
        if dry_run:
            summary = summary.replace(" recorded", " to record", 1) + " (dry run: nothing recorded)"
        console.print(f"{file} ({report.unit_name}): {summary}.", markup=False)
