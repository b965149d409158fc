"""``make demo``: the 2022 table through the whole cycle, in a fresh workspace.

Import the table without its feedback column, load demo contacts, chase on 2022-06-15 (every
unit owes a report), record the table's feedback as the lead units' final reports dated
2022-11-01, chase on 2022-11-15 (everything is closed: nothing goes out), compile 2022, and
check the compiled table against the original.
"""

import shutil
from datetime import date, datetime, time
from pathlib import Path

from rich.console import Console

from config.settings import load_settings
from flows.app import build_app, use_app
from flows.prefect_setup import configure_prefect, without_heartbeats
from tracking.db import transaction
from tracking.importer import check_table, import_table
from tracking.units import load_units, read_units_file

DEMO_DIR = Path(__file__).resolve().parent.parent / "config" / "demo"
SEED = DEMO_DIR / "seed-2022.txt"
UNITS = DEMO_DIR / "units.toml"
KEEP = {"prefect"}  # Prefect's own database: recreating it costs ~20 s and holds nothing of ours


def run_demo(workspace: Path, console: Console) -> None:
    _clean(workspace)
    settings = load_settings().model_copy(
        update={
            "state_dir": workspace,
            "database_url": None,
            "outbox_dir": None,
            "mail_backend": "outbox",
            "body_name": "市民政局",
        }
    )
    duban = build_app(settings)
    outbox = settings.resolved_outbox_dir
    step = _Steps(console)

    report = import_table(
        duban.engine,
        SEED,
        year=2022,
        reported_on=date(2022, 1, 1),
        now=duban.now(),
        include_feedback=False,
        actor="demo",
    )
    step(
        f"Imported {SEED.name}: {report.items_created} items, {report.units_created} units "
        f"({len(report.warnings)} rows had 编号 and 领衔代表 swapped and were put right)"
    )

    with transaction(duban.engine) as session:
        loaded = load_units(session, read_units_file(UNITS), now=duban.now(), actor="demo")
    step(f"Loaded demo contacts from {UNITS.name}: {loaded.updated} units given e-mails")

    configure_prefect(settings)
    console.print("[dim]Starting Prefect (a temporary local server; the first start is slow)…[/]")
    from flows.chase_flow import chase_units
    from flows.compile_flow import compile_feedback

    with use_app(duban), without_heartbeats():
        june = chase_units(date(2022, 6, 15), _morning(duban, date(2022, 6, 15)))
        step(
            f"Chased as of 2022-06-15: {june.digests} digests due, "
            f"{june.count('sent')} digests written to the outbox, {june.count('failed')} failed"
        )

        again = import_table(
            duban.engine,
            SEED,
            year=2022,
            reported_on=date(2022, 11, 1),
            now=duban.now(),
            include_feedback=True,
            actor="demo",
        )
        step(
            f"Recorded {again.feedback_recorded} final reports of the lead units, dated 2022-11-01"
        )

        november = chase_units(date(2022, 11, 15), _morning(duban, date(2022, 11, 15)))
        step(
            f"Chased as of 2022-11-15: {november.digests} digests due; "
            f"{november.count('sent')} messages sent"
        )

        paths = compile_feedback(2022, workspace / "out")
        step("Compiled 2022")

    matches, total = _compare_with_seed(paths["tsv"])
    step(f"Compiled table against the original: {matches} of {total} rows identical")
    console.print()
    console.print(f"Outbox ({len(list(outbox.glob('*.eml')))} messages): {outbox.resolve()}")
    for kind, path in paths.items():
        console.print(f"{kind.upper():5} {path.resolve()}")
    console.print()
    console.print(
        f"Look around: DUBAN_STATE_DIR={workspace} .venv/bin/duban list "
        "(or show --number 152, why 市卫生健康委, explain --number 730)",
        markup=False,
    )


def _morning(duban, day: date) -> datetime:  # type: ignore[no-untyped-def]
    """The demo chases at 09:30 on the day, inside office hours, whatever the clock says."""
    return datetime.combine(day, time(9, 30), tzinfo=duban.settings.zone)


class _Steps:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.number = 0

    def __call__(self, text: str) -> None:
        self.number += 1
        self.console.print(f"[green]{self.number}.[/] {text}", highlight=False)


def _clean(workspace: Path) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    for entry in workspace.iterdir():
        if entry.name in KEEP:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _compare_with_seed(compiled_tsv: Path) -> tuple[int, int]:
    """How many of the seed's rows (with swaps put right) come back cell for cell."""
    original, _, _ = check_table(SEED)
    compiled, _, _ = check_table(compiled_tsv)
    same = sum(a == b for a, b in zip(_cells(original), _cells(compiled), strict=False))
    return same, len(original)


def _cells(rows):  # type: ignore[no-untyped-def]
    return [
        (
            r.category,
            r.number,
            r.lead_representative,
            r.signer_count,
            r.title,
            r.handling_type,
            r.lead_unit,
            r.co_units,
            r.commitment,
            r.feedback,
        )
        for r in rows
    ]
