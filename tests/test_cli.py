"""The ``duban`` command line, driven through its typer app against a real database.

Only the quick commands run here: ``chase`` without --dry-run and ``compile`` start Prefect and
are tested with the flows. Settings come from the environment, as they do for a user.
"""

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from flows.cli import app
from tracking.models import (
    Event,
    FollowUpItem,
    ItemStatus,
    Notification,
    ProgressUpdate,
    Proposal,
    Unit,
)

ROOT = Path(__file__).resolve().parent.parent
UNITS_FILE = ROOT / "config" / "demo" / "units.toml"
SEED_UNITS = [
    "市人力资源社会保障局",
    "市卫生健康委",
    "市发展改革委",
    "市工业和信息化局",
    "市教育局",
    "市民政局",
    "市财政局",
]

Duban = Callable[..., Result]


def _clear_duban_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("DUBAN_")]:
        monkeypatch.delenv(name)
    # Wide enough that rich never wraps a table cell or a message with a long temporary path.
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.chdir(tmp_path)  # no ./duban.toml


def _runner() -> Duban:
    runner = CliRunner()

    def duban(*args: str) -> Result:
        result = runner.invoke(app, list(args))
        # A user-facing failure is an exit code and a message, never a traceback.
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return duban


@pytest.fixture
def duban(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Duban:
    """The command line on the test database (SQLite and PostgreSQL)."""
    _clear_duban_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("DUBAN_DATABASE_URL", database_url)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "state"))
    return _runner()


@pytest.fixture
def duban_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Duban:
    """The command line on the default SQLite database in its state folder."""
    _clear_duban_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("DUBAN_STATE_DIR", str(tmp_path / "state"))
    return _runner()


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the rich tables in ``output``, as stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def swapped_lines(seed: Path) -> list[int]:
    """Lines of the seed whose 编号 column holds a name, found without the importer."""
    return [
        number
        for number, line in enumerate(seed.read_text(encoding="utf-8").split("\n"), start=1)
        if len(cells := line.split("\t")) == 11 and cells[0].isdigit() and not cells[2].isdigit()
    ]


def import_seed(duban: Duban, seed: Path) -> Result:
    result = duban("import", str(seed), "--year", "2022", "--reported-on", "2022-11-01")
    assert result.exit_code == 0, result.output
    return result


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


# --- import -----------------------------------------------------------------------------------


def test_import_prints_the_counts_and_the_swaps_then_changes_nothing(
    duban: Duban, seed: Path, engine: Engine
) -> None:
    first = import_seed(duban, seed)

    assert f"{seed}: 11 rows — proposals 11 new, 0 updated; items 11 new, 0 updated; " in (
        first.stdout
    )
    assert "units 7 new; assignments 26 changed; feedback recorded 11." in first.stdout
    lines = swapped_lines(seed)
    assert lines == [9, 11, 12, 13, 15, 16, 17, 19]
    assert first.stderr.count("warning:") == len(lines)
    for line in lines:
        assert f"warning: {seed}:{line}: 编号 and 领衔代表 were swapped" in first.stderr
    assert "read as 编号 '217', 领衔代表 '陈美霖'" in first.stderr
    with Session(engine) as session:
        assert {u.reported_on for u in session.exec(select(ProgressUpdate))} == {date(2022, 11, 1)}
        assert session.exec(select(Proposal).where(Proposal.number == "217")).one().title == (
            "关于深入发展养老产业进一步挖掘“银发经济”潜力的提案"
        )
    events = count(engine, Event)

    second = import_seed(duban, seed)

    assert f"{seed}: 11 rows, already up to date; nothing changed." in second.stdout
    assert "new" not in second.stdout
    assert count(engine, Event) == events
    assert count(engine, ProgressUpdate) == 11


def test_a_broken_file_is_refused_with_its_places_and_nothing_is_written(
    duban: Duban, seed: Path, tmp_path: Path, engine: Engine
) -> None:
    lines = seed.read_text(encoding="utf-8").split("\n")
    assert lines[5].startswith("1\t人大建议\t730\t") and lines[6].startswith("2\t政协提案\t152\t")
    lines[5] = lines[5].replace("\t人大建议\t", "\t人大提议\t", 1)  # line 6, column 2
    lines[6] = lines[6].replace("\t边 恕\t1\t", "\t边 恕\t一人\t", 1)  # line 7, column 5
    broken = tmp_path / "broken.txt"
    broken.write_text("\n".join(lines), encoding="utf-8")

    result = duban("import", str(broken), "--year", "2022")

    assert result.exit_code == 1
    assert f"{broken}: 2 problem(s) found; nothing was imported" in result.stderr
    assert f"{broken}:6:2: 类别: '人大提议' is neither 人大建议 nor 政协提案" in result.stderr
    assert f"{broken}:7:5: 人数: '一人' is not a whole number" in result.stderr
    assert result.stdout.strip() == ""
    for model in (Proposal, FollowUpItem, Unit, ProgressUpdate, Event):
        assert count(engine, model) == 0, model.__name__


def test_a_missing_file_is_a_message_not_a_traceback(duban: Duban, tmp_path: Path) -> None:
    result = duban("import", str(tmp_path / "nowhere.txt"), "--year", "2022")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'nowhere.txt'}: file not found" in result.stderr


# --- units ------------------------------------------------------------------------------------


def test_units_check_lists_units_without_e_mail_until_they_are_loaded(
    duban: Duban, seed: Path
) -> None:
    import_seed(duban, seed)

    before = duban("units", "check")
    assert before.exit_code == 1
    assert before.stdout.splitlines() == [f"{name}: no contact e-mail" for name in SEED_UNITS]

    loaded = duban("units", "load", str(UNITS_FILE))
    assert loaded.exit_code == 0, loaded.output
    assert f"{UNITS_FILE}: 0 units created, 7 updated, 0 unchanged." in loaded.stdout

    after = duban("units", "check")
    assert after.exit_code == 0
    assert after.stdout.strip() == "Every unit has a contact e-mail."

    listed = duban("units", "list")
    assert listed.exit_code == 0
    rows = {row[0]: row[1:] for row in table_rows(listed.stdout)}
    assert sorted(rows) == sorted(SEED_UNITS)
    assert rows["市卫生健康委"] == ["市卫健委", "wjw-duban@example.org"]
    assert rows["市发展改革委"] == ["市发改委 市发展和改革委员会", "fgw-duban@example.org"]
    assert rows["市教育局"] == ["", "jyj-duban@example.org"]

    again = duban("units", "load", str(UNITS_FILE))
    assert f"{UNITS_FILE}: 0 units created, 0 updated, 7 unchanged." in again.stdout


def test_units_list_marks_a_unit_without_e_mail(duban: Duban, seed: Path) -> None:
    import_seed(duban, seed)
    rows = table_rows(duban("units", "list").stdout)
    assert ["市财政局", "", "none"] in rows


def test_a_bad_units_file_names_the_entry(duban: Duban, tmp_path: Path) -> None:
    units = tmp_path / "units.toml"
    units.write_text('[[unit]]\nname = "市民政局"\nemails = ["not-an-address"]\n', "utf-8")
    result = duban("units", "load", str(units))
    assert result.exit_code == 1
    assert f"{units}: unit[1].emails: 'not-an-address' is not an e-mail address" in result.stderr


# --- assign, update, list, show, feedback -----------------------------------------------------


def load_demo(duban: Duban, seed: Path) -> None:
    import_seed(duban, seed)
    assert duban("units", "load", str(UNITS_FILE)).exit_code == 0


def assign_0900(duban: Duban) -> Result:
    return duban(
        "assign",
        "--year", "2022",
        "--category", "政协提案",
        "--number", "0900",
        "--commitment", "年内新建社区食堂10个。",
        "--lead", "市民政局",
        "--co", "市卫健委",
        "--co", "市教育局",
        "--due", "2022-12-31",
        "--title", "关于发展社区老年助餐的提案",
        "--representative", "王 五",
    )  # fmt: skip


def test_assign_update_list_and_show(duban: Duban, seed: Path, engine: Engine) -> None:
    load_demo(duban, seed)

    added = assign_0900(duban)
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "Added item 12."

    progress = duban(
        "update", "--number", "0900", "--unit", "市卫健委",
        "--text", "已完成食品安全培训。", "--date", "2022-06-01",
    )  # fmt: skip
    assert progress.exit_code == 0, progress.output
    assert "Recorded progress from 市卫健委 on item 12 (item is open)." in progress.stdout

    listed = duban("list", "--as-of", "2022-06-15")
    assert listed.exit_code == 0
    rows = table_rows(listed.stdout)
    assert [row[0] for row in rows] == [str(n) for n in range(1, 13)]
    assert rows[-1] == [
        "12", "2022", "政协提案", "0900", "关于发展社区老年助餐的提案",
        "市民政局", "open", "市民政局 市教育局",
    ]  # fmt: skip
    # Imported items close with the table's feedback, dated 2022-11-01.
    assert rows[3][:4] == ["4", "2022", "政协提案", "217"] and rows[3][6] == "closed"
    assert "12 items." in listed.stdout

    open_only = duban("list", "--status", "open", "--as-of", "2022-06-15")
    assert [row[0] for row in table_rows(open_only.stdout)] == ["12"]
    assert "1 items." in open_only.stdout
    closed = duban("list", "--status", "closed")
    assert len(table_rows(closed.stdout)) == 11
    by_unit = duban("list", "--unit", "市教育局")
    assert [row[3] for row in table_rows(by_unit.stdout)] == ["199", "379", "0900"]

    shown = duban("show", "--number", "730")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "Item 1 · 2022 人大建议 730 · closed" in out
    assert "领衔代表: 张正义" in out
    assert "跟踪落实事项: 完成全市街路牌电子化档案信息录入工作。" in out
    assert "due: —   closed on: 2022-11-01" in out
    units = {row[0]: row[1:3] for row in table_rows(out) if row[0].startswith("市")}
    assert units == {
        "市民政局": ["lead", "closed"],
        "市发展改革委": ["co", "closed"],
        "市卫生健康委": ["co", "closed"],
        "市人力资源社会保障局": ["co", "closed"],
    }
    assert any(row[:4] == ["2022-11-01", "市民政局", "final", "import"] for row in table_rows(out))
    assert any(row[2:] == ["item.close", "lead unit's final feedback"] for row in table_rows(out))

    final = duban(
        "update", "--number", "0900", "--unit", "市民政局", "--text", "已建成10个。",
        "--final", "--date", "2022-07-01",
    )  # fmt: skip
    assert final.exit_code == 0, final.output
    assert "Recorded final from 市民政局 on item 12 (item is closed)." in final.stdout
    with Session(engine) as session:
        item = session.get(FollowUpItem, 12)
        assert item is not None
        assert (item.status, item.closed_on) == (ItemStatus.CLOSED, date(2022, 7, 1))


def test_progress_on_a_closed_item_is_refused(duban: Duban, seed: Path, engine: Engine) -> None:
    load_demo(duban, seed)
    updates = count(engine, ProgressUpdate)

    refused = duban(
        "update", "--number", "730", "--unit", "市发改委", "--text", "补充进展",
        "--date", "2022-12-01",
    )  # fmt: skip

    assert refused.exit_code == 1
    assert (
        "error: item 1 was closed on 2022-11-01; record final feedback to correct it, not progress"
        in refused.stderr
    )
    assert count(engine, ProgressUpdate) == updates

    # A final report is a correction, and is accepted; the item stays closed.
    corrected = duban(
        "update", "--number", "730", "--unit", "市民政局", "--text", "更正后的反馈",
        "--final", "--date", "2022-12-01",
    )  # fmt: skip
    assert corrected.exit_code == 0, corrected.output
    assert "(item is closed)" in corrected.stdout
    assert count(engine, ProgressUpdate) == updates + 1


def test_ambiguous_and_unknown_references_are_clear_errors(
    duban: Duban, seed: Path, engine: Engine
) -> None:
    load_demo(duban, seed)
    added = duban(
        "assign", "--year", "2023", "--category", "人大建议", "--number", "730",
        "--commitment", "2023年的事项。", "--lead", "市民政局",
        "--title", "关于完善街路标识牌的建议",
    )  # fmt: skip
    assert added.stdout.strip() == "Added item 12."
    events = count(engine, Event)

    ambiguous = duban("show", "--number", "730")
    assert ambiguous.exit_code == 1
    assert (
        "error: proposal number 730 matches several items: item 1 (2022 人大建议 730), "
        "item 12 (2023 人大建议 730); narrow it with --category, --year or --item"
    ) in ambiguous.stderr
    assert ambiguous.stdout == ""
    assert duban("show", "--number", "730", "--year", "2023").exit_code == 0

    for args, message in [
        (("show", "--number", "9999"), "error: no follow-up item for proposal number 9999"),
        (("show", "--item", "999"), "error: no follow-up item with id 999"),
        (("show",), "error: name the item by --item ID or by proposal --number"),
        (
            ("update", "--item", "12", "--unit", "市不存在局", "--text", "x"),
            "error: no unit named '市不存在局' (see `duban units list`)",
        ),
        (
            ("update", "--item", "12", "--unit", "市财政局", "--text", "x"),
            "error: 市财政局 is not assigned to item 12",
        ),
        (("feedback", "set", "--number", "730", "x"), "error: proposal number 730 matches"),
        (("list", "--status", "pending"), "error: status must be one of open, closed"),
        (("list", "--unit", "市不存在局"), "error: no unit named '市不存在局'"),
        (
            (
                "assign", "--year", "2022", "--category", "人大提议", "--number", "1",
                "--commitment", "x", "--lead", "市民政局", "--title", "t",
            ),
            "error: category must be 人大建议 or 政协提案, not '人大提议'",
        ),
        (
            (
                "assign", "--year", "2022", "--category", "人大建议", "--number", "1",
                "--commitment", "x", "--lead", "市民政局",
            ),
            "error: 2022 人大建议 1 is a new proposal: give its --title",
        ),
    ]:  # fmt: skip
        result = duban(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    assert count(engine, Event) == events  # nothing was written by any of them


def test_feedback_set_and_clear(duban: Duban, seed: Path, engine: Engine) -> None:
    load_demo(duban, seed)

    set_ = duban("feedback", "set", "--number", "730", "全市街路牌已全部录入。", "--reason", "精简")
    assert set_.exit_code == 0, set_.output
    assert "Item 1: 落实情况反馈 set." in set_.stdout
    assert (
        "coordinator's 落实情况反馈: 全市街路牌已全部录入。" in duban("show", "--item", "1").stdout
    )
    with Session(engine) as session:
        assert session.get(FollowUpItem, 1).final_text == "全市街路牌已全部录入。"  # type: ignore[union-attr]
        event = session.exec(select(Event).where(Event.action == "followupitem.final_text")).one()
        assert (event.actor, event.reason, event.after) == (
            "cli",
            "精简",
            {"final_text": "全市街路牌已全部录入。"},
        )

    cleared = duban("feedback", "set", "--number", "730", "--clear")
    assert cleared.exit_code == 0, cleared.output
    assert "Item 1: 落实情况反馈 cleared." in cleared.stdout
    assert "coordinator's" not in duban("show", "--item", "1").stdout
    with Session(engine) as session:
        assert session.get(FollowUpItem, 1).final_text is None  # type: ignore[union-attr]

    blank = duban("feedback", "set", "--number", "730", "  ")
    assert blank.exit_code == 1
    assert "error: the 落实情况反馈 text is empty; use --clear" in blank.stderr

    for args in [
        ("feedback", "set", "--number", "730"),
        ("feedback", "set", "--number", "730", "x", "--clear"),
    ]:
        result = duban(*args)
        assert result.exit_code == 2
        assert "give the TEXT, or --clear (not both)" in result.stderr


def test_text_that_looks_like_markup_is_printed_as_written(duban: Duban) -> None:
    """Titles, items and unit names are data: rich must not read "[/]" or "[b]" as markup."""
    added = duban(
        "assign", "--year", "2022", "--category", "人大建议", "--number", "1",
        "--commitment", "第[b]一[/b]项", "--lead", "市民政局", "--title", "关于[/]标识的建议",
    )  # fmt: skip
    assert added.exit_code == 0, added.output

    listed = duban("list", "--as-of", "2022-06-15")
    assert listed.exit_code == 0
    assert table_rows(listed.stdout)[0][4] == "关于[/]标识的建议"
    shown = duban("show", "--item", "1")
    assert shown.exit_code == 0
    assert "跟踪落实事项: 第[b]一[/b]项" in shown.stdout
    unknown = duban("update", "--item", "1", "--unit", "[/x]", "--text", "x")
    assert unknown.exit_code == 1
    assert "error: no unit named '[/x]'" in unknown.stderr


# --- chase --dry-run --------------------------------------------------------------------------


def test_chase_dry_run_lists_units_and_counts_and_sends_nothing(
    duban: Duban, seed: Path, tmp_path: Path, engine: Engine
) -> None:
    nothing = duban("chase", "--as-of", "2022-06-15", "--dry-run")
    assert nothing.exit_code == 0
    assert "As of 2022-06-15 no unit owes a report." in nothing.stdout

    load_demo(duban, seed)
    assert assign_0900(duban).exit_code == 0
    reported = duban(
        "update", "--number", "0900", "--unit", "市卫生健康委", "--text", "培训完成",
        "--date", "2022-06-01",
    )  # fmt: skip
    assert reported.exit_code == 0

    plan = duban("chase", "--as-of", "2022-06-15", "--dry-run")

    assert plan.exit_code == 0, plan.output
    assert "Chase plan as of 2022-06-15" in plan.stdout
    rows = {row[0]: row[1:] for row in table_rows(plan.stdout)}
    # As of mid-June the table's feedback (dated 2022-11-01) is not yet in: every unit on the
    # table owes on each of its items, plus the new item's lead and silent co unit; 市卫生健康委
    # reported on the new item two weeks earlier and does not owe it.
    assert rows == {
        "市人力资源社会保障局": ["4", "rsj-duban@example.org"],
        "市卫生健康委": ["4", "wjw-duban@example.org"],
        "市发展改革委": ["3", "fgw-duban@example.org"],
        "市工业和信息化局": ["1", "gxj-duban@example.org"],
        "市教育局": ["3", "jyj-duban@example.org"],
        "市民政局": ["12", "mzj-duban@example.org"],
        "市财政局": ["1", "czj-duban@example.org"],
    }
    assert list(rows) == sorted(rows)
    assert count(engine, Notification) == 0
    outbox = tmp_path / "state" / "outbox"
    assert not outbox.exists() or list(outbox.iterdir()) == []

    after_the_feedback = duban("chase", "--as-of", "2022-11-15", "--dry-run")
    rows = {row[0]: row[1:] for row in table_rows(after_the_feedback.stdout)}
    assert rows == {
        "市卫生健康委": ["1", "wjw-duban@example.org"],
        "市教育局": ["1", "jyj-duban@example.org"],
        "市民政局": ["1", "mzj-duban@example.org"],
    }


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DUBAN_SMTP_PORT", "abc", "DUBAN_SMTP_PORT: Input should be a valid integer"),
        ("DUBAN_TIMEZONE", "Mars/Base", "DUBAN_TIMEZONE: unknown time zone 'Mars/Base'"),
        ("DUBAN_DATABASE_URL", "mysql://db/duban", "DUBAN_DATABASE_URL: must start with sqlite"),
    ],
)
def test_a_bad_setting_is_named_and_stops_the_command(
    duban_sqlite: Duban,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    for args in [("list",), ("units", "check"), ("chase", "--dry-run")]:
        result = duban_sqlite(*args)
        assert result.exit_code == 1, args
        assert "error: invalid settings:" in result.stderr
        assert message in result.stderr
        assert f"(got {value!r})" in result.stderr
    assert not (tmp_path / "state").exists()  # it stopped before touching anything


def test_a_missing_settings_file_is_named(duban_sqlite: Duban, tmp_path: Path) -> None:
    result = duban_sqlite("--config", str(tmp_path / "nope.toml"), "list")
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope.toml'}: cannot read the settings file" in result.stderr


# --- quick commands never import Prefect ------------------------------------------------------

PROBE = textwrap.dedent(
    """
    import json, sys
    from typer.testing import CliRunner
    from flows.cli import app

    runner = CliRunner()
    seen = {}
    for args in json.loads(sys.argv[1]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        seen[args[0]] = sorted(
            name for name in sys.modules if name == "prefect" or name.startswith("prefect.")
        )
    print(json.dumps(seen))
    """
)


def test_quick_commands_never_import_prefect(tmp_path: Path, seed: Path) -> None:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("DUBAN_")
    }
    environment.update(
        DUBAN_DATABASE_URL=f"sqlite:///{tmp_path / 'duban.db'}",
        DUBAN_STATE_DIR=str(tmp_path / "state"),
    )
    commands = [
        ["import", str(seed), "--year", "2022", "--reported-on", "2022-11-01"],
        ["list"],
        ["show", "--number", "730"],
        ["chase", "--dry-run", "--as-of", "2022-06-15"],
    ]

    completed = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen == {"import": [], "list": [], "show": [], "chase": []}
    assert (tmp_path / "duban.db").exists()  # the commands really ran on the database
