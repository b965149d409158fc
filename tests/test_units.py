"""Units: the units file, matching names and aliases, and which units lack a contact."""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from tracking.db import transaction
from tracking.errors import InputError
from tracking.importer import ImportReport, import_table
from tracking.models import Assignment, Event, FollowUpItem, Proposal, Unit
from tracking.units import (
    UnitDirectory,
    UnitsLoadReport,
    load_units,
    read_units_file,
    units_without_contact,
)

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2022, 11, 1, 9, 0, tzinfo=ZONE)
UNITS = Path(__file__).resolve().parent.parent / "config" / "demo" / "units.toml"
LEAD, CO = 8, 9  # the seed's 主办单位 and 协办单位 columns
# What config/demo/units.toml says, unit by unit.
CONTACTS = {
    "市民政局": (["沈阳市民政局"], ["mzj-duban@example.org"]),
    "市发展改革委": (["市发改委", "市发展和改革委员会"], ["fgw-duban@example.org"]),
    "市卫生健康委": (["市卫健委"], ["wjw-duban@example.org"]),
    "市人力资源社会保障局": (["市人社局"], ["rsj-duban@example.org"]),
    "市教育局": ([], ["jyj-duban@example.org"]),
    "市工业和信息化局": (["市工信局"], ["gxj-duban@example.org"]),
    "市财政局": ([], ["czj-duban@example.org"]),
}


def import_seed(engine: Engine, path: Path) -> ImportReport:
    return import_table(
        engine, path, year=2022, reported_on=date(2022, 10, 31), now=NOW, actor="test"
    )


def load(engine: Engine, path: Path = UNITS) -> UnitsLoadReport:
    entries = read_units_file(path)
    with transaction(engine) as session:
        return load_units(session, entries, now=NOW, actor="test")


def units_by_name(engine: Engine) -> dict[str, Unit]:
    with transaction(engine) as session:
        return {unit.name: unit for unit in session.exec(select(Unit))}


def event_count(engine: Engine) -> int:
    with transaction(engine) as session:
        return session.exec(select(func.count()).select_from(Event)).one()


def write_units(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "units.toml"
    path.write_text(text, encoding="utf-8")
    return path


def seed_copy(seed: Path, tmp_path: Path, changes: dict[tuple[int, int], str]) -> Path:
    """A copy of the seed with the cells at (physical line, 1-based column) replaced."""
    lines = [line.split("\t") for line in seed.read_text(encoding="utf-8").split("\n")]
    for (line, column), value in changes.items():
        lines[line - 1][column - 1] = value
    path = tmp_path / "copy.txt"
    path.write_text("\n".join("\t".join(cells) for cells in lines), encoding="utf-8")
    return path


def units_of(engine: Engine, number: str) -> dict[str, str]:
    """The units assigned to proposal ``number``'s item, with their role."""
    with transaction(engine) as session:
        rows = session.exec(
            select(Unit.name, Assignment.role)
            .join(Assignment, Assignment.unit_id == Unit.id)
            .join(FollowUpItem, FollowUpItem.id == Assignment.item_id)
            .join(Proposal, Proposal.id == FollowUpItem.proposal_id)
            .where(Proposal.number == number)
        )
        return dict(rows.all())


# --- loading -------------------------------------------------------------------------------


def test_units_file_gives_contacts_to_the_units_the_import_created(
    engine: Engine, seed: Path
) -> None:
    import_seed(engine, seed)
    created = units_by_name(engine)

    report = load(engine)

    assert report == UnitsLoadReport(created=0, updated=7, unchanged=0)
    loaded = units_by_name(engine)
    assert {name: (unit.aliases, unit.emails) for name, unit in loaded.items()} == CONTACTS
    assert {name: unit.id for name, unit in loaded.items()} == {
        name: unit.id for name, unit in created.items()
    }


def test_loading_into_an_empty_database_creates_the_units(engine: Engine) -> None:
    report = load(engine)

    assert report == UnitsLoadReport(created=7, updated=0, unchanged=0)
    assert set(units_by_name(engine)) == set(CONTACTS)


def test_reloading_changes_nothing(engine: Engine, seed: Path) -> None:
    import_seed(engine, seed)
    load(engine)
    events = event_count(engine)

    again = load(engine)

    assert again == UnitsLoadReport(created=0, updated=0, unchanged=7)
    assert event_count(engine) == events
    assert len(units_by_name(engine)) == 7


def test_a_change_in_the_file_updates_the_unit_with_an_event(
    engine: Engine, tmp_path: Path
) -> None:
    load(engine)
    last = event_count(engine)
    text = UNITS.read_text(encoding="utf-8").replace("czj-duban@example.org", "czj@example.org")

    report = load(engine, write_units(tmp_path, text))

    assert report == UnitsLoadReport(created=0, updated=1, unchanged=6)
    assert units_by_name(engine)["市财政局"].emails == ["czj@example.org"]
    with transaction(engine) as session:
        event = session.exec(select(Event).order_by(Event.id.desc())).first()  # type: ignore[union-attr]
    assert event_count(engine) == last + 1
    assert event is not None
    assert event.action == "unit.update"
    assert event.before is not None and event.after is not None
    assert (event.before["emails"], event.after["emails"]) == (
        ["czj-duban@example.org"],
        ["czj@example.org"],
    )


def test_a_unit_the_table_named_only_by_an_alias_is_renamed_in_place(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "alias-only.txt"
    copy.write_text(
        seed.read_text(encoding="utf-8").replace("市卫生健康委", "市卫健委"), encoding="utf-8"
    )
    import_seed(engine, copy)
    by_alias = units_by_name(engine)["市卫健委"]

    report = load(engine)

    assert report == UnitsLoadReport(created=0, updated=7, unchanged=0)
    units = units_by_name(engine)
    assert set(units) == set(CONTACTS)
    assert units["市卫生健康委"].id == by_alias.id
    assert units["市卫生健康委"].emails == ["wjw-duban@example.org"]
    assert units_of(engine, "152") == {"市民政局": "lead", "市卫生健康委": "co"}


def test_a_table_naming_a_unit_both_ways_leaves_one_unit_after_loading(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    import_seed(engine, seed_copy(seed, tmp_path, {(7, CO): "市卫健委"}))

    load(engine)

    assert set(units_by_name(engine)) == set(CONTACTS)
    assert units_of(engine, "152") == {"市民政局": "lead", "市卫生健康委": "co"}


# --- aliases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "unit"),
    [
        ("市卫健委", "市卫生健康委"),
        ("市 卫 健 委", "市卫生健康委"),
        ("　市卫健委\t", "市卫生健康委"),
        ("沈阳 市民政局", "市民政局"),
        ("市发展和改革委员会", "市发展改革委"),
        ("市 财政局", "市财政局"),
    ],
)
def test_directory_finds_names_and_aliases_ignoring_white_space(
    engine: Engine, written: str, unit: str
) -> None:
    load(engine)

    with transaction(engine) as session:
        found = UnitDirectory(session).find(written)
        missing = UnitDirectory(session).find("市卫健")

    assert found is not None
    assert found.name == unit
    assert missing is None


def test_a_table_naming_aliases_resolves_to_the_loaded_units(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    import_seed(engine, seed)
    load(engine)
    copy = seed_copy(
        seed,
        tmp_path,
        {
            (6, CO): "市发改委 市卫健委 市人社局",
            (7, CO): "市卫健委",
            (9, CO): "市发展和改革委员会、市工信局",
            (12, LEAD): "沈阳 市民政局",
            (15, LEAD): "市 民 政 局",
        },
    )

    report = import_seed(engine, copy)

    assert report.units_created == 0
    assert not report.changed
    assert len(units_by_name(engine)) == 7
    assert units_of(engine, "730") == {
        "市民政局": "lead",
        "市发展改革委": "co",
        "市卫生健康委": "co",
        "市人力资源社会保障局": "co",
    }
    assert units_of(engine, "217") == {
        "市民政局": "lead",
        "市发展改革委": "co",
        "市工业和信息化局": "co",
    }
    assert units_of(engine, "271") == {"市民政局": "lead"}


# --- the units check -----------------------------------------------------------------------


def test_units_check_lists_the_units_without_an_email(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    import_seed(engine, seed)
    load(
        engine,
        write_units(
            tmp_path,
            '[[unit]]\nname = "市民政局"\nemails = ["mzj@example.org"]\n\n'
            '[[unit]]\nname = "市财政局"\nemails = ["czj@example.org"]\n',
        ),
    )

    with transaction(engine) as session:
        missing = [unit.name for unit in units_without_contact(session)]

    assert sorted(missing) == sorted(set(CONTACTS) - {"市民政局", "市财政局"})
    assert len(missing) == 5


def test_units_check_is_empty_once_every_unit_has_an_email(engine: Engine, seed: Path) -> None:
    import_seed(engine, seed)
    with transaction(engine) as session:
        assert len(units_without_contact(session)) == 7

    load(engine)

    with transaction(engine) as session:
        assert units_without_contact(session) == []


# --- problems in the units file ------------------------------------------------------------

GOOD = '[[unit]]\nname = "市发展改革委"\naliases = ["市发改委"]\nemails = ["fgw@example.org"]\n\n'


@pytest.mark.parametrize(
    ("second_unit", "problem"),
    [
        (
            'name = "市财政局"\nemails = ["czj.example.org"]',
            "unit[2].emails: 'czj.example.org' is not an e-mail address",
        ),
        ('aliases = ["市财政"]\nemails = ["czj@example.org"]', "unit[2].name: Field required"),
        ('name = "  "', "unit[2].name: String should have at least 1 character"),
        (
            'name = "市财政局"\naliases = ["市 发改委"]',
            "unit[2].aliases: '市 发改委' is already used by unit[1]",
        ),
        ('name = "市发展改革委"', "unit[2].name: '市发展改革委' is already used by unit[1]"),
        (
            'name = "市财政局"\nemail = "czj@example.org"',
            "unit[2].email: Extra inputs are not permitted",
        ),
        ('name = "市财政局"\naliases = "市财政"', "unit[2].aliases: Input should be a valid list"),
    ],
    ids=["bad-email", "no-name", "blank-name", "dup-alias", "dup-name", "unknown-key", "not-list"],
)
def test_a_problem_names_the_file_unit_and_field(
    tmp_path: Path, second_unit: str, problem: str
) -> None:
    path = write_units(tmp_path, f"{GOOD}[[unit]]\n{second_unit}\n")

    with pytest.raises(InputError) as caught:
        read_units_file(path)

    assert caught.value.problems == [f"{path}: {problem}"]
    assert str(caught.value).splitlines() == [
        f"{path}: 1 problem(s); nothing was loaded",
        f"  {path}: {problem}",
    ]


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = write_units(
        tmp_path,
        '[[unit]]\nname = "市民政局"\nemails = ["x"]\n\n[[unit]]\nemails = []\n\n'
        '[[unit]]\nname = "市教育局"\nmail = "jyj@example.org"\n',
    )

    with pytest.raises(InputError) as caught:
        read_units_file(path)

    assert caught.value.problems == [
        f"{path}: unit[1].emails: 'x' is not an e-mail address",
        f"{path}: unit[2].name: Field required",
        f"{path}: unit[3].mail: Extra inputs are not permitted",
    ]


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = write_units(tmp_path, '[[unit]\nname = "市民政局"\n')

    with pytest.raises(InputError) as caught:
        read_units_file(path)

    assert str(caught.value).startswith(f"{path}: not valid TOML: ")
    assert "line 1" in str(caught.value)


def test_an_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    path = write_units(tmp_path, '[[units]]\nname = "市民政局"\n')

    with pytest.raises(InputError) as caught:
        read_units_file(path)

    assert str(caught.value) == f"{path}: unknown top-level keys ['units']; expected [[unit]]"


def test_a_missing_units_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(InputError) as caught:
        read_units_file(path)

    assert str(caught.value).startswith(f"{path}: cannot read the units file")


def test_a_bad_file_loads_nothing(engine: Engine, seed: Path, tmp_path: Path) -> None:
    import_seed(engine, seed)
    text = UNITS.read_text(encoding="utf-8") + '\n[[unit]]\nname = "市民政局"\n'
    events = event_count(engine)

    with pytest.raises(InputError):
        load(engine, write_units(tmp_path, text))

    assert event_count(engine) == events
    assert [unit.emails for unit in units_by_name(engine).values()] == [[]] * 7
