"""The policy file: the shipped defaults, and every kind of mistake named by file and key."""

from collections.abc import Callable
from datetime import date, time
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.policy import DEFAULT_POLICY_FILE, ClassScheme, Policy, load_policy
from config.settings import ConfigError

Writer = Callable[[str], Path]


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Writer:
    monkeypatch.chdir(tmp_path)  # errors then name the file as "policy.toml"

    def write(text: str) -> Path:
        path = tmp_path / "policy.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    return str(caught.value)


def test_the_shipped_policy_loads_and_equals_the_defaults() -> None:
    assert DEFAULT_POLICY_FILE.name == "policy.toml"
    assert DEFAULT_POLICY_FILE.parent.name == "config"
    policy = load_policy()
    assert policy == Policy()
    deadlines = policy.deadlines
    assert (deadlines.reply_months, deadlines.extension_max_months) == (3, 3)
    assert (deadlines.co_opinion_months, deadlines.objection_working_days) == (1, 5)
    assert (deadlines.reopen_ratings, deadlines.reopen_months) == (("不满意",), 1)
    assert (deadlines.second_reply_by, deadlines.year_end_check_by) == ("11-20", "11-20")
    assert deadlines.due_on_non_working_day == "next_workday"
    assert deadlines.batches == ()
    assert policy.reply_classes.codes == ("A", "B", "C", "D")
    assert [c.code for c in policy.reply_classes.classes if c.follow_up] == ["B", "C"]
    assert policy.reply_classes.get("D").label == "留作参考"
    ladder = policy.ladder
    assert (ladder.before_due_working_days, ladder.on_due_day) == ((5,), True)
    assert ladder.overdue_every_working_days == 3
    assert (ladder.escalate_to_head_after, ladder.escalate_to_coordinator_after) == (2, 4)
    assert (ladder.office_hours_start, ladder.office_hours_end) == (time(9, 0), time(17, 30))
    assert policy.calendar.extra_holidays == policy.calendar.extra_workdays == ()


def test_keys_left_out_take_their_defaults(write: Writer) -> None:
    policy = load_policy(write("[deadlines]\nco_opinion_months = 2\nobjection_working_days = 10\n"))
    assert (policy.deadlines.co_opinion_months, policy.deadlines.objection_working_days) == (2, 10)
    assert policy.deadlines.reply_months == 3
    assert policy.ladder == Policy().ladder


def test_a_locality_policy_with_batches_a_scheme_and_corrections(write: Writer) -> None:
    policy = load_policy(
        write(
            """
[deadlines]
reopen_ratings = ["不满意", "基本满意"]
second_reply_classes = ["乙"]
year_end_check_classes = ["乙", "丙"]

[[deadlines.batches]]
name = "第一批"
assigned_from = 2027-03-01
assigned_to = 2027-03-31
reply_due = 2027-06-30

[reply_classes]
name = "甲乙丙"
classes = [
  { code = "甲", label = "已解决或基本解决" },
  { code = "乙", label = "正在解决或列入计划逐步解决", follow_up = true },
  { code = "丙", label = "因条件限制需待以后解决或留作参考" },
]

[ladder]
before_due_working_days = [5, 10]
office_hours_start = 08:30:00
coordinator_emails = ["duban@example.gov.cn"]

[calendar]
extra_holidays = [2027-01-01]
extra_workdays = [2027-02-20]
"""
        )
    )
    assert policy.deadlines.reopens("基本满意")
    assert policy.deadlines.batch_for(date(2027, 3, 31)) == (1, policy.deadlines.batches[0])
    assert policy.deadlines.batch_for(date(2027, 4, 1)) is None
    assert policy.reply_classes.codes == ("甲", "乙", "丙")
    assert policy.ladder.before_due_working_days == (10, 5)  # earliest stage first
    assert policy.ladder.office_hours_start == time(8, 30)
    assert policy.calendar.extra_holidays == (date(2027, 1, 1),)


def test_the_example_message(write: Writer) -> None:
    path = write("[ladder]\noverdue_every_working_days = 0\n")
    assert error_of(path) == (
        "policy.toml: ladder.overdue_every_working_days: Input should be greater than 0 (got 0)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[ladder]\noverdue_every_workdays = 3\n",
            "policy.toml: ladder.overdue_every_workdays: unknown key "
            "(did you mean overdue_every_working_days?)",
        ),
        (
            "[deadline]\nreply_months = 3\n",
            "policy.toml: deadline: unknown key (did you mean deadlines?)",
        ),
        (
            "[[deadlines.batches]]\nassigned_from = 2027-03-01\nassigned_to = 2027-03-31\n"
            "reply_due = 2027-06-30\nrepy_due = 2027-06-30\n",
            "policy.toml: deadlines.batches[1].repy_due: unknown key (did you mean reply_due?)",
        ),
        (
            '[deadlines]\nreply_months = "three"\n',
            "policy.toml: deadlines.reply_months: Input should be a valid integer",
        ),
        (
            "[deadlines]\nreply_months = 90\n",
            "policy.toml: deadlines.reply_months: Input should be less than or equal to 12 "
            "(got 90)",
        ),
        (
            "[deadlines]\nextension_max_months = -1\n",
            "policy.toml: deadlines.extension_max_months: "
            "Input should be greater than or equal to 0 (got -1)",
        ),
        (
            "[deadlines]\nco_opinion_months = 4\n",
            "policy.toml: deadlines.co_opinion_months: 4 months is later than the reply itself",
        ),
        (
            '[deadlines]\nreopen_ratings = ["不满意", "很不满意"]\n',
            "policy.toml: deadlines.reopen_ratings: unknown rating 很不满意; the ratings are 满意, "
            "基本满意, 不满意 (got ['不满意', '很不满意'])",
        ),
        (
            '[deadlines]\nsecond_reply_by = "11-31"\n',
            "policy.toml: deadlines.second_reply_by: no such day: month 11, day 31",
        ),
        (
            '[deadlines]\nyear_end_check_by = "20 Nov"\n',
            'policy.toml: deadlines.year_end_check_by: must be a month and day written "MM-DD"',
        ),
        (
            '[deadlines]\ndue_on_non_working_day = "next"\n',
            "policy.toml: deadlines.due_on_non_working_day: Input should be 'next_workday', "
            "'previous_workday' or 'keep'",
        ),
        (
            '[reply_classes]\nname = "甲乙丙"\nclasses = [{code = "甲", label = "已解决"}, '
            '{code = "乙", label = "正在解决", follow_up = true}, {code = "丙", label = "参考"}]\n',
            "policy.toml: deadlines.second_reply_classes: unknown class code 'B', 'C' "
            "(scheme 甲乙丙 has 甲, 乙, 丙)",
        ),
        (
            '[deadlines]\nyear_end_check_classes = ["B", "E"]\n',
            "policy.toml: deadlines.year_end_check_classes: unknown class code 'E' "
            "(scheme ABCD has A, B, C, D)",
        ),
        (
            '[reply_classes]\nclasses = [{code = "A", label = "x"}, {code = "A", label = "y"}]\n',
            "policy.toml: reply_classes.classes: class code listed twice: A",
        ),
        (
            '[reply_classes]\nclasses = [{code = "A", label = "x"}, {code = "B"}]\n',
            "policy.toml: reply_classes.classes[2].label: required",
        ),
        (
            '[ladder]\noffice_hours_start = "17:30"\noffice_hours_end = "09:00"\n',
            "policy.toml: ladder.office_hours_start: 17:30 must be before office_hours_end 09:00",
        ),
        (
            "[ladder]\nescalate_to_head_after = 3\nescalate_to_coordinator_after = 2\n",
            "policy.toml: ladder.escalate_to_coordinator_after: "
            "2 is before escalate_to_head_after 3",
        ),
        (
            "[ladder]\nbefore_due_working_days = [5, 0]\n",
            "policy.toml: ladder.before_due_working_days[2]: "
            "Input should be greater than 0 (got 0)",
        ),
        (
            '[ladder]\ncoordinator_emails = ["duban.example.gov.cn"]\n',
            "policy.toml: ladder.coordinator_emails: not an e-mail address: 'duban.example.gov.cn'",
        ),
        (
            "[calendar]\nextra_holidays = [2027-01-01]\nextra_workdays = [2027-01-01]\n",
            "policy.toml: calendar.extra_workdays: 2027-01-01 also listed in extra_holidays",
        ),
        (
            '[calendar]\nextra_holidays = ["2027-02-30"]\n',
            "policy.toml: calendar.extra_holidays[1]: Input should be a valid date",
        ),
        (
            "[[deadlines.batches]]\nassigned_from = 2027-03-01\nassigned_to = 2027-03-31\n"
            "reply_due = 2027-03-20\n",
            "policy.toml: deadlines.batches[1].reply_due: 2027-03-20 must be after assigned_to "
            "2027-03-31",
        ),
        (
            "[[deadlines.batches]]\nassigned_from = 2027-03-01\nassigned_to = 2027-03-31\n"
            "reply_due = 2027-06-30\n"
            "[[deadlines.batches]]\nassigned_from = 2027-03-20\nassigned_to = 2027-04-30\n"
            "reply_due = 2027-07-31\n",
            "policy.toml: deadlines.batches: entries 1 and 2 overlap",
        ),
        ("ladder = 3\n", "policy.toml: ladder: Input should be a valid dictionary"),
    ],
)
def test_a_mistake_names_the_file_and_the_key(write: Writer, text: str, message: str) -> None:
    assert message in error_of(write(text))


def test_every_mistake_is_reported_at_once(write: Writer) -> None:
    lines = error_of(
        write("[deadlines]\nreply_months = 0\nreply_month = 3\n[ladder]\non_due_day = 2\n")
    ).splitlines()
    assert len(lines) == 3
    assert all(line.startswith("policy.toml: ") for line in lines)
    assert {line.split(": ")[1] for line in lines} == {
        "deadlines.reply_months",
        "deadlines.reply_month",
        "ladder.on_due_day",
    }


def test_bad_toml_and_missing_file(write: Writer, tmp_path: Path) -> None:
    message = error_of(write("[deadlines]\nreply_months = \n"))
    assert message.startswith("policy.toml: not valid TOML: ")
    assert "line 2" in message
    assert error_of(tmp_path / "nowhere.toml").startswith(
        "nowhere.toml: cannot read the policy file: No such file or directory"
    )


def test_a_file_outside_the_working_folder_is_named_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    path = tmp_path / "policy.toml"
    path.write_text("[ladder]\noverdue_every_working_days = 0\n", encoding="utf-8")
    assert error_of(path).startswith(f"{path}: ladder.overdue_every_working_days")


def test_the_policy_is_immutable_once_loaded() -> None:
    policy = load_policy()
    with pytest.raises(ValidationError, match="frozen"):
        policy.ladder.on_due_day = False  # type: ignore[misc]


def test_asking_for_an_unknown_class_names_the_scheme() -> None:
    with pytest.raises(KeyError, match=r"no class 'E' in scheme ABCD \(A, B, C, D\)"):
        ClassScheme().get("E")
