"""The ``duban`` command line, driven through its typer app against a real database.

Only the quick commands run here: ``chase`` without --dry-run and ``compile`` start Prefect and
are tested with the flows. Settings come from the environment, as they do for a user.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cli_runner import Duban
from click.testing import Result
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from flows.cli import records
from tracking.models import (
    Event,
    FollowUpItem,
    ItemStatus,
    Notification,
    ProgressUpdate,
    Proposal,
    ReminderLog,
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


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the rich tables in ``output``, as stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def listed_rows(output: str) -> list[list[str]]:
    """The items ``duban list`` prints when its output is not a terminal: tab-separated lines
    after a header line."""
    header, *lines = output.splitlines()
    assert header.split("\t")[:2] == ["id", "year"], header
    return [line.split("\t") for line in lines]


DIGEST_HEADER = re.compile(r"^(\S+) \((\w+)\) → (.*)$")


def plan_digests(output: str) -> dict[str, tuple[str, str, list[str]]]:
    """The digests of a printed plan: unit -> (audience, recipients, one line per reminder)."""
    digests: dict[str, tuple[str, str, list[str]]] = {}
    reminders: list[str] = []
    for line in output.splitlines():
        if header := DIGEST_HEADER.match(line):
            unit, audience, to = header.groups()
            reminders = []
            digests[unit] = (audience, to, reminders)
        elif line.startswith("  item "):
            reminders.append(line.strip())
    return digests


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
    assert (
        "units 7 new; assignments 26 changed; feedback recorded 11 (11 items now 已落实)."
        in first.stdout
    )
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
    assert "new" not in second.stdout.replace(str(seed), "")  # the path may say "new"
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
        "--assigned-on", "2022-03-01",
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
    # The unit by its own name, the alias resolved; a co unit's report does not start the item.
    assert "Recorded progress from 市卫生健康委 on item 12 (item is 待签收)." in progress.stdout

    listed = duban("list", "--as-of", "2022-06-15")
    assert listed.exit_code == 0
    assert "owing as of 2022-06-15" in listed.stdout
    rows = listed_rows(listed.stdout)
    assert [row[0] for row in rows] == [str(n) for n in range(1, 13)]
    # The lead owes its reply, and the co units their written opinion: a progress report is
    # not the opinion, so 市卫生健康委 still owes it.
    assert rows[-1] == [
        "12", "2022", "政协提案", "0900", "关于发展社区老年助餐的提案",
        "市民政局", "待签收", "市民政局 市卫生健康委 市教育局",
    ]  # fmt: skip
    # Imported items are resolved by the table's feedback, dated 2022-11-01; in June they were
    # still under follow-up, and every unit on them owed progress.
    assert rows[3] == [
        "4", "2022", "政协提案", "217", "关于深入发展养老产业进一步挖掘“银发经济”潜力的提案",
        "市民政局", "已落实", "市民政局 市发展改革委 市工业和信息化局",
    ]  # fmt: skip
    assert listed.stderr == "12 items.\n"
    # After the feedback nobody owes anything on them.
    later = listed_rows(duban("list", "--as-of", "2022-11-15").stdout)
    assert [row[7] for row in later[:11]] == ["—"] * 11

    open_only = duban("list", "--status", "open", "--as-of", "2022-06-15")
    assert [row[0] for row in listed_rows(open_only.stdout)] == ["12"]
    assert "1 items." in open_only.stderr
    for status in ("resolved", "已落实"):
        resolved = duban("list", "--status", status)
        assert [row[0] for row in listed_rows(resolved.stdout)] == [str(n) for n in range(1, 12)]
    for status in ("assigned", "待签收"):
        waiting = duban("list", "--status", status)
        assert [row[0] for row in listed_rows(waiting.stdout)] == ["12"]
    assert listed_rows(duban("list", "--status", "following").stdout) == []
    by_unit = duban("list", "--unit", "市教育局")
    assert [row[3] for row in listed_rows(by_unit.stdout)] == ["199", "379", "0900"]

    shown = duban("show", "--number", "730")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    lines = out.splitlines()
    assert lines[0] == "Item 1 · 2022 人大建议 730 · 已落实"
    for line in [
        "建议提案题目: 关于完善街路标识牌的建议",
        "领衔代表: 张正义",
        "跟踪落实事项: 完成全市街路牌电子化档案信息录入工作。",
        "交办日期: —",
        "答复类别: —",
        "满意度: —",
        "已落实日期: 2022-11-01",
    ]:
        assert line in lines, line
    units = {row[0]: row[1:] for row in table_rows(out) if row[0].startswith("市")}
    assert units == {
        "市民政局": ["主办", "已办结", "2022-11-01", "—"],
        "市发展改革委": ["协办", "已办结", "—", "—"],
        "市卫生健康委": ["协办", "已办结", "—", "—"],
        "市人力资源社会保障局": ["协办", "已办结", "—", "—"],
    }
    reports, history = lines.index("Reports"), lines.index("History (times in UTC)")
    assert reports < history
    assert "2022-11-01  市民政局  final (import)" in lines[reports:history]
    assert any(
        line.endswith("  cli:seed-2022.txt  item.status: the lead unit's final feedback")
        for line in lines[history:]
    )

    owing = duban("show", "--number", "0900")
    assert owing.exit_code == 0, owing.output
    assert "交办日期: 2022-03-01" in owing.stdout
    assert {row[0]: row[1:] for row in table_rows(owing.stdout)} == {
        "市民政局": ["主办", "待签收", "—", "答复代表委员 (2022-06-01)"],
        "市卫生健康委": ["协办", "办理中", "2022-06-01", "向主办单位提交协办意见 (2022-04-01)"],
        "市教育局": ["协办", "待签收", "—", "向主办单位提交协办意见 (2022-04-01)"],
    }

    final = duban(
        "update", "--number", "0900", "--unit", "市民政局", "--text", "已建成10个。",
        "--final", "--date", "2022-07-01",
    )  # fmt: skip
    assert final.exit_code == 0, final.output
    assert "Recorded final from 市民政局 on item 12 (item is 已落实)." in final.stdout
    with Session(engine) as session:
        item = session.get(FollowUpItem, 12)
        assert item is not None
        assert (item.status, item.closed_on) == (ItemStatus.RESOLVED, date(2022, 7, 1))


def test_progress_on_a_closed_item_is_refused(duban: Duban, seed: Path, engine: Engine) -> None:
    load_demo(duban, seed)
    updates = count(engine, ProgressUpdate)

    refused = duban(
        "update", "--number", "730", "--unit", "市发改委", "--text", "补充进展",
        "--date", "2022-12-01",
    )  # fmt: skip

    assert refused.exit_code == 1
    assert (
        "error: item 1 was resolved on 2022-11-01; "
        "record final feedback to correct it, not progress"
    ) in refused.stderr
    assert count(engine, ProgressUpdate) == updates

    # A final report is a correction, and is accepted; the item stays resolved as it was.
    corrected = duban(
        "update", "--number", "730", "--unit", "市民政局", "--text", "更正后的反馈",
        "--final", "--date", "2022-12-01",
    )  # fmt: skip
    assert corrected.exit_code == 0, corrected.output
    assert "Recorded final from 市民政局 on item 1 (item is 已落实)." in corrected.stdout
    assert count(engine, ProgressUpdate) == updates + 1
    with Session(engine) as session:
        item = session.get(FollowUpItem, 1)
        assert item is not None
        assert (item.status, item.closed_on) == (ItemStatus.RESOLVED, date(2022, 11, 1))


def test_ambiguous_and_unknown_references_are_clear_errors(
    duban: Duban, seed: Path, engine: Engine
) -> None:
    load_demo(duban, seed)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    added = duban(
        "assign", "--year", "2023", "--category", "人大建议", "--number", "730",
        "--commitment", "2023年的事项。", "--lead", "市民政局",
        "--title", "关于完善街路标识牌的建议",
    )  # fmt: skip
    assert added.stdout.strip() == "Added item 12."
    with Session(engine) as session:
        item = session.get(FollowUpItem, 12)
        assert item is not None
        # Without --assigned-on the item is assigned today (the command's clock, in Shanghai).
        assert item.status == ItemStatus.ASSIGNED
        assert item.assigned_on in {today, datetime.now(ZoneInfo("Asia/Shanghai")).date()}
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
            "error: no unit named '市不存在局'; see `duban units list`",
        ),
        (
            ("update", "--item", "12", "--unit", "市财政厅", "--text", "x"),
            "error: no unit named '市财政厅' (did you mean 市财政局",
        ),
        (
            ("update", "--item", "12", "--unit", "市财政局", "--text", "x"),
            "error: 市财政局 is not assigned to item 12",
        ),
        (("feedback", "set", "--number", "730", "x"), "error: proposal number 730 matches"),
        (
            ("list", "--status", "pending"),
            "error: status must be open or one of: assigned (待签收), handling (办理中), "
            "replied (已答复), following (跟踪落实), resolved (已落实), returned (退回), "
            "reopened (重新办理); not 'pending'",
        ),
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
    for args in [
        ("list", "--as-of", "2022-02-30"),
        ("update", "--item", "12", "--unit", "市民政局", "--text", "x", "--date", "2022-02-30"),
    ]:
        result = duban(*args)
        assert result.exit_code == 2, (args, result.output)  # a usage error
        assert "'2022-02-30' is not a date; write it as YYYY-MM-DD" in result.stderr, args
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
        "--new-unit",
    )  # fmt: skip
    assert added.exit_code == 0, added.output

    listed = duban("list", "--as-of", "2022-06-15")
    assert listed.exit_code == 0
    assert listed_rows(listed.stdout)[0][4] == "关于[/]标识的建议"
    shown = duban("show", "--item", "1")
    assert shown.exit_code == 0
    assert "跟踪落实事项: 第[b]一[/b]项" in shown.stdout
    unknown = duban("update", "--item", "1", "--unit", "[/x]", "--text", "x")
    assert unknown.exit_code == 1
    assert "error: no unit named '[/x]'" in unknown.stderr


def test_list_is_a_table_on_a_terminal_unless_there_are_many_items(
    duban: Duban, seed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table measures every cell, so it is for a terminal and a few items; lines otherwise."""
    load_demo(duban, seed)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes the output for a terminal
    monkeypatch.setenv("NO_COLOR", "1")

    on_terminal = duban("list", "--as-of", "2022-06-15")
    assert on_terminal.exit_code == 0
    rows = table_rows(on_terminal.stdout)
    assert [row[0] for row in rows] == [str(n) for n in range(1, 12)]
    assert on_terminal.stdout.endswith("\n11 items.\n") and on_terminal.stderr == ""

    monkeypatch.setattr(records, "LIST_TABLE_MAX_ROWS", 10)
    many = duban("list", "--as-of", "2022-06-15")
    assert many.exit_code == 0
    assert listed_rows(many.stdout) == rows
    assert many.stderr == "11 items.\n"


def test_a_narrow_terminal_folds_titles_instead_of_cutting_them(
    duban: Duban, seed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(duban, seed)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")

    listed = duban("list", "--as-of", "2022-06-15")

    assert listed.exit_code == 0
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    titles: list[str] = []
    for row in table_rows(listed.stdout):
        if row[0]:
            titles.append(row[4])
        else:  # a folded title's next line
            titles[-1] += row[4]
    monkeypatch.delenv("TTY_COMPATIBLE")
    lines = duban("list", "--as-of", "2022-06-15")
    assert titles == [row[4] for row in listed_rows(lines.stdout)]
    assert len(table_rows(listed.stdout)) > len(titles)  # some did fold


def test_listed_items_stay_on_one_line_each(duban: Duban) -> None:
    added = duban(
        "assign", "--year", "2022", "--category", "人大建议", "--number", "1",
        "--commitment", "第一项", "--lead", "市民政局", "--title", "关于\t标识的\r\n建议",
        "--new-unit",
    )  # fmt: skip
    assert added.exit_code == 0, added.output

    listed = duban("list", "--as-of", "2022-06-15")

    assert listed_rows(listed.stdout) == [
        ["1", "2022", "人大建议", "1", "关于 标识的  建议", "市民政局", "待签收", "市民政局"]
    ]


# --- chase --dry-run --------------------------------------------------------------------------


def test_chase_dry_run_lists_units_and_counts_and_sends_nothing(
    duban: Duban, seed: Path, tmp_path: Path, engine: Engine
) -> None:
    # Always --at 09:30: outside office hours the ladder holds every reminder.
    nothing = duban("chase", "--as-of", "2022-06-15", "--at", "09:30", "--dry-run")
    assert nothing.exit_code == 0
    assert "As of 2022-06-15 no reminder is due." in nothing.stdout

    load_demo(duban, seed)
    assert assign_0900(duban).exit_code == 0
    opinion = duban(
        "update", "--number", "0900", "--unit", "市卫生健康委", "--text", "同意，培训完成",
        "--final", "--date", "2022-06-01",
    )  # fmt: skip
    assert opinion.exit_code == 0
    # A co unit's final report is its written opinion: the item is not resolved by it.
    assert "Recorded final from 市卫生健康委 on item 12 (item is 待签收)." in opinion.stdout

    plan = duban("chase", "--as-of", "2022-06-15", "--at", "09:30", "--dry-run")

    assert plan.exit_code == 0, plan.output
    assert plan.stdout == duban("plan", "--as-of", "2022-06-15", "--at", "09:30").stdout
    digests = plan_digests(plan.stdout)
    # As of mid-June the table's feedback (dated 2022-11-01) is not yet in: every unit on the
    # table owes progress on each of its items, plus the new item's lead (its reply) and the
    # silent co unit (its opinion); 市卫生健康委 gave its opinion and owes nothing on it.
    assert {
        unit: (audience, to, len(lines)) for unit, (audience, to, lines) in digests.items()
    } == {
        "市人力资源社会保障局": ("liaison", "rsj-duban@example.org", 4),
        "市卫生健康委": ("liaison", "wjw-duban@example.org", 4),
        "市发展改革委": ("liaison", "fgw-duban@example.org", 3),
        "市工业和信息化局": ("liaison", "gxj-duban@example.org", 1),
        "市教育局": ("liaison", "jyj-duban@example.org", 3),
        "市民政局": ("liaison", "mzj-duban@example.org", 12),
        "市财政局": ("liaison", "czj-duban@example.org", 1),
    }
    assert list(digests) == sorted(digests)
    civil, education, health = (digests[u][2] for u in ("市民政局", "市教育局", "市卫生健康委"))
    # Nothing reported since 1 January: progress was due 30 days later, 2022-01-31, moved past
    # the Spring Festival holiday; 89 working days late, the 29th overdue reminder (every 3).
    assert civil[0] == (
        "item 1 (人大建议 730): 报送落实进展, due 2022-02-07 [overdue-29, 89 working days late]"
    )
    # Assigned 2022-03-01: the reply is due 3 months later, the co units' opinion 1 month later.
    assert civil[-1] == (
        "item 12 (政协提案 0900): 答复代表委员, due 2022-06-01 [overdue-3, 9 working days late]"
    )
    assert education[-1] == (
        "item 12 (政协提案 0900): 向主办单位提交协办意见, due 2022-04-01 "
        "[overdue-16, 50 working days late]"
    )
    assert not any(line.startswith("item 12 ") for line in health)
    assert plan.stdout.splitlines()[-1] == "7 digests to send, 0 reminders held, 0 skipped."
    assert count(engine, Notification) == 0
    assert count(engine, ReminderLog) == 0
    outbox = tmp_path / "state" / "outbox"
    assert not outbox.exists() or list(outbox.iterdir()) == []

    early = duban("chase", "--as-of", "2022-06-15", "--at", "08:30", "--dry-run")
    assert early.exit_code == 0, early.output
    assert plan_digests(early.stdout) == {}
    assert early.stdout.splitlines()[-1] == "0 digests to send, 28 reminders held, 0 skipped."
    assert (
        "held 市民政局: item 12 (政协提案 0900): 答复代表委员, due 2022-06-01 "
        "[overdue-3, 9 working days late] — held: 08:30 is outside office hours (09:00–17:30); "
        "it goes out with the first run after 2022-06-15 09:00"
    ) in early.stdout.splitlines()

    after_the_feedback = duban("chase", "--as-of", "2022-11-15", "--at", "09:30", "--dry-run")
    assert plan_digests(after_the_feedback.stdout) == {
        "市教育局": (
            "liaison",
            "jyj-duban@example.org",
            [
                "item 12 (政协提案 0900): 向主办单位提交协办意见, due 2022-04-01 "
                "[overdue-51, 155 working days late]"
            ],
        ),
        "市民政局": (
            "liaison",
            "mzj-duban@example.org",
            [
                "item 12 (政协提案 0900): 答复代表委员, due 2022-06-01 "
                "[overdue-38, 114 working days late]"
            ],
        ),
    }
    assert count(engine, Notification) == 0


def test_read_only_commands_refuse_a_database_that_does_not_exist(
    duban_sqlite: Duban, tmp_path: Path
) -> None:
    database = tmp_path / "state" / "duban.db"
    for args in [
        ("list",),
        ("show", "--item", "1"),
        ("units", "list"),
        ("units", "check"),
        ("plan",),
        ("chase", "--dry-run"),
        ("explain", "--item", "1"),
        ("why", "市民政局"),
    ]:
        result = duban_sqlite(*args)
        assert result.exit_code == 1, (args, result.output)
        assert f"error: no database at {database}: import a table first" in result.stderr, args
    assert not database.exists()  # rather than an empty one created to show nothing


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DUBAN_SMTP_PORT", "abc", "DUBAN_SMTP_PORT: Input should be a valid integer"),
        (
            "DUBAN_TIMEZONE",
            "Mars/Base",
            "DUBAN_TIMEZONE: not a known time zone (e.g. Asia/Shanghai)",
        ),
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
        ["jobs"],
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
    assert seen == {"import": [], "list": [], "show": [], "chase": [], "jobs": []}
    assert (tmp_path / "duban.db").exists()  # the commands really ran on the database
