"""The workflow commands through the real command line: each step, and what plan/why/explain say."""

from pathlib import Path

import pytest
from cli_runner import Duban
from test_cli import load_demo


def new_item(duban: Duban) -> None:
    result = duban(
        "assign", "--year", "2023", "--category", "政协提案", "--number", "101",
        "--title", "关于社区食堂的提案", "--commitment", "建成10个社区食堂",
        "--lead", "市民政局", "--co", "市卫生健康委", "--assigned-on", "2023-02-15",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.fixture
def ready(duban: Duban, seed: Path) -> Duban:
    load_demo(duban, seed)
    new_item(duban)
    return duban


def test_the_steps_move_the_item_and_plan_explains_the_reminders(ready: Duban) -> None:
    duban = ready
    explained = duban("explain", "--number", "101", "--as-of", "2023-02-20")
    assert explained.exit_code == 0, explained.output
    out = explained.stdout
    assert "Objection window (退回): 2023-02-22" in out
    assert "Reply (答复): 2023-05-15" in out
    assert "市卫生健康委 owes 向主办单位提交协办意见 by 2023-03-15" in out

    plan = duban("plan", "--as-of", "2023-03-08", "--at", "09:30")
    assert plan.exit_code == 0, plan.output
    assert "市卫生健康委 (liaison) → wjw-duban@example.org" in plan.stdout
    assert (
        "item 12 (政协提案 101): 向主办单位提交协办意见, due 2023-03-15 [before-5]" in plan.stdout
    )

    held = duban("plan", "--as-of", "2023-03-08", "--at", "07:00")
    assert "held 市卫生健康委: item 12 (政协提案 101): 向主办单位提交协办意见" in held.stdout
    assert (
        "07:00 is outside office hours (09:00–17:30); "
        "it goes out with the first run after 2023-03-08 09:00" in (held.stdout)
    )

    late = duban("return", "--number", "101", "--unit", "市卫生健康委", "--reason", "非本单位职责",
                 "--date", "2023-02-23")  # fmt: skip
    assert late.exit_code == 1
    assert "the window to return item 12 closed on 2023-02-22" in late.stderr

    steps = [
        ("sign", "--number", "101", "--unit", "市民政局"),
        ("extend", "--number", "101", "--months", "1", "--reason", "需多部门论证",
         "--approved-by", "市政府办公厅", "--approved-on", "2023-05-05"),
        ("reply", "--number", "101", "--unit", "市民政局", "--class", "B", "--text", "列入计划",
         "--date", "2023-06-09"),
        ("rate", "不满意", "--number", "101", "--date", "2023-06-20"),
    ]  # fmt: skip
    for step in steps:
        result = duban(*step)
        assert result.exit_code == 0, (step, result.output)
    shown = duban("show", "--number", "101").stdout
    assert "Item 12 · 2023 政协提案 101 · 重新办理" in shown
    assert "答复类别: B" in shown and "满意度: 不满意" in shown
    explained = duban("explain", "--number", "101", "--as-of", "2023-06-21").stdout
    assert "Reply (答复): 2023-06-15" in explained
    assert "baseline before extensions: 2023-05-15" in explained
    assert "市民政局 owes 重新办理并再次答复 by 2023-07-20" in explained

    bad_class = duban("reply", "--number", "101", "--unit", "市民政局", "--class", "E",
                      "--text", "x")  # fmt: skip
    assert bad_class.exit_code == 2
    assert "'E' is not a class of the ABCD scheme (A, B, C, D)" in bad_class.output


def test_pause_snooze_and_why(ready: Duban) -> None:
    duban = ready
    assert duban("pause", "--reason", "系统维护").exit_code == 0
    plan = duban("plan", "--as-of", "2023-03-08", "--at", "09:30").stdout
    assert "skipped 市卫生健康委" in plan and "reminders are paused by cli: 系统维护" in plan
    assert duban("resume").exit_code == 0
    snoozed = duban("snooze", "市卫健委", "--until", "2023-03-10", "--reason", "机构调整")
    assert snoozed.exit_code == 0, snoozed.output
    assert "市卫生健康委: snoozed until 2023-03-10." in snoozed.stdout
    plan = duban("plan", "--as-of", "2023-03-08", "--at", "09:30").stdout
    assert "市卫生健康委 is snoozed until 2023-03-10: 机构调整" in plan
    assert duban("snooze", "市卫生健康委", "--lift").exit_code == 0

    chased = duban("chase", "--as-of", "2022-06-15", "--at", "09:30", "--dry-run")
    assert "7 digests to send" in chased.stdout
    nothing = duban("why", "市财政局")
    assert "No reminder has been decided for 市财政局 yet." in nothing.stdout
    unknown = duban("why", "市财政")
    assert unknown.exit_code == 1 and "did you mean 市财政局" in unknown.stderr


def test_assign_refuses_a_misspelt_unit_and_a_duplicate_item(ready: Duban) -> None:
    duban = ready
    typo = duban(
        "assign", "--year", "2023", "--category", "政协提案", "--number", "102",
        "--title", "t", "--commitment", "c", "--lead", "市民证局",
    )  # fmt: skip
    assert typo.exit_code == 1
    assert "no unit named '市民证局' (did you mean 市民政局" in typo.stderr
    again = duban(
        "assign", "--year", "2023", "--category", "政协提案", "--number", "101",
        "--commitment", "建成10个社区食堂", "--lead", "市民政局",
    )  # fmt: skip
    assert again.exit_code == 1
    assert "2023 政协提案 101 already has this follow-up item (item 12)" in again.stderr


def test_show_lists_each_units_moves_with_who_and_why(ready: Duban) -> None:
    duban = ready
    returned = duban("return", "--number", "101", "--unit", "市卫生健康委", "--reason",
                     "不属于本单位职责", "--date", "2023-02-20", "--by", "王联络")  # fmt: skip
    assert returned.exit_code == 0, returned.output
    shown = duban("show", "--number", "101").stdout
    assert "王联络  assignment.status: 不属于本单位职责" in shown
