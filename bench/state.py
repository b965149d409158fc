"""The databases the workloads start from: copied, not rebuilt, so every run starts alike."""

import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path

from bench.baselines import read_rows


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def copy_state(source: Path, target: Path) -> Path:
    """A copy of the folder holding ``duban.db`` (checkpointed: its WAL is folded in first)."""
    with closing(sqlite3.connect(source / "duban.db")) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fresh_dir(target)
    shutil.copy2(source / "duban.db", target / "duban.db")
    return target


def record_final_reports(db: Path, table: Path, *, reported_on: date, now: datetime) -> int:
    """Setup for compiling: the table's 落实情况反馈 as each lead unit's final report, the row
    ``duban import`` with the feedback column writes, inserted directly (not timed)."""
    feedback = {int(row[0]): row[10] for row in read_rows(table)}
    recorded = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with closing(sqlite3.connect(db, isolation_level=None)) as connection:
        leads = connection.execute(
            "SELECT i.id, i.position, a.unit_id FROM followupitem i "
            "JOIN assignment a ON a.item_id = i.id AND a.role = 'lead'"
        ).fetchall()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO progressupdate (item_id, unit_id, text, kind, reported_on, reported_by,"
            " source, recorded_at) VALUES (?, ?, ?, 'final', ?, 'bench', 'import', ?)",
            [
                (item_id, unit_id, feedback[position], reported_on.isoformat(), recorded)
                for item_id, position, unit_id in leads
            ],
        )
        connection.execute("COMMIT")
    return len(leads)
