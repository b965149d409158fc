"""The handling workflow: legal moves with events that say who and why; illegal ones refused."""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from config.policy import Policy
from tracking.db import transaction
from tracking.deadlines import objection_deadline
from tracking.errors import ConflictError, InputError
from tracking.handling import (
    extend_deadline,
    object_to_assignment,
    rate_reply,
    reassign,
    record_reply,
    sign_for,
)
from tracking.items import NewItem, assign_item, find_unit
from tracking.models import (
    Assignment,
    AssignmentStatus,
    Event,
    FollowUpItem,
    ItemStatus,
    UpdateKind,
    UpdateSource,
)
from tracking.units import UnitDirectory
from tracking.updates import record_update
from tracking.workdays import WorkCalendar

NOW = datetime(2023, 2, 15, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
POLICY = Policy()
CALENDAR = WorkCalendar()


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
                co_units=("市卫生健康委",),
                assigned_on=date(2023, 2, 15),
                title="关于社区食堂的提案",
            ),
            now=NOW,
            actor="coordinator",
        )
        return item.id  # type: ignore[return-value]


def status_events(session: Session, item_id: int) -> list[tuple[str, str, str, str]]:
    return [
        (e.before["status"], e.after["status"], e.actor, e.reason)  # type: ignore[index]
        for e in session.exec(
            select(Event)
            .where(Event.entity_id == item_id, Event.action == "item.status")
            .order_by(Event.id)
        )
    ]


def test_sign_reply_rate_reopen_reply_follow_up(engine: Engine, item_id: int) -> None:
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        home = find_unit(session, "市民政局")
        sign_for(session, item, home, now=NOW, actor="李联络")
        record_reply(
            session, item, home, text="已答复", reply_class="A", follows_up=False,
            on=date(2023, 4, 1), source=UpdateSource.CLI, now=NOW, actor="李联络",
        )  # fmt: skip
        rate_reply(
            session, item, rating="不满意", reopens=True, on=date(2023, 4, 10), now=NOW,
            actor="代表联络处",
        )  # fmt: skip
        record_reply(
            session, item, home, text="再次答复", reply_class="B", follows_up=True,
            on=date(2023, 5, 5), source=UpdateSource.CLI, now=NOW, actor="李联络",
        )  # fmt: skip
        assert item.status == ItemStatus.FOLLOWING
        assert (item.reply_class, item.replied_on, item.rating) == ("B", date(2023, 5, 5), None)
        assert status_events(session, item_id) == [
            ("assigned", "handling", "李联络", "主办单位签收"),
            ("handling", "replied", "李联络", "replied, class A"),
            ("replied", "reopened", "代表联络处", "rated 不满意"),
            ("reopened", "replied", "李联络", "replied, class B"),
            ("replied", "following", "李联络", "class B stays under follow-up"),
        ]


def test_an_illegal_move_is_refused_with_the_allowed_ones(engine: Engine, item_id: int) -> None:
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        with pytest.raises(ConflictError) as caught:
            rate_reply(session, item, rating="满意", reopens=False, on=date(2023, 3, 1), now=NOW,
                       actor="x")  # fmt: skip
        assert str(caught.value) == f"item {item_id} has no reply to rate yet"
        record_update(
            session, item=item, unit=find_unit(session, "市民政局"), text="办结",
            kind=UpdateKind.FINAL, reported_on=date(2023, 3, 1), source=UpdateSource.CLI,
            reported_by="x", now=NOW,
        )  # fmt: skip
        with pytest.raises(ConflictError) as caught:
            sign_for(session, item, find_unit(session, "市卫生健康委"), now=NOW, actor="x")
        assert str(caught.value) == f"市卫生健康委 has already signed for item {item_id}"
        with pytest.raises(ConflictError) as caught:
            record_reply(
                session, item, find_unit(session, "市民政局"), text="x", reply_class="A",
                follows_up=False, on=date(2023, 3, 2), source=UpdateSource.CLI, now=NOW,
                actor="x",
            )  # fmt: skip
        assert str(caught.value) == f"item {item_id} is resolved; it needs no reply"


def test_returning_within_the_window_then_reassigning(engine: Engine, item_id: int) -> None:
    window = objection_deadline(date(2023, 2, 15), POLICY.deadlines, CALENDAR).due
    assert window == date(2023, 2, 22)  # 5 working days after Wednesday 02-15
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        home, health = find_unit(session, "市民政局"), find_unit(session, "市卫生健康委")
        with pytest.raises(ConflictError, match=r"window to return item \d+ closed on 2023-02-22"):
            object_to_assignment(
                session, item, home, on=date(2023, 2, 23), reason="不属于本单位职责",
                window_ends=window, override=False, now=NOW, actor="x",
            )  # fmt: skip
        object_to_assignment(
            session, item, home, on=date(2023, 2, 20), reason="不属于本单位职责",
            window_ends=window, override=False, now=NOW, actor="市民政局",
        )  # fmt: skip
        assert item.status == ItemStatus.RETURNED
        with pytest.raises(ConflictError, match="市民政局 returned item"):
            record_update(
                session, item=item, unit=home, text="x", kind=UpdateKind.PROGRESS,
                reported_on=date(2023, 2, 21), source=UpdateSource.CLI, reported_by="x", now=NOW,
            )  # fmt: skip
        with pytest.raises(ConflictError, match="already assigned"):
            reassign(
                session, item, from_unit=home, to_unit=health, on=date(2023, 2, 24),
                reason="调整", override=False, now=NOW, actor="coordinator",
            )  # fmt: skip
        civil, _ = UnitDirectory(session).get_or_create("市城乡建设局", now=NOW, actor="x")
        new = reassign(
            session, item, from_unit=home, to_unit=civil, on=date(2023, 2, 24),
            reason="调整至住建部门", override=False, now=NOW, actor="coordinator",
        )  # fmt: skip
        assert (new.role, new.status) == ("lead", AssignmentStatus.ASSIGNED)
        assert (item.status, item.assigned_on) == (ItemStatus.ASSIGNED, date(2023, 2, 24))
        old = session.exec(
            select(Assignment).where(Assignment.item_id == item_id, Assignment.unit_id == home.id)
        ).one()
        assert old.status == AssignmentStatus.REASSIGNED


def test_extensions_need_reason_and_approver_and_stay_within_the_cap(
    engine: Engine, item_id: int
) -> None:
    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)

        def extend(months: int, reason: str = "论证", approver: str = "办公厅"):  # type: ignore[no-untyped-def]
            return extend_deadline(
                session, item, months=months, reason=reason, approved_by=approver,
                approved_on=date(2023, 5, 1), cap_months=3, now=NOW, actor="coordinator",
            )  # fmt: skip

        with pytest.raises(InputError, match="needs a reason"):
            extend(1, reason=" ")
        with pytest.raises(InputError, match="needs its approver"):
            extend(1, approver="")
        extend(2)
        with pytest.raises(ConflictError, match="already has 2 month"):
            extend(2)
        extend(1)


def test_an_extension_before_a_reassignment_does_not_stop_the_chase(
    engine: Engine, item_id: int
) -> None:
    from tracking.chase import collect_obligations

    with transaction(engine) as session:
        item = session.get(FollowUpItem, item_id)
        home = find_unit(session, "市民政局")
        extend_deadline(
            session, item, months=1, reason="论证", approved_by="办公厅",
            approved_on=date(2023, 5, 5), cap_months=3, now=NOW, actor="coordinator",
        )  # fmt: skip
        other, _ = UnitDirectory(session).get_or_create("市城乡建设局", now=NOW, actor="x")
        reassign(
            session, item, from_unit=home, to_unit=other, on=date(2023, 6, 1), reason="调整",
            override=True, now=NOW, actor="coordinator",
        )  # fmt: skip
        problems: list[str] = []
        found = collect_obligations(
            session, as_of=date(2023, 6, 2), policy=POLICY, calendar=CALENDAR,
            interval_days=30, problems=problems,
        )  # fmt: skip
    assert problems == []
    reply = [o for o in found if o.obligation == "reply"]
    assert [(o.unit_name, o.deadline.due) for o in reply] == [("市城乡建设局", date(2023, 9, 1))]


def test_reimporting_the_table_keeps_a_reassignment_and_the_coordinators_text(
    engine: Engine, seed: Path, tmp_path: Path
) -> None:
    from tracking.importer import import_table
    from tracking.items import ItemRef, find_item, set_final_text

    import_table(engine, seed, year=2022, reported_on=date(2022, 1, 1), now=NOW,
                 include_feedback=False)  # fmt: skip
    with transaction(engine) as session:
        item = find_item(session, ItemRef(number="152"))
        health = find_unit(session, "市卫生健康委")
        other, _ = UnitDirectory(session).get_or_create("市医保局", now=NOW, actor="x")
        reassign(
            session, item, from_unit=health, to_unit=other, on=date(2022, 3, 1), reason="调整",
            override=True, now=NOW, actor="coordinator",
        )  # fmt: skip
        set_final_text(session, item, "协调员审定的落实情况", now=NOW, actor="c", reason="审定")

    # A compiled table carries the coordinator's text in 落实情况反馈; the original names the
    # old co unit. Neither must undo what was done since.
    lines = seed.read_text(encoding="utf-8").split("\n")
    row = next(i for i, line in enumerate(lines) if "\t152\t" in line)
    cells = lines[row].split("\t")
    cells[10] = "协调员审定的落实情况"
    lines[row] = "\t".join(cells)
    copy = tmp_path / "compiled-2022.txt"
    copy.write_text("\n".join(lines), encoding="utf-8")
    report = import_table(engine, copy, year=2022, reported_on=date(2022, 11, 1), now=NOW)

    with transaction(engine) as session:
        item = find_item(session, ItemRef(number="152"))
        units = {
            find_unit_by_id(session, a.unit_id): a.status
            for a in session.exec(select(Assignment).where(Assignment.item_id == item.id))
        }
        assert item.status == ItemStatus.FOLLOWING  # the coordinator's text closed nothing
    assert units["市医保局"] == AssignmentStatus.ASSIGNED
    assert units["市卫生健康委"] == AssignmentStatus.REASSIGNED
    from tracking.compile import summary_rows

    with transaction(engine) as session:
        row = next(r for r in summary_rows(session, year=2022) if r.number == "152")
    assert row.co_units == ("市医保局",)  # the table names who handles the item now
    assert row.feedback == "协调员审定的落实情况"
    assert any("市医保局 is assigned (assigned) but not named in the table" in w
               for w in report.warnings)  # fmt: skip


def find_unit_by_id(session: Session, unit_id: int) -> str:
    from tracking.models import Unit

    return session.get(Unit, unit_id).name  # type: ignore[union-attr]
