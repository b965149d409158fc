"""duban's side of each workload: the product code the commands run, called as they call it.

Each function does one workload on state the caller prepared; the caller times it. Nothing here
changes duban (the one what-if, bench.calendar_fix, is handed in through the App like any
calendar).
"""

import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

from config.settings import Settings
from flows import delivery
from flows.app import App, build_app
from notifications.mail import MailBackend, MemoryBackend
from tracking.compile import summary_rows, summary_title
from tracking.db import transaction
from tracking.importer import ImportReport, import_table
from tracking.summary_writer import write_xlsx
from tracking.units import load_units, read_units_file

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def make_app(state_dir: Path, *, mail: MailBackend | None = None) -> App:
    """The App the commands build, on a SQLite file in ``state_dir``."""
    settings = Settings(state_dir=state_dir, database_url=f"sqlite:///{state_dir}/duban.db")
    return build_app(settings, mail=mail or MemoryBackend())


# --- W1 ---------------------------------------------------------------------------------------


def import_year(app: App, table: Path, *, year: int, now: datetime) -> ImportReport:
    """``duban import TABLE --year YEAR --no-feedback``: the items under follow-up."""
    return import_table(
        app.engine, table, year=year, reported_on=now.date(), now=now, include_feedback=False
    )


def load_contacts(app: App, units_file: Path, *, now: datetime) -> None:
    """``duban units load``: every unit gets a liaison, so that every digest has a recipient."""
    with transaction(app.engine) as session:
        load_units(session, read_units_file(units_file), now=now, actor="bench")


# --- W2 and W3 --------------------------------------------------------------------------------


def draft_chase(app: App, *, as_of: date, now: datetime) -> tuple[int, int]:
    """The chase flow's steps before delivery: plan, render, write the ledger.

    Returns (digests, entries)."""
    chase = delivery.plan(app, as_of, now)
    written = delivery.draft_digests(app, chase, now=now)
    return written, sum(len(digest.entries) for digest in chase.digests)


def deliver_pending(app: App, *, now: datetime, limit: int | None = None) -> int:
    """The flows' delivery without Prefect's tasks (the retry flow's loop): each pending message
    claimed, sent and marked, over one mail connection; how many sent."""
    outcomes = delivery.deliver_each(app, delivery.pending_ids(app)[:limit], now)
    for outcome in outcomes:
        if outcome.status != "sent":
            raise RuntimeError(f"message {outcome.notification_id} was not sent: {outcome.error}")
    return len(outcomes)


# --- W4 ---------------------------------------------------------------------------------------


def compile_xlsx(app: App, out: Path, *, year: int) -> int:
    """``duban compile``'s rows and workbook (the TSV and HTML beside it are not timed)."""
    with transaction(app.engine) as session:
        rows = summary_rows(session, year=year)
    write_xlsx(rows, out, summary_title(rows, year=year), sheet_title=f"{year}年度")
    return len(rows)


def summary_rows_only(app: App, *, year: int) -> int:
    """The part of compile_xlsx before the workbook, to tell the two apart."""
    with transaction(app.engine) as session:
        return len(summary_rows(session, year=year))


# --- W5 and Prefect's start -------------------------------------------------------------------

# Run in the child: the command as the console script runs it, then whether Prefect came in.
_LIST_AND_CHECK = """
import sys
from flows.cli import app
try:
    app(["list"], prog_name="duban")
except SystemExit as exc:
    if exc.code:
        raise
loaded = any(name.split(".")[0] == "prefect" for name in sys.modules)
print("PREFECT-LOADED" if loaded else "PREFECT-ABSENT")
"""


def quick_command_env(state_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DUBAN_")}
    return {**env, "DUBAN_STATE_DIR": str(state_dir), "COLUMNS": "200"}


def time_command(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds ``argv`` took; its output is discarded, its stderr shown only if it fails."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}: {error}")
    return elapsed


def prefect_absent_after_list(state_dir: Path, cwd: Path) -> bool:
    """Run ``duban list`` in a fresh interpreter and look for prefect in its sys.modules."""
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-c", _LIST_AND_CHECK],
        env={**quick_command_env(state_dir), "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.rstrip().endswith("PREFECT-ABSENT")


_FIRST_FLOW = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from config.settings import Settings
from flows.prefect_setup import configure_prefect, without_heartbeats
configure_prefect(Settings(state_dir=Path(sys.argv[1])))
from prefect import flow
imported = time.perf_counter()

@flow(name="bench-trivial")
def trivial() -> int:
    return 1

with without_heartbeats():
    assert trivial() == 1
print(json.dumps({"import": imported - started, "first_run": time.perf_counter() - started}))
"""


def prefect_first_run(state_dir: Path) -> dict[str, float]:
    """A fresh interpreter's time to import Prefect and finish one trivial flow run, and the
    whole process's wall time (the temporary server stops at exit)."""
    import json

    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_FLOW, str(state_dir)],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "process": time.perf_counter() - start}
