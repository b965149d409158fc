"""Two people changing the same record: one succeeds, the other is told, nothing is overwritten."""

import threading
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from tracking.db import transaction
from tracking.errors import ConflictError
from tracking.handling import close_item, extend_deadline, sign_for
from tracking.items import NewItem, assign_item, find_unit
from tracking.models import Assignment, Event, FollowUpItem, ItemStatus, Unit

NOW = datetime(2023, 2, 15, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ITEM = "item {id} (2023 政协提案 88)"
AGAIN = "reload and try again"


@pytest.fixture
def item_id(engine: Engine) -> int:
    with transaction(engine) as session:
        item = assign_item(
            session,
            NewItem(
                create_units=True,
                year=2023,
                category="政协提案",
                number="88",
                commitment="建设社区食堂",
                lead_unit="市民政局",
                assigned_on=date(2023, 2, 15),
                title="关于社区食堂的提案",
            ),
            now=NOW,
            actor="coordinator",
        )
        return item.id  # type: ignore[return-value]


def read(engine: Engine, model: type[SQLModel], item_id: int) -> SQLModel:
    """A copy of the item, its lead's assignment or the lead unit, as a page would show it."""
    with transaction(engine) as session:
        if model is FollowUpItem:
            return session.get(FollowUpItem, item_id)  # type: ignore[return-value]
        assignment = session.exec(select(Assignment).where(Assignment.item_id == item_id)).one()
        return assignment if model is Assignment else session.get(Unit, assignment.unit_id)  # type: ignore[return-value]


CHANGES: dict[type[SQLModel], tuple[str, Callable[[SQLModel, str], None], str]] = {
    FollowUpItem: ("final_text", lambda r, v: setattr(r, "final_text", v), ITEM),
    Assignment: ("status", lambda r, v: setattr(r, "status", v), "市民政局's part of " + ITEM),
    Unit: ("snooze_reason", lambda r, v: setattr(r, "snooze_reason", v), "unit 市民政局"),
}


@pytest.mark.parametrize("model", list(CHANGES), ids=lambda m: m.__name__)
def test_a_change_to_a_stale_copy_is_refused_and_the_first_change_kept(
    engine: Engine, item_id: int, model: type[SQLModel]
) -> None:
    field, change, label = CHANGES[model]
    first, second = read(engine, model, item_id), read(engine, model, item_id)

    with transaction(engine) as session:
        session.add(first)
        change(first, "handling")
    with pytest.raises(ConflictError) as refused, transaction(engine) as session:
        session.add(second)
        change(second, "returned")

    assert str(refused.value) == (
        f"{label.format(id=item_id)} was changed by another user meanwhile; {AGAIN}"
    )
    kept = read(engine, model, item_id)
    assert (getattr(kept, field), kept.version) == ("handling", 2)  # type: ignore[attr-defined]


def test_a_step_on_a_version_the_person_did_not_see_is_refused(
    engine: Engine, item_id: int
) -> None:
    seen = read(engine, FollowUpItem, item_id).version  # type: ignore[attr-defined]
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        sign_for(
            session, item, find_unit(session, "市民政局"), now=NOW, actor="A", expected_version=seen
        )  # type: ignore[arg-type]

    with pytest.raises(ConflictError) as refused, transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        close_item(
            session,
            item,
            on=date(2023, 3, 1),
            reason="done",
            now=NOW,
            actor="B",
            expected_version=seen,
        )  # type: ignore[arg-type]
    assert str(refused.value) == (
        f"{ITEM.format(id=item_id)} was changed by another user meanwhile "
        f"(you saw version 1, it is now at 2); {AGAIN}"
    )
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        assert item is not None and item.status == ItemStatus.HANDLING
        extend_deadline(  # the version the person saw now: accepted
            session,
            item,
            months=1,
            reason="调研",
            approved_by="市政府办公厅",
            approved_on=date(2023, 3, 1),
            cap_months=3,
            now=NOW,
            actor="B",
            expected_version=2,
        )


def race(engine: Engine, item_id: int, *, expected_version: int | None) -> list[str]:
    """Two people close the same item at once; what each got ("closed" or the conflict)."""
    loaded = threading.Barrier(2, timeout=30) if expected_version is None else None
    outcomes: list[str] = []

    def close(actor: str) -> None:
        try:
            with transaction(engine) as session:
                item = session.get(FollowUpItem, item_id)
                if loaded is not None:
                    loaded.wait()  # both have read version 1 before either writes
                close_item(
                    session,
                    item,  # type: ignore[arg-type]
                    on=date(2023, 3, 1),
                    reason=f"closed by {actor}",
                    now=NOW,
                    actor=actor,
                    expected_version=expected_version,
                )
            outcomes.append("closed")
        except ConflictError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=close, args=(actor,)) for actor in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def closing_events(engine: Engine, item_id: int) -> list[str]:
    with transaction(engine) as session:
        events = session.exec(
            select(Event).where(
                Event.entity == "followupitem",
                Event.entity_id == item_id,
                Event.action == "item.status",
            )
        )
        return [event.reason for event in events]


def test_two_transactions_closing_one_item_at_once_one_is_refused(
    engine: Engine, item_id: int
) -> None:
    """PostgreSQL: both read version 1; the second UPDATE waits for the first to commit, then
    matches no row. (SQLite's BEGIN IMMEDIATE lets only one transaction read at a time.)"""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises the transactions: see the expected_version race")
    outcomes = race(engine, item_id, expected_version=None)
    assert outcomes == [
        "closed",
        f"{ITEM.format(id=item_id)} was changed by another user meanwhile; {AGAIN}",
    ]
    assert len(closing_events(engine, item_id)) == 1


def test_two_people_closing_what_they_saw_at_once_one_is_refused(
    engine: Engine, item_id: int
) -> None:
    """Both saw version 1 on a page: on SQLite the second transaction sees version 2 and
    refuses; on PostgreSQL it refuses that way or at its UPDATE."""
    outcomes = race(engine, item_id, expected_version=1)
    assert outcomes[0] == "closed"
    assert outcomes[1].startswith(f"{ITEM.format(id=item_id)} was changed by another user")
    assert len(closing_events(engine, item_id)) == 1


def test_a_second_extension_from_the_same_stale_page_is_refused(
    engine: Engine, item_id: int
) -> None:
    """An extension changes the item's deadline: it moves the item's version like any step."""
    seen = read(engine, FollowUpItem, item_id).version  # type: ignore[attr-defined]

    def extend(by: str) -> None:
        with transaction(engine) as session:
            item = session.get(FollowUpItem, item_id)
            extend_deadline(
                session,
                item,  # type: ignore[arg-type]
                months=1,
                reason="调研需要时间",
                approved_by="局长",
                approved_on=date(2023, 3, 1),
                cap_months=3,
                now=NOW,
                actor=by,
                expected_version=seen,
            )

    extend("A")
    with pytest.raises(ConflictError, match=AGAIN):
        extend("B")
    assert read(engine, FollowUpItem, item_id).version == seen + 1  # type: ignore[attr-defined]
